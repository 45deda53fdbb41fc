package main

// The CLI's audit trail. Every command that decrypts, reveals or changes a
// key, an organization, a secret or a token records its decision in the
// deployment's audit log, as the HTTP server does for its requests: one
// event per decision, allowed or failed with a stable code, under token id
// "cli" and one request id per invocation, never a plaintext or a
// ciphertext. A command opens the log once (openAudit) and records through
// a.audit; docs/AUDIT.md lists the actions.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/config"
	"github.com/keyward/keyward/errcode"
	"github.com/keyward/keyward/store"
)

// cliTokenID is the token id of every event the CLI records: the operator
// at the command line holds no token.
const cliTokenID = "cli"

// The actions the CLI records. Where the server records the same operation
// (server/auth.go) the name is the same.
const (
	actionDecrypt       = "decrypt"
	actionSecretPut     = "secrets.put"
	actionSecretReveal  = "secrets.reveal"
	actionSecretDelete  = "secrets.delete"
	actionOrgCreate     = "org.create"
	actionOrgShred      = "org.shred"
	actionKeysRotate    = "keys.rotate"
	actionKeysRetire    = "keys.retire"
	actionKeysReinstate = "keys.reinstate"
	actionKeysDestroy   = "keys.destroy"
	actionKEKRotate     = "kek.rotate"
	actionKEKRewrap     = "kek.rewrap"
	actionFernetImport  = "fernet.import"
	actionTokenCreate   = "token.create"
	actionTokenRevoke   = "token.revoke"
)

// Codes of allowed events that say more about what was done.
const (
	codeForced = "forced" // a retire or destroy with --force: rows still used the key
	codeExists = "exists" // fernet import of a key the organization already held
)

// errAuditUnavailable reports that a decision could not be made durable in
// the audit log.
var errAuditUnavailable = errors.New("the audit log could not record it")

// openAudit opens the audit log of d for this command, once. A store that
// keeps no audit log leaves nothing to record. Commands that audit open
// the log before acting, so a log that cannot be opened stops them before
// anything changes.
func (a *app) openAudit(ctx context.Context, d *config.Deployment) error {
	if a.auditLog != nil {
		return nil
	}
	as, ok := d.Store.(store.AuditStore)
	if !ok {
		return nil
	}
	l, err := audit.Open(ctx, as, d.KEK, nil)
	if err != nil {
		return fmt.Errorf("open the audit log: %w (nothing was done)", err)
	}
	a.auditLog = l
	return nil
}

// closeAudit closes the log openAudit opened: every event recorded is
// durable already.
func (a *app) closeAudit() {
	if a.auditLog != nil {
		a.auditLog.Close()
		a.auditLog = nil
	}
}

// openAudited opens the engine and deployment as openDeployment does, and
// the audit log; done closes all three.
func (a *app) openAudited(ctx context.Context) (*keyward.Engine, *config.Deployment, func(), error) {
	eng, d, done, err := a.openDeployment(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := a.openAudit(ctx, d); err != nil {
		done()
		return nil, nil, nil, err
	}
	return eng, d, func() { a.closeAudit(); done() }, nil
}

// requestID is the request id of this invocation: "cli-" and 16 random hex
// digits, the same for every event it records.
func (a *app) requestID() string {
	if a.reqID == "" {
		var b [8]byte
		rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
		a.reqID = "cli-" + hex.EncodeToString(b[:])
	}
	return a.reqID
}

// audit records the decision on ev's action: allowed when opErr is nil,
// failed with the stable code of opErr otherwise (errcode.Code, the
// codes the server uses). It fills the token id,
// the request id and the outcome, and makes the caller's text fit an event.
//
// It returns opErr when the operation failed: a failed operation's error
// (and exit status) stays what it was, and if its event cannot be stored
// a warning says so on stderr. When the operation succeeded it returns nil
// once the event is durable, or an error wrapping errAuditUnavailable: the
// caller must then not print a plaintext, and reports the change as
// unaudited.
func (a *app) audit(ctx context.Context, ev audit.Event, opErr error) error {
	return a.auditCoded(ctx, ev, opErr, errcode.Code(opErr))
}

// valueMAC identifies a value in an event without revealing it (the audit
// log's keyed HMAC, as the server records), or "" without an audit log.
func (a *app) valueMAC(v []byte) string {
	if a.auditLog == nil {
		return ""
	}
	return a.auditLog.MAC(v)
}

// auditCoded is audit with the failed event's code given: code is recorded
// when opErr is not nil (a job's outcome, see jobaudit.go).
func (a *app) auditCoded(ctx context.Context, ev audit.Event, opErr error, code string) error {
	if a.auditLog == nil {
		return opErr
	}
	ev.TokenID, ev.RequestID = cliTokenID, a.requestID()
	ev.Org, ev.Name, ev.Context = audit.Text(ev.Org), audit.Text(ev.Name), audit.Text(ev.Context)
	ev.Outcome = audit.Allowed
	if opErr != nil {
		ev.Outcome, ev.Code = audit.Failed, code
	}
	err := a.auditLog.Record(ctx, ev)
	switch {
	case err == nil:
		return opErr
	case opErr != nil:
		a.logf("warning: %s: %s %s", errAuditUnavailable, ev.Action, oneLine(err))
		return opErr
	}
	return fmt.Errorf("%w: %w", errAuditUnavailable, err)
}
