package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/config"
	"github.com/keyward/keyward/format"
	"github.com/keyward/keyward/format/fernet"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/store/sqlite"
)

// appDB is an application database for the migration tests: a schema of
// its own in the test database, dropped at cleanup.
type appDB struct {
	url    string
	name   string // the database's name
	schema string
	pool   *pgxpool.Pool
}

func newAppDB(t *testing.T) *appDB {
	t.Helper()
	url := os.Getenv("KEYWARD_TEST_DATABASE_URL")
	if url == "" {
		t.Skip("KEYWARD_TEST_DATABASE_URL is not set: set it to a PostgreSQL URL without password, e.g. " +
			"postgres://postgres@127.0.0.1:5432/test?sslmode=disable, to run the migrate tests")
	}
	b := make([]byte, 6)
	rand.Read(b)
	db := &appDB{url: url, schema: "kwcli_" + hex.EncodeToString(b)}
	pool, err := pgxpool.New(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	db.pool = pool
	if err := pool.QueryRow(t.Context(), `SELECT current_database()`).Scan(&db.name); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(t.Context(), `CREATE SCHEMA `+db.schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := pool.Exec(ctx, `DROP SCHEMA `+db.schema+` CASCADE`); err != nil {
			t.Errorf("drop schema: %v", err)
		}
		pool.Close()
	})
	return db
}

// target is the name migrate gives the test table's token column.
func (db *appDB) target() string {
	return "postgres:" + db.name + "/" + db.schema + ".secrets.token"
}

