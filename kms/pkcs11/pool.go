package pkcs11

import (
	"context"
	"fmt"
	"sync"
	"unsafe"

	p11 "github.com/miekg/pkcs11"

	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/secret"
)

// pool is a bounded set of logged-in sessions on one token. A PKCS#11
// session runs one operation at a time, so one session would serialise every
// wrap and unwrap of the process; the pool lets up to size calls run at once
// and makes the others wait (honouring their context).
//
// Sessions are opened lazily and kept idle between calls. A call that fails
// with a PKCS#11 error other than an authentication failure closes its
// session instead of returning it; one that finds its session gone (the
// token was reset or re-inserted, the login lost) also closes the idle ones,
// which share its fate, and is retried once on a fresh session.
type pool struct {
	ctx   *p11.Ctx
	slot  uint
	token string       // label, for errors
	pin   secret.Bytes // our own copy; wiped by close

	sem  chan struct{} // one element per session in use
	done chan struct{} // closed by close

	// reset runs when a stale session is found, before the retry: object
	// handles may change once all of an application's sessions with a
	// token are closed (PKCS#11 allows it; SoftHSM does it), so the
	// KEK forgets the ones it cached.
	reset func()

	mu   sync.Mutex
	idle []p11.SessionHandle
}

func newPool(ctx *p11.Ctx, slot uint, token string, pin secret.Bytes, size int, reset func()) *pool {
	return &pool{
		ctx:   ctx,
		slot:  slot,
		token: token,
		pin:   pin,
		sem:   make(chan struct{}, size),
		done:  make(chan struct{}),
		reset: reset,
	}
}

// do runs f on a logged-in session (read-only, or read-write if rw), and
// retries once on a fresh session, with key handles looked up again, if f
// failed because its session or a handle was stale.
// Errors from f are returned as they are.
func (p *pool) do(ctx context.Context, rw bool, f func(sh p11.SessionHandle) error) error {
	for attempt := 0; ; attempt++ {
		sh, err := p.get(ctx, rw)
		if err != nil {
			return err
		}
		err = f(sh)
		if err == nil || !stale(err) || attempt > 0 {
			p.put(sh, rw, keep(err))
			return err
		}
		p.put(sh, rw, false)
		p.flush()
		p.reset()
	}
}

// keep reports whether a session may go back to the pool after a call that
// returned err: yes unless the token itself failed. Authentication failures
// (kms.ErrUnwrap) and unknown versions carry no PKCS#11 error.
func keep(err error) bool {
	_, isP11 := code(err)
	return !isP11
}

// get waits for a free place in the pool and returns an idle session, or
// opens a new one. Read-write sessions (for key generation) are never pooled.
func (p *pool) get(ctx context.Context, rw bool) (p11.SessionHandle, error) {
	select {
	case <-p.done:
		return 0, ErrClosed
	default:
	}
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return 0, fmt.Errorf("waiting for a session: %w", ctx.Err())
	case <-p.done:
		return 0, ErrClosed
	}
	select {
	case <-p.done: // close won the race for this place
		<-p.sem
		return 0, ErrClosed
	default:
	}
	if !rw {
		p.mu.Lock()
		if n := len(p.idle); n > 0 {
			sh := p.idle[n-1]
			p.idle = p.idle[:n-1]
			p.mu.Unlock()
			return sh, nil
		}
		p.mu.Unlock()
	}
	sh, err := p.open(rw)
	if err != nil {
		<-p.sem
		return 0, err
	}
	return sh, nil
}

// put returns a session to the pool, or closes it.
func (p *pool) put(sh p11.SessionHandle, rw, keep bool) {
	if keep && !rw {
		p.mu.Lock()
		p.idle = append(p.idle, sh)
		p.mu.Unlock()
	} else {
		_ = p.ctx.CloseSession(sh) // it may be gone already
	}
	<-p.sem
}

