package reencrypt_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/reencrypt"
	"github.com/keyward/keyward/store"
)

// fillTable creates table t (id bigint, org text, col <colType>) with n
// rows of orgs acme and globex: a third under v1, the rest under v2, in the
// text form for text columns and the binary form for bytea. It returns the
// plaintext of each id.
func fillTable(t *testing.T, pool *pgxpool.Pool, eng *keyward.Engine, table, colType string, n int) map[int64]string {
	t.Helper()
	ctx := t.Context()
	for _, org := range []string{"acme", "globex"} {
		if _, err := eng.CreateOrg(ctx, org); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s (id bigint PRIMARY KEY, org text NOT NULL, col %s)`, table, colType)); err != nil {
		t.Fatal(err)
	}
	want := map[int64]string{}
	ids, orgs := make([]int64, n), make([]string, n)
	vals := make([][]byte, n)
	seal := func(i int) {
		org := []string{"acme", "globex"}[i%2]
		pt := plaintext(i)
		ct, err := eng.Encrypt(ctx, org, []byte(pt), table+".col")
		if err != nil {
			t.Fatal(err)
		}
		if colType == "text" {
			f, _ := reencrypt.ParseField(ct)
			ct = []byte(f)
		}
		ids[i], orgs[i], vals[i] = int64(i+1), org, ct
		want[int64(i+1)] = pt
	}
	for i := range n / 3 {
		seal(i)
	}
	for _, org := range []string{"acme", "globex"} {
		if _, err := eng.RotateDEK(ctx, org); err != nil {
			t.Fatal(err)
		}
	}
	for i := n / 3; i < n; i++ {
		seal(i)
	}
	if colType == "text" {
		s := make([]string, n)
		for i := range vals {
			s[i] = string(vals[i])
		}
		_, err := pool.Exec(ctx, fmt.Sprintf(`INSERT INTO %s SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[])`, table), ids, orgs, s)
		if err != nil {
			t.Fatal(err)
		}
	} else if _, err := pool.Exec(ctx, fmt.Sprintf(`INSERT INTO %s SELECT * FROM unnest($1::bigint[], $2::text[], $3::bytea[])`, table), ids, orgs, vals); err != nil {
		t.Fatal(err)
	}
	// Rotate once more: every row is now behind.
	for _, org := range []string{"acme", "globex"} {
		if _, err := eng.RotateDEK(ctx, org); err != nil {
			t.Fatal(err)
		}
	}
	return want
}

// checkTable decrypts every row and checks its plaintext and version.
func checkTable(t *testing.T, pool *pgxpool.Pool, eng *keyward.Engine, table string, want map[int64]string, active uint32) {
	t.Helper()
	rows, err := pool.Query(t.Context(), fmt.Sprintf(`SELECT id, org, col::text FROM %s ORDER BY id`, table))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var (
			id  int64
			org string
			v   []byte
		)
		if err := rows.Scan(&id, &org, &v); err != nil {
			t.Fatal(err)
		}
		n++
		if v[0] == '\\' { // bytea in hex text form
			v = unhex(t, v)
		}
		pt, err := eng.Decrypt(t.Context(), org, v, table+".col")
		if err != nil {
			t.Fatalf("row %d: %v", id, err)
		}
		if got := string(pt); got != want[id] {
			t.Fatalf("row %d: got %q, want %q", id, got, want[id])
		}
		if got := version(v); got != active {
			t.Fatalf("row %d at version %d, want %d", id, got, active)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != len(want) {
		t.Fatalf("%d rows, want %d", n, len(want))
	}
}

func TestRunTable(t *testing.T) {
	for _, colType := range []string{"text", "bytea"} {
		t.Run(colType, func(t *testing.T) {
			pool, _ := appPool(t)
			eng, st := engine(t)
			want := fillTable(t, pool, eng, "channels", colType, 3000)
			tbl, err := reencrypt.OpenTable(t.Context(), pool, reencrypt.TableSpec{Table: "channels", Column: "col", OrgColumn: "org", IDColumn: "id"})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := tbl.Text(), colType == "text"; got != want {
				t.Fatalf("Text: got %v, want %v", got, want)
			}
			var calls atomic.Int64
			opts := reencrypt.Options{Batch: 200, ChunkRows: 700, Progress: func(store.Job) { calls.Add(1) }}
			sum, err := reencrypt.Run(t.Context(), st, tbl, &reencrypt.Converter{Sealer: eng, Text: tbl.Text()}, opts)
			if err != nil {
				t.Fatal(err)
			}
			j := sum.Job
			if j.State != store.JobDone || j.Total != 3000 || j.Done != 3000 || j.Rewritten != 3000 || j.Failed != 0 {
				t.Fatalf("job: %+v", j)
			}
			if sum.Mine.Done != 3000 || calls.Load() < 15 {
				t.Fatalf("mine %+v, %d progress calls", sum.Mine, calls.Load())
			}
			checkTable(t, pool, eng, "channels", want, 3)

			// A second pass finds every row current and writes nothing.
			sum, err = reencrypt.Run(t.Context(), st, tbl, &reencrypt.Converter{Sealer: eng, Text: tbl.Text()}, opts)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Job.Current != 3000 || sum.Job.Rewritten != 0 || sum.Resumed {
				t.Fatalf("second pass: %+v", sum)
			}
		})
	}
}

// TestConcurrentWriters runs the job while the application keeps writing
// fresh values to random rows: afterwards every row holds the last value the
// application wrote (no lost update), at the active version.
func TestConcurrentWriters(t *testing.T) {
	pool, _ := appPool(t)
	eng, st := engine(t)
	const n = 4000
	want := fillTable(t, pool, eng, "tokens", "text", n)
	tbl, err := reencrypt.OpenTable(t.Context(), pool, reencrypt.TableSpec{Table: "tokens", Column: "col", OrgColumn: "org", IDColumn: "id"})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		stop   = make(chan struct{})
		writes atomic.Int64
		wg     sync.WaitGroup
	)
	for w := range 2 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := int64(r.IntN(n) + 1)
				org := []string{"acme", "globex"}[(id-1)%2]
				pt := fmt.Sprintf("fresh-%d-%d-%d", w, i, id)
				ct, err := eng.EncryptText(t.Context(), org, []byte(pt), "tokens.col")
				if err != nil {
					t.Error(err)
					return
				}
				// The application's write and its record of the last
				// value happen under one lock, so want is exact.
				mu.Lock()
				_, err = pool.Exec(t.Context(), `UPDATE tokens SET col = $1 WHERE id = $2`, ct, id)
				if err == nil {
					want[id] = pt
				}
				mu.Unlock()
				if err != nil {
					t.Error(err)
					return
				}
				writes.Add(1)
			}
		})
	}
	sum, err := reencrypt.Run(t.Context(), st, tbl, &reencrypt.Converter{Sealer: eng, Text: true}, reencrypt.Options{Batch: 100, ChunkRows: 500, Workers: 3})
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if writes.Load() < 50 {
		t.Fatalf("only %d application writes happened during the job", writes.Load())
	}
	j := sum.Job
	if j.Done != n || j.Failed != 0 || j.Rewritten+j.Current+j.Skipped != n {
		t.Fatalf("job: %+v", j)
	}
	t.Logf("%d application writes; job %+v", writes.Load(), j)
	checkTable(t, pool, eng, "tokens", want, 3)
}

func TestBadInput(t *testing.T) {
	pool, _ := appPool(t)
	eng, st := engine(t)
	want := fillTable(t, pool, eng, "apps", "text", 50)
	ctx := t.Context()
	for _, q := range []string{
		`CREATE TABLE nums (id bigint PRIMARY KEY, org text, col integer)`,
		`CREATE TABLE nokey (id bigint, org text, col text)`,
		`UPDATE apps SET col = 'not-a-ciphertext' WHERE id = 7`,
		`UPDATE apps SET col = 'gAAAAABrAvIiBADwOZ8zVHBxM-wzvhhcgbxbZ-dJuzxHssrahNzsjs0ghl393tbyH1v8a5xq4uvMfZOAH2UfARPs8iwDSrc51e_9jV78WhMcPm_aifQT6njw60VY3wMOAa6IdIBmIOR3' WHERE id = 8`,
		`UPDATE apps SET col = NULL WHERE id = 9`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for name, spec := range map[string]struct {
		spec reencrypt.TableSpec
		want string
	}{
		"missing table":  {reencrypt.TableSpec{Table: "nope", Column: "col", OrgColumn: "org", IDColumn: "id"}, `table "nope" does not exist`},
		"missing column": {reencrypt.TableSpec{Table: "apps", Column: "secret", OrgColumn: "org", IDColumn: "id"}, `has no column "secret"`},
		"missing org":    {reencrypt.TableSpec{Table: "apps", Column: "col", OrgColumn: "tenant", IDColumn: "id"}, `has no column "tenant"`},
		"wrong type":     {reencrypt.TableSpec{Table: "nums", Column: "col", OrgColumn: "org", IDColumn: "id"}, `is integer`},
		"no unique id":   {reencrypt.TableSpec{Table: "nokey", Column: "col", OrgColumn: "org", IDColumn: "id"}, `no primary key or unique index`},
		"bad syntax":     {reencrypt.TableSpec{Table: "a.b.c.d", Column: "col", OrgColumn: "org", IDColumn: "id"}, ``},
	} {
		_, err := reencrypt.OpenTable(ctx, pool, spec.spec)
		if err == nil || !strings.Contains(err.Error(), spec.want) {
			t.Errorf("%s: got %v, want an error containing %q", name, err, spec.want)
		}
		if spec.want != "" && !errors.Is(err, reencrypt.ErrBadTable) {
			t.Errorf("%s: %v is not ErrBadTable", name, err)
		}
	}
	tbl, err := reencrypt.OpenTable(ctx, pool, reencrypt.TableSpec{Table: "apps", Column: "col", OrgColumn: "org", IDColumn: "id"})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := reencrypt.Run(ctx, st, tbl, &reencrypt.Converter{Sealer: eng, Text: true}, reencrypt.Options{Batch: 16})
	if err != nil {
		t.Fatal(err)
	}
	j := sum.Job
	if j.Failed != 2 || j.Skipped != 1 || j.Rewritten != 47 || j.State != store.JobDone {
		t.Fatalf("job: %+v", j)
	}
	got := fmt.Sprint(sum.Failures)
	if wantF := "[{7 neither a keyward ciphertext nor a fernet token} {8 fernet token, but no fernet key for it (pass --fernet-key-file, or import the key with keyward fernet import)}]"; got != wantF {
		t.Fatalf("failures: got %s, want %s", got, wantF)
	}
	var v7, v8 string
	pool.QueryRow(ctx, `SELECT (SELECT col FROM apps WHERE id = 7), (SELECT col FROM apps WHERE id = 8)`).Scan(&v7, &v8)
	if v7 != "not-a-ciphertext" || !strings.HasPrefix(v8, "gAAAAAB") {
		t.Fatalf("failed rows were changed: %q, %q", v7, v8)
	}
	// Over the failure limit, the job stops and is marked failed.
	if _, err := pool.Exec(ctx, `UPDATE apps SET col = 'junk' || id WHERE id > 40`); err != nil {
		t.Fatal(err)
	}
	sum, err = reencrypt.Run(ctx, st, tbl, &reencrypt.Converter{Sealer: eng, Text: true}, reencrypt.Options{Batch: 16, MaxFailures: 5, Restart: true})
	if !errors.Is(err, reencrypt.ErrTooManyFailures) || sum.Job.State != store.JobFailed || !strings.Contains(sum.Job.Error, "more than 5 rows failed") {
		t.Fatalf("over the limit: err %v, job %+v", err, sum.Job)
	}
	// FailFast stops at the first failed row, whatever MaxFailures says:
	// after its batch, so at most a batch's failures are counted.
	sum, err = reencrypt.Run(ctx, st, tbl, &reencrypt.Converter{Sealer: eng, Text: true}, reencrypt.Options{Batch: 16, Workers: 1, MaxFailures: 1000, FailFast: true, Restart: true})
	if !errors.Is(err, reencrypt.ErrTooManyFailures) || sum.Job.State != store.JobFailed || sum.Job.Error != "a row failed (fail fast)" {
		t.Fatalf("fail fast: err %v, job %+v", err, sum.Job)
	}
	if sum.Job.Failed < 1 || sum.Job.Failed > 16 {
		t.Errorf("fail fast: %d rows failed, want 1..16 (one batch)", sum.Job.Failed)
	}
	_ = want
	_ = time.Second
}

// TestSwapOrgMoved: a row the application moved to another organization
// between the read and the write keeps its value; a ciphertext sealed for
// the organization it left is never written into it.
func TestSwapOrgMoved(t *testing.T) {
	pool, _ := appPool(t)
	eng, _ := engine(t)
	fillTable(t, pool, eng, "moves", "text", 6)
	ctx := t.Context()
	tbl, err := reencrypt.OpenTable(ctx, pool, reencrypt.TableSpec{Table: "moves", Column: "col", OrgColumn: "org", IDColumn: "id"})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := tbl.Read(ctx, store.JobKey{}, store.JobKey{}, 2)
	if err != nil || len(rows) != 2 {
		t.Fatalf("read: %v, %d rows", err, len(rows))
	}
	conv := &reencrypt.Converter{Sealer: eng, Text: true}
	var us []reencrypt.Update
	for _, r := range rows {
		out, changed, err := conv.Convert(ctx, r.Org, r.Value, tbl.Context(r))
		if err != nil || !changed {
			t.Fatalf("convert %s: changed %v, %v", r.ID, changed, err)
		}
		us = append(us, reencrypt.Update{Key: r.Key, ID: r.ID, Org: r.Org, Old: r.Value, New: out})
	}
	// Row 1 (acme) moves to globex, its value untouched.
	if _, err := pool.Exec(ctx, `UPDATE moves SET org = 'globex' WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	ok, err := tbl.Swap(ctx, us)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(ok), "[false true]"; got != want {
		t.Fatalf("swapped: got %s, want %s", got, want)
	}
	var v1 string
	if err := pool.QueryRow(ctx, `SELECT col FROM moves WHERE id = 1`).Scan(&v1); err != nil {
		t.Fatal(err)
	}
	if got, want := v1, string(rows[0].Value); got != want {
		t.Fatalf("moved row: got %q, want its old value %q", got, want)
	}
}

