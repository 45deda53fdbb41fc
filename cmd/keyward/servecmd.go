package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/config"
	"github.com/keyward/keyward/policy"
	"github.com/keyward/keyward/secretstore"
	"github.com/keyward/keyward/server"
	"github.com/keyward/keyward/store"
)

func (a *app) serveCmd() *cobra.Command {
	var addr, logLevel string
	var auditEncrypt bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the HTTP API: encrypt, decrypt, rewrap and the secret store",
		Long: `Serve keyward's HTTP API (see docs/SERVER.md) until SIGTERM or SIGINT, then
finish in-flight requests and exit.

Without --config, the data directory is used and, on the first start, created (as
keyward init does); the admin token is printed once, on stdout.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			level, err := parseLevel(logLevel)
			if err != nil {
				return err
			}
			log := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
			return a.serve(cmd.Context(), log, addr, auditEncrypt)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "", "listen on HOST:PORT (default: server.addr in the config, else "+config.DefaultAddr+")")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	cmd.Flags().BoolVar(&auditEncrypt, "audit-encrypt", false, "record an audit event for every allowed encryption too (denials always are)")
	return cmd
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, usagef("--log-level %q: use debug, info, warn or error", s)
	}
	return l, nil
}

func (a *app) serve(ctx context.Context, log *slog.Logger, addr string, auditEncrypt bool) error {
	if a.confPath == "" {
		// The embedded default: a first start creates the data directory.
		dir := a.dataDir()
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			if err := a.initDataDir(ctx, dir, "starting the server"); err != nil {
				return err
			}
		}
	}
	c, err := a.config()
	if err != nil {
		return err
	}
	sc := config.ServerDefaults(c.Server)
	if addr != "" {
		sc.Addr = addr
	}
	var tlsCfg *tls.Config
	if sc.TLSCertFile != "" {
		if tlsCfg, err = server.TLSConfig(sc.TLSCertFile, sc.TLSKeyFile, sc.ClientCAFile); err != nil {
			return err
		}
	}
	d, err := config.Open(ctx, c, a.getenv)
	if err != nil {
		return err
	}
	defer d.Close()
	eng, err := keyward.Open(d.Store, d.KEK, &d.Options)
	if err != nil {
		return err
	}
	defer eng.Close()

	ts, ok1 := d.Store.(store.TokenStore)
	as, ok2 := d.Store.(store.AuditStore)
	ss, ok3 := d.Store.(store.SecretStore)
	if !ok1 || !ok2 || !ok3 {
		return errors.New("this store does not keep tokens, audit events and secrets; upgrade it")
	}
	auth, err := policy.New(ts, nil)
	if err != nil {
		return err
	}
	alog, err := audit.Open(ctx, as, d.KEK, nil)
	if err != nil {
		return err
	}
	defer alog.Close()
	secrets, err := secretstore.New(eng, ss)
	if err != nil {
		return err
	}
	srv, err := server.New(server.Options{
		Engine: eng, Store: d.Store, KEK: d.KEK,
		Auth: server.PolicyAuthenticator(auth), Audit: alog, Secrets: secrets,
		Logger: log, AuditEncrypt: auditEncrypt,
		Limits: server.Limits{MaxBody: sc.MaxBody, MaxBatch: sc.MaxBatch, RateLimit: sc.RateLimit, RateBurst: sc.RateBurst},
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", sc.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (choose another --addr)", sc.Addr, err)
	}
	scheme := "http"
	if tlsCfg != nil {
		scheme = "https"
	}
	log.Info("listening", "url", scheme+"://"+ln.Addr().String(), "tls", tlsCfg != nil, "client_certs", sc.ClientCAFile != "")
	if strings.HasPrefix(c.KEK.URI, "local:") {
		log.Warn("the kek is a local key file: for development only, not for production")
	}
	err = srv.Serve(ctx, ln, server.HTTP{TLS: tlsCfg, ReadTimeout: sc.ReadTimeout, WriteTimeout: sc.WriteTimeout, IdleTimeout: sc.IdleTimeout, ShutdownTimeout: sc.ShutdownTimeout})
	log.Info("stopped")
	return err
}
