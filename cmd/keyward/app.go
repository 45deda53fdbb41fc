package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/config"
	"github.com/keyward/keyward/datadir"
)

// env is the process's outside world, injected so tests can drive run.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

// app carries the global flags and opens what a command needs.
type app struct {
	*env
	data     string
	confPath string
	jsonOut  bool

	// auditLog is the audit log of the command's deployment, once opened
	// (auditlog.go); reqID the request id of its events.
	auditLog *audit.Log
	reqID    string
}

// run executes one command line and returns the process exit code.
func run(ctx context.Context, args []string, e *env) int {
	a := &app{env: e}
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(e.stderr, "keyward: %s\n", oneLine(err))
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "keyward",
		Short: "Field-level envelope encryption for multi-tenant secrets",
		Long: `keyward encrypts each secret field with its organization's own data key,
wrapped by a key-encryption key that stays inside a KMS or HSM.

Start with:  keyward init     (creates ./keyward-data)`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&a.data, "data", "", "data directory (default $KEYWARD_DATA, then ./keyward-data)")
	root.PersistentFlags().StringVar(&a.confPath, "config", "", "config file naming the store and KEK (see docs/CONFIG.md); replaces --data")
	root.PersistentFlags().BoolVar(&a.jsonOut, "json", false, "print JSON for scripts")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(a.initCmd(), a.orgCmd(), a.encryptCmd(), a.decryptCmd(), a.keysCmd(), a.rotateCmd(), a.kekCmd(), a.tokenCmd(), a.auditCmd(), a.secretCmd(), a.fernetCmd(), a.migrateCmd(), a.scanCmd(), a.reencryptCmd(), a.serveCmd())
	return root
}

// dataDir is the data directory chosen by --data, $KEYWARD_DATA or the default.
func (a *app) dataDir() string { return datadir.Resolve(a.data, a.getenv) }

// config returns the configuration chosen by --config, or the embedded
// default for the data directory.
func (a *app) config() (*config.Config, error) {
	if a.confPath == "" {
		if err := datadir.Check(a.dataDir()); err != nil {
			return nil, err
		}
		return config.ForDataDir(a.dataDir()), nil
	}
	if a.data != "" {
		return nil, usagef("--config and --data are exclusive: the config file names the store")
	}
	return config.Load(a.confPath)
}

// open opens the configured store and KEK and an engine on them; call the
// returned function when done.
func (a *app) open(ctx context.Context) (*keyward.Engine, func(), error) {
	d, err := a.deployment(ctx)
	if err != nil {
		return nil, nil, err
	}
	eng, err := keyward.Open(d.Store, d.KEK, cliOptions(d.Options))
	if err != nil {
		d.Close()
		return nil, nil, err
	}
	return eng, func() { eng.Close(); d.Close() }, nil
}

// deployment opens the configured store and KEK without an engine, for
// commands that work on the store directly (tokens, audit); close it when
// done.
func (a *app) deployment(ctx context.Context) (*config.Deployment, error) {
	c, err := a.config()
	if err != nil {
		return nil, err
	}
	return config.Open(ctx, c, a.getenv)
}

// cliOptions adapts engine options to a short-lived CLI process: it reserves
// encryptions one at a time (a server reserves blocks; a CLI call would
// leave most of a block unused) and does not watch for other processes'
// changes (it exits long before a poll would matter).
func cliOptions(o keyward.Options) *keyward.Options {
	o.UsageBlock = 1
	o.ChangePoll = -1
	return &o
}

// logf writes one line of information for humans to stderr.
func (a *app) logf(format string, args ...any) {
	fmt.Fprintf(a.stderr, format+"\n", args...)
}

// printJSON writes v as one line of JSON.
func (a *app) printJSON(v any) error {
	return json.NewEncoder(a.stdout).Encode(v)
}

// usageError marks a command-line mistake (exit code 2).
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() + " (see keyward --help)" }
func (u usageError) Unwrap() error { return u.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// oneLine flattens an error message to one line, adding what to do next
// where the library's message cannot know it.
func oneLine(err error) string {
	msg := err.Error()
	if errors.Is(err, keyward.ErrDecrypt) {
		msg = "decryption failed: wrong --org or --context, or the ciphertext was altered"
	}
	s := strings.Join(strings.Fields(strings.TrimPrefix(msg, "keyward: ")), " ")
	if s == "" {
		return "unknown error"
	}
	return s
}