// TestScanNullOrg: a row whose org column is NULL is reported unreadable,
// not counted under an empty organization, so the scan's references can
// be recorded (a store refuses a reference without organization).
func TestScanNullOrg(t *testing.T) {
	pool, _ := appPool(t)
	eng, st := engine(t)
	fillTable(t, pool, eng, "nullorg", "text", 6)
	ctx := t.Context()
	if _, err := pool.Exec(ctx, `ALTER TABLE nullorg ALTER COLUMN org DROP NOT NULL`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE nullorg SET org = NULL WHERE id = 3`); err != nil {
		t.Fatal(err)
	}
	tbl, err := reencrypt.OpenTable(ctx, pool, reencrypt.TableSpec{Table: "nullorg", Column: "col", OrgColumn: "org", IDColumn: "id"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := reencrypt.Scan(ctx, tbl, eng, nil, 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(res.Unreadable, res.Failures), "1 [{3 no organization (the org column is NULL or empty)}]"; got != want {
		t.Fatalf("unreadable: got %s, want %s", got, want)
	}
	refs := reencrypt.References(tbl.Name(), res.Keys)
	var n int64
	for _, r := range refs {
		if r.Org == "" {
			t.Errorf("reference without organization: %+v", r)
		}
		n += r.Count
	}
	if got, want := n, int64(5); got != want {
		t.Errorf("referenced rows: got %d, want %d", got, want)
	}
	if err := st.SetReferences(ctx, tbl.Name(), refs); err != nil {
		t.Fatalf("record references: %v", err)
	}
}
