// Command reencrypt prepares the re-encryption benchmark: a keyward data
// directory with orgs whose keys were rotated, and a PostgreSQL table of
// N rows under the older versions, which `keyward migrate` then moves to
// the active version. The migrate run itself is the measurement, under
// /usr/bin/time -v for its peak RSS (see docs/PERFORMANCE.md):
//
//	go run ./bench/reencrypt -rows 1000000 -data /tmp/kwbench -table bench.tokens
//	/usr/bin/time -v keyward --data /tmp/kwbench migrate --dsn $URL --table bench.tokens \
//	    --column token --org-column org --id-column id --workers 2
//
// The database URL comes from KEYWARD_TEST_DATABASE_URL (no password in it).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/config"
	"github.com/keyward/keyward/datadir"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/reencrypt:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		rows  = flag.Int("rows", 100000, "rows in the table")
		orgs  = flag.Int("orgs", 100, "organizations")
		data  = flag.String("data", "", "keyward data directory to create")
		table = flag.String("table", "bench.tokens", "schema.table to create (dropped first)")
		size  = flag.Int("size", 40, "plaintext bytes per row")
	)
	flag.Parse()
	url := os.Getenv("KEYWARD_TEST_DATABASE_URL")
	if url == "" || *data == "" {
		return errors.New("set KEYWARD_TEST_DATABASE_URL and -data")
	}
	ctx := context.Background()
	if err := datadir.Init(ctx, *data); err != nil {
		return err
	}
	d, err := config.Open(ctx, config.ForDataDir(*data), os.Getenv)
	if err != nil {
		return err
	}
	defer d.Close()
	eng, err := keyward.Open(d.Store, d.KEK, &keyward.Options{ChangePoll: -1})
	if err != nil {
		return err
	}
	defer eng.Close()
	orgIDs := make([]string, *orgs)
	for i := range orgIDs {
		orgIDs[i] = fmt.Sprintf("org%04d", i)
		if _, err := eng.CreateOrg(ctx, orgIDs[i]); err != nil {
			return err
		}
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	schema, name, _ := strings.Cut(*table, ".")
	for _, q := range []string{
		`CREATE SCHEMA IF NOT EXISTS ` + pgx.Identifier{schema}.Sanitize(),
		`DROP TABLE IF EXISTS ` + pgx.Identifier{schema, name}.Sanitize(),
		`CREATE TABLE ` + pgx.Identifier{schema, name}.Sanitize() + ` (id bigint PRIMARY KEY, org text NOT NULL, token text)`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return err
		}
	}
	start := time.Now()
	pt := []byte(strings.Repeat("x", *size))
	const block = 20000
	for from := 0; from < *rows; from += block {
		n := min(block, *rows-from)
		batch := make([][]any, n)
		for i := range batch {
			id := from + i + 1
			org := orgIDs[id%len(orgIDs)]
			ct, err := eng.EncryptText(ctx, org, pt, name+".token")
			if err != nil {
				return err
			}
			batch[i] = []any{int64(id), org, ct}
		}
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{schema, name}, []string{"id", "org", "token"}, pgx.CopyFromRows(batch)); err != nil {
			return err
		}
	}
	if _, err := conn.Exec(ctx, `VACUUM ANALYZE `+pgx.Identifier{schema, name}.Sanitize()); err != nil {
		return err
	}
	for _, o := range orgIDs {
		if _, err := eng.RotateDEK(ctx, o); err != nil {
			return err
		}
	}
	fmt.Printf("%d rows of %d orgs under v1 in %s (active: v2) in %.1fs\n", *rows, *orgs, *table, time.Since(start).Seconds())
	return nil
}
