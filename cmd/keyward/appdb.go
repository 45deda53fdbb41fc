package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/config"
	"github.com/keyward/keyward/credential"
	"github.com/keyward/keyward/store"
)

// openAppDB connects to an application's PostgreSQL database for migrate
// and scan. The URL must not carry a password: it comes from
// --dsn-password-file (a private file, read like every keyward secret), or
// else from the file PGPASSFILE names (or ~/.pgpass), which the driver
// reads. PGPASSWORD is refused, like everywhere in keyward.
func (a *app) openAppDB(ctx context.Context, dsn, passwordFile string, conns int) (*pgxpool.Pool, error) {
	if dsn == "" {
		return nil, usagef("--dsn is required: the application's database, postgres://USER@HOST:PORT/DB")
	}
	if err := checkAppDSN(dsn); err != nil {
		return nil, err
	}
	if err := credential.RefuseEnv(a.getenv, config.SecretEnv()...); err != nil {
		return nil, fmt.Errorf("%w (put the database password in a file with mode 600 and pass --dsn-password-file)", err)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, usagef("--dsn is not a valid postgres:// URL")
	}
	if passwordFile != "" {
		pw, err := credential.Load(credential.Source{File: passwordFile}, a.getenv)
		if err != nil {
			return nil, fmt.Errorf("--dsn-password-file: %w", err)
		}
		cfg.ConnConfig.Password = string(pw.Reveal())
		pw.Wipe()
	}
	cfg.MaxConns = int32(conns)
	cfg.ConnConfig.RuntimeParams["application_name"] = "keyward-migrate"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to --dsn: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to --dsn: %w", err)
	}
	return pool, nil
}

// checkAppDSN refuses a DSN that is not a postgres:// URL or that carries
// a password. The DSN is never quoted back: it may hold one.
func checkAppDSN(dsn string) error {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return usagef("--dsn must be a postgres:// URL (keyword/value strings are not accepted)")
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return usagef("--dsn is not a valid URL (percent-encode special characters)")
	}
	if _, ok := u.User.Password(); ok {
		return usagef("--dsn carries a password; remove it from the URL and pass --dsn-password-file FILE (mode 600) or set PGPASSFILE")
	}
	for k := range u.Query() {
		switch strings.ToLower(k) {
		case "password", "sslpassword":
			return usagef("--dsn sets %s; remove it and pass --dsn-password-file FILE (mode 600) or set PGPASSFILE", strings.ToLower(k))
		}
	}
	return nil
}

// openJobs opens the engine and keyward's store as a job store. Jobs
// encrypt many values, so the engine reserves usage in blocks.
//
// With audited, it opens the deployment's audit log too (openAudit): the
// commands that decrypt and re-encrypt rows record their runs; a log that
// cannot be opened stops them before anything is done.
func (a *app) openJobs(ctx context.Context, audited bool) (*keyward.Engine, store.Store, store.JobStore, func(), error) {
	c, err := a.config()
	if err != nil {
		return nil, nil, nil, nil, err
	}
	d, err := config.Open(ctx, c, a.getenv)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	js, ok := d.Store.(store.JobStore)
	if !ok {
		d.Close()
		return nil, nil, nil, nil, fmt.Errorf("the configured store keeps no jobs")
	}
	opts := cliOptions(d.Options)
	opts.UsageBlock = jobUsageBlock
	eng, err := keyward.Open(d.Store, d.KEK, opts)
	if err != nil {
		d.Close()
		return nil, nil, nil, nil, err
	}
	if audited {
		if err := a.openAudit(ctx, d); err != nil {
			eng.Close()
			d.Close()
			return nil, nil, nil, nil, err
		}
	}
	return eng, d.Store, js, func() { a.closeAudit(); eng.Close(); d.Close() }, nil
}

// jobUsageBlock is how many encryptions a re-encryption process reserves
// at a time: a reservation is a store write, and a job encrypts many values.
const jobUsageBlock = 4096

// errNoSecretStore reports a store without the secret store's tables.
var errNoSecretStore = errors.New("this keyward build's store has no secret store to re-encrypt")