// openEngine opens an engine on the data directory, as the binary does.
func openEngine(t *testing.T, data string) (*keyward.Engine, func()) {
	t.Helper()
	d, err := config.Open(t.Context(), config.ForDataDir(data), os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := keyward.Open(d.Store, d.KEK, &keyward.Options{ChangePoll: -1})
	if err != nil {
		t.Fatal(err)
	}
	return eng, func() { eng.Close(); d.Close() }
}

// mixedTable fills schema.secrets (id bigint, org text, token text) with n
// rows of orgs acme and globex: a quarter Fernet tokens, a quarter under
// keyward v1, half under v2; then rotates both orgs to v3. It returns the
// plaintexts by id and the path of the Fernet key file.
func mixedTable(t *testing.T, db *appDB, data string, n int) (map[int64]string, string) {
	t.Helper()
	ctx := t.Context()
	kw(t, data, "", "init").ok(t)
	kw(t, data, "", "org", "create", "acme", "globex").ok(t)
	oldKey, oldEnc, err := fernet.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	newKey, newEnc, err := fernet.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "fernet.keys")
	if err := os.WriteFile(keyFile, []byte(string(newEnc)+"\n"+string(oldEnc)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := db.pool.Exec(ctx, `CREATE TABLE `+db.schema+`.secrets (id bigint PRIMARY KEY, org text NOT NULL, token text)`); err != nil {
		t.Fatal(err)
	}
	eng, closeEng := openEngine(t, data)
	defer closeEng()
	want := make(map[int64]string, n)
	ids, orgs, vals := make([]int64, n), make([]string, n), make([]string, n)
	// Ids are shuffled so that Fernet, v1 and v2 rows interleave.
	perm := mrand.Perm(n)
	seal := func(i int) {
		id := int64(perm[i] + 1)
		org := []string{"acme", "globex"}[id%2]
		pt := fmt.Sprintf("token-%d-%x", id, id*7919)
		var v string
		if i < n/4 {
			k := oldKey
			if i%2 == 0 {
				k = newKey
			}
			tok, err := fernet.Seal(k, []byte(pt), time.Now(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			v = tok
		} else {
			var err error
			if v, err = eng.EncryptText(ctx, org, []byte(pt), "secrets.token"); err != nil {
				t.Fatal(err)
			}
		}
		ids[i], orgs[i], vals[i], want[id] = id, org, v, pt
	}
	for i := range n / 2 {
		seal(i)
	}
	for _, org := range []string{"acme", "globex"} {
		if _, err := eng.RotateDEK(ctx, org); err != nil {
			t.Fatal(err)
		}
	}
	for i := n / 2; i < n; i++ {
		seal(i)
	}
	for _, org := range []string{"acme", "globex"} {
		if _, err := eng.RotateDEK(ctx, org); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.pool.Exec(ctx, `INSERT INTO `+db.schema+`.secrets SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[])`, ids, orgs, vals); err != nil {
		t.Fatal(err)
	}
	return want, keyFile
}

// checkMigrated checks that every row decrypts to its plaintext under the
// active version 3, and that no row was lost or added.
func checkMigrated(t *testing.T, db *appDB, data string, want map[int64]string) {
	t.Helper()
	eng, closeEng := openEngine(t, data)
	defer closeEng()
	rows, err := db.pool.Query(t.Context(), `SELECT id, org, token FROM `+db.schema+`.secrets ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		ID       int64
		Org, Tok string
	}
	all, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(want) {
		t.Fatalf("%d rows, want %d", len(all), len(want))
	}
	for _, r := range all {
		f, err := format.ParseText([]byte(r.Tok))
		if err != nil || f.KeyVersion != 3 {
			t.Fatalf("row %d: version %d (%v), want a keyward text ciphertext under v3", r.ID, f.KeyVersion, err)
		}
		pt, err := eng.Decrypt(t.Context(), r.Org, []byte(r.Tok), "secrets.token")
		if err != nil || string(pt) != want[r.ID] {
			t.Fatalf("row %d: got %q, %v; want %q", r.ID, pt, err, want[r.ID])
		}
	}
}

func migrateArgs(db *appDB, keyFile string, extra ...string) []string {
	return append([]string{"migrate", "--dsn", db.url, "--table", db.schema + ".secrets", "--column", "token",
		"--org-column", "org", "--id-column", "id", "--fernet-key-file", keyFile, "--json"}, extra...)
}

// migrateSummary is the last JSON line of migrate --json.
type migrateSummary struct {
	Job, State                                       string
	Total, Done, Rewritten, Current, Skipped, Failed int64
	Mine                                             struct{ Done, Rewritten, Current int64 } `json:"this_process"`
	Failures                                         []struct{ ID, Reason string }
}

func lastSummary(t *testing.T, stdout string) migrateSummary {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var s migrateSummary
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &s); err != nil {
		t.Fatalf("summary %q: %v", lines[len(lines)-1], err)
	}
	return s
}

// TestMigrateKill kills migrate with SIGKILL at random points, 20 times,
// then lets it finish: every row ends up at the active version with its
// original plaintext, none lost, none encrypted twice over.
func TestMigrateKill(t *testing.T) {
	db := newAppDB(t)
	data := filepath.Join(t.TempDir(), "kw")
	const n = 20000
	want, keyFile := mixedTable(t, db, data, n)
	// --max-rate keeps the job running across the kills on a fast machine.
	args := migrateArgs(db, keyFile, "--batch", "50", "--workers", "2", "--max-rate", "3000")
	interrupted := 0
	var first store.Job
	for i := range 20 {
		cmd := exec.Command(binary, args...)
		cmd.Env = append(os.Environ(), "KEYWARD_DATA="+data)
		var errb bytes.Buffer
		cmd.Stderr = &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(50+mrand.IntN(350)) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok && ee.ProcessState.Sys().(syscall.WaitStatus).Signaled() {
			interrupted++
		} else if err != nil {
			t.Fatalf("run %d: %v, stderr: %s", i, err, errb.String())
		}
		if first.ID == "" { // the first run that got as far as creating the job
			first, _ = findJob(t, data, "migrate", db.target())
		}
	}
	if interrupted < 15 {
		t.Fatalf("only %d of 20 runs were killed while running", interrupted)
	}
	// Every kill interrupted the first pass: it is still running, with
	// part of the rows done.
	j := jobOf(t, data, "migrate", db.target())
	if j.State != "running" || j.Done == 0 || j.Done >= n || !j.StartedAt.Equal(first.StartedAt) {
		t.Fatalf("after the kills: job %+v, want it running and partly done", j)
	}
	t.Logf("after %d kills: %d of %d rows done", interrupted, j.Done, n)
	// SIGTERM: the run stops cleanly, says how to resume, and hands its
	// chunks back at once (no lease left behind for another host to wait
	// out).
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "KEYWARD_DATA="+data)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err == nil || !strings.Contains(errb.String(), "run the same command again to resume") {
		t.Fatalf("after SIGTERM: %v, stderr %q", err, errb.String())
	}
	st, err := sqlite.Open(t.Context(), filepath.Join(data, "keyward.db"))
	if err != nil {
		t.Fatal(err)
	}
	chunks, err := st.Chunks(t.Context(), j.ID)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	// (Chunks of the SIGKILLed runs stay leased until a run needs them.)
	mine := fmt.Sprintf("/%d/", cmd.Process.Pid)
	for _, c := range chunks {
		if strings.Contains(c.Owner, mine) && !c.Done {
			t.Fatalf("after SIGTERM, chunk %d is still leased by %s", c.Index, c.Owner)
		}
	}

	// The last run, unthrottled, finishes the job.
	r := kw(t, data, "", migrateArgs(db, keyFile, "--batch", "50", "--workers", "2")...).ok(t)
	s := lastSummary(t, r.stdout)
	if s.State != "done" || s.Done != n || s.Total != n || s.Failed != 0 || s.Mine.Done > n-j.Done || s.Rewritten < n/2 {
		t.Fatalf("final run: %+v, want at most the %d rows left", s, n-j.Done)
	}
	t.Logf("%d runs killed; the last run: %+v", interrupted, s)
	checkMigrated(t, db, data, want)
}

// jobOf reads a job from the data directory's store.
func jobOf(t *testing.T, data, kind, target string) store.Job {
	t.Helper()
	j, err := findJob(t, data, kind, target)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// findJob is jobOf returning store.ErrNotFound for a job not created yet.
func findJob(t *testing.T, data, kind, target string) (store.Job, error) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(data, "keyward.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// The job's id also names how the rows are read (reencrypt.JobIDOf):
	// find it by its target, as an operator would in the jobs list.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "keyward.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var id string
	err = db.QueryRowContext(t.Context(), `SELECT id FROM jobs WHERE kind = ? AND target = ? AND org = ''`, kind, target).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Job{}, store.ErrNotFound
	}
	if err != nil {
		t.Fatal(err)
	}
	return st.Job(t.Context(), id)
}

// TestMigrateTwoProcesses runs two migrate processes on one job: they
// share it, and no row is processed twice (their counts add up exactly).
func TestMigrateTwoProcesses(t *testing.T) {
	db := newAppDB(t)
	data := filepath.Join(t.TempDir(), "kw")
	const n = 20000
	want, keyFile := mixedTable(t, db, data, n)
	// Before: scan counts Fernet tokens per key of the file, and v1, v2.
	if got, want := scanTotals(t, data, db, "--fernet-key-file", keyFile), "dek/1:5000 dek/2:10000 fernet-file/1:2500 fernet-file/2:2500"; got != want {
		t.Fatalf("scan before: got %s, want %s", got, want)
	}
	args := migrateArgs(db, keyFile, "--batch", "250", "--workers", "2")
	var (
		wg  sync.WaitGroup
		res [2]result
	)
	for i := range res {
		wg.Go(func() { res[i] = kw(t, data, "", args...) })
	}
	wg.Wait()
	var mine, rewritten int64
	for i, r := range res {
		r.ok(t)
		s := lastSummary(t, r.stdout)
		if s.State != "done" || s.Done != n || s.Failed != 0 {
			t.Fatalf("process %d: %+v", i, s)
		}
		if s.Mine.Done == 0 {
			t.Fatalf("process %d did no work: %+v", i, s)
		}
		mine += s.Mine.Done
		rewritten += s.Mine.Rewritten
		t.Logf("process %d: %+v", i, s.Mine)
	}
	if mine != n || rewritten != n {
		t.Fatalf("the processes visited %d rows and rewrote %d, want %d each: a row was processed twice or never", mine, rewritten, n)
	}
	checkMigrated(t, db, data, want)

	// Run again: every row is current.
	s := lastSummary(t, kw(t, data, "", args...).ok(t).stdout)
	if s.Current != n || s.Rewritten != 0 {
		t.Fatalf("second pass: %+v", s)
	}
	// The completed migration recorded the column's references.
	if got, want := references(t, data, "acme"), db.target()+" dek/3:10000"; got != want {
		t.Fatalf("references of acme: got %q, want %q", got, want)
	}
	// scan sees v3 only.
	if got, want := scanTotals(t, data, db), "dek/3:20000"; got != want {
		t.Fatalf("scan after: got %s, want %s", got, want)
	}
}

// scanTotals runs keyward scan on the test table and sums its counts over
// the orgs, as "kind/version:count" sorted.
func scanTotals(t *testing.T, data string, db *appDB, extra ...string) string {
	t.Helper()
	var scan struct {
		Rows int64
		Keys []struct {
			Org     string
			Kind    string
			Version uint32
			Count   int64
		}
	}
	args := append([]string{"scan", "--dsn", db.url, "--table", db.schema + ".secrets", "--column", "token",
		"--org-column", "org", "--id-column", "id", "--json"}, extra...)
	out := kw(t, data, "", args...).ok(t).stdout
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &scan); err != nil {
		t.Fatal(err)
	}
	sums := map[string]int64{}
	for _, k := range scan.Keys {
		sums[fmt.Sprintf("%s/%d", k.Kind, k.Version)] += k.Count
	}
	var parts []string
	for k, n := range sums {
		parts = append(parts, fmt.Sprintf("%s:%d", k, n))
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

// references reads the recorded references of org from the data
// directory's store, as "source kind/version:count" lines.
func references(t *testing.T, data, org string) string {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(data, "keyward.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	refs, err := st.References(t.Context(), org)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, r := range refs {
		lines = append(lines, fmt.Sprintf("%s %s/%d:%d", r.Source, r.Key.Kind, r.Key.Version, r.Count))
	}
	return strings.Join(lines, "\n")
}

// TestMigrateImportedFernet migrates Fernet tokens with keys imported into
// keyward (keyward fernet import) instead of a key file.
func TestMigrateImportedFernet(t *testing.T) {
	db := newAppDB(t)
	data := filepath.Join(t.TempDir(), "kw")
	const n = 400
	want, keyFile := mixedTable(t, db, data, n)
	kw(t, data, "", "fernet", "import", "--all", "--key-file", keyFile).ok(t)
	// Imported in file order reversed: the newest (line 1) gets id 2.
	if got, want := scanTotals(t, data, db), "dek/1:100 dek/2:200 fernet/1:50 fernet/2:50"; got != want {
		t.Fatalf("scan: got %s, want %s", got, want)
	}
	args := []string{"migrate", "--dsn", db.url, "--table", db.schema + ".secrets", "--column", "token",
		"--org-column", "org", "--id-column", "id", "--json"}
	s := lastSummary(t, kw(t, data, "", args...).ok(t).stdout)
	if s.Done != n || s.Rewritten != n || s.Failed != 0 {
		t.Fatalf("migrate: %+v", s)
	}
	checkMigrated(t, db, data, want)
	if got := references(t, data, "globex"); !strings.HasSuffix(got, "dek/3:200") || strings.Contains(got, "fernet") {
		t.Fatalf("references of globex: %q", got)
	}
}

func TestMigrateErrors(t *testing.T) {
	db := newAppDB(t)
	data := filepath.Join(t.TempDir(), "kw")
	want, keyFile := mixedTable(t, db, data, 200)
	ctx := t.Context()
	for _, q := range []string{
		`CREATE TABLE ` + db.schema + `.nums (id bigint PRIMARY KEY, org text, token integer)`,
		`UPDATE ` + db.schema + `.secrets SET token = 'garbage' WHERE id = 17`,
	} {
		if _, err := db.pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	table := func(tbl, col string) []string {
		return []string{"migrate", "--dsn", db.url, "--table", db.schema + "." + tbl, "--column", col, "--org-column", "org", "--id-column", "id"}
	}
	withPW := strings.Replace(db.url, "postgres@", "postgres:hunter2@", 1)
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"missing table":   {table("nope", "token"), "does not exist"},
		"missing column":  {table("secrets", "nope"), `has no column "nope"`},
		"wrong type":      {table("nums", "token"), "is integer"},
		"password in dsn": {[]string{"migrate", "--dsn", withPW, "--table", "t", "--column", "c", "--org-column", "o", "--id-column", "i"}, "--dsn carries a password"},
		"missing flags":   {[]string{"migrate", "--dsn", db.url}, "are required"},
		"keyword dsn":     {[]string{"migrate", "--dsn", "host=x password=y", "--table", "t", "--column", "c", "--org-column", "o", "--id-column", "i"}, "postgres:// URL"},
		"bad fernet file": {append(table("secrets", "token"), "--fernet-key-file", "/nonexistent"), "--fernet-key-file"},
	} {
		t.Run(name, func(t *testing.T) {
			r := kw(t, data, "", tc.args...)
			r.failed(t, tc.want)
			if strings.Contains(r.stderr, "hunter2") {
				t.Fatalf("the password leaked into the error: %s", r.stderr)
			}
		})
	}
	// A bad row is reported by id, never by value, and left as it is;
	// the rest is migrated.
	r := kw(t, data, "", migrateArgs(db, keyFile)...)
	r.failed(t, "1 rows failed")
	s := lastSummary(t, r.stdout)
	if s.Failed != 1 || len(s.Failures) != 1 || s.Failures[0].ID != "17" || s.Done != 200 {
		t.Fatalf("summary: %+v", s)
	}
	if strings.Contains(r.stdout, "garbage") {
		t.Fatal("the summary shows the bad value")
	}
	var v string
	db.pool.QueryRow(ctx, `SELECT token FROM `+db.schema+`.secrets WHERE id = 17`).Scan(&v)
	if v != "garbage" {
		t.Fatalf("the bad row was changed to %q", v)
	}
	delete(want, 17)
	if _, err := db.pool.Exec(ctx, `DELETE FROM `+db.schema+`.secrets WHERE id = 17`); err != nil {
		t.Fatal(err)
	}
	checkMigrated(t, db, data, want)
	// A dry run now finds nothing to do and writes nothing.
	r = kw(t, data, "", append(migrateArgs(db, keyFile), "--dry-run")...).ok(t)
	if s := lastSummary(t, r.stdout); s.Current != 199 || s.Rewritten != 0 {
		t.Fatalf("dry run: %+v", s)
	}
}