// flush closes every idle session.
func (p *pool) flush() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, sh := range idle {
		_ = p.ctx.CloseSession(sh)
	}
}

// open opens a session and logs the user in. A login is per application and
// token, not per session, so CKR_USER_ALREADY_LOGGED_IN is success: another
// session (or another KEK on the same token) logged in already.
func (p *pool) open(rw bool) (p11.SessionHandle, error) {
	flags := uint(p11.CKF_SERIAL_SESSION)
	if rw {
		flags |= p11.CKF_RW_SESSION
	}
	sh, err := p.ctx.OpenSession(p.slot, flags)
	if err != nil {
		return 0, fmt.Errorf("open a session on token %q: %w", p.token, opError("C_OpenSession", err))
	}
	if err := login(p.ctx, sh, p.pin.Reveal()); err != nil && !is(err, p11.CKR_USER_ALREADY_LOGGED_IN) {
		_ = p.ctx.CloseSession(sh)
		return 0, loginError(p.token, err)
	}
	return sh, nil
}

// login calls C_Login with pin. miekg/pkcs11 takes the PIN as a Go string;
// converting would leave a copy on the Go heap that nothing can wipe, so the
// string aliases the secret's own bytes for the duration of the call (it is
// not retained). The binding copies it into C memory (C.CString) and frees
// that copy without zeroing it, a limitation of the binding.
func login(ctx *p11.Ctx, sh p11.SessionHandle, pin []byte) error {
	return ctx.Login(sh, p11.CKU_USER, unsafe.String(unsafe.SliceData(pin), len(pin)))
}

// loginError explains a failed C_Login without the PIN.
func loginError(token string, err error) error {
	switch {
	case is(err, p11.CKR_PIN_INCORRECT):
		return fmt.Errorf("%w: token %q: wrong pin (%w)", ErrLogin, token, err)
	case is(err, p11.CKR_PIN_LOCKED):
		return fmt.Errorf("%w: token %q: the user pin is locked after too many wrong attempts; the security officer must reset it (%w)", ErrLogin, token, err)
	case is(err, p11.CKR_USER_PIN_NOT_INITIALIZED):
		return fmt.Errorf("%w: token %q has no user pin yet (%w)", ErrLogin, token, err)
	case is(err, p11.CKR_PIN_EXPIRED):
		return fmt.Errorf("%w: token %q: the user pin has expired; change it with the token's tools (%w)", ErrLogin, token, err)
	case is(err, p11.CKR_USER_ANOTHER_ALREADY_LOGGED_IN):
		return fmt.Errorf("%w: token %q: the security officer is logged in from this process (%w)", ErrLogin, token, err)
	case transient(err):
		return fmt.Errorf("log in to token %q: %w: %w", token, kms.ErrUnavailable, err)
	default:
		return fmt.Errorf("%w: token %q: %w", ErrLogin, token, err)
	}
}

// close stops new calls, waits for running ones, logs out if logout, closes
// every session and wipes the PIN. It must be called once.
func (p *pool) close(logout bool) {
	close(p.done)
	for range cap(p.sem) {
		p.sem <- struct{}{} // wait for calls in flight
	}
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	if logout {
		sh, ok := p.any(idle)
		if ok {
			_ = p.ctx.Logout(sh) // CKR_USER_NOT_LOGGED_IN is fine
			if len(idle) == 0 {
				_ = p.ctx.CloseSession(sh)
			}
		}
	}
	for _, sh := range idle {
		_ = p.ctx.CloseSession(sh)
	}
	p.pin.Wipe()
}

// any returns a session to log out with: an idle one, or a new unauthenticated
// one (a logout through any session ends the application's login).
func (p *pool) any(idle []p11.SessionHandle) (p11.SessionHandle, bool) {
	if len(idle) > 0 {
		return idle[0], true
	}
	sh, err := p.ctx.OpenSession(p.slot, p11.CKF_SERIAL_SESSION)
	return sh, err == nil
}
