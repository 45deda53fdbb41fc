package policy_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keyward/keyward/policy"
	"github.com/keyward/keyward/store"
)

// paused is a real token store whose TokenByHash, once armed, holds what it
// read until released: the window between an Authenticate's store read and
// its caching of the result.
type paused struct {
	store.TokenStore
	armed   chan struct{} // receives once per paused read
	read    chan struct{} // closed when the paused read has the row
	release chan struct{} // closed to let it return
}

func (p *paused) TokenByHash(ctx context.Context, hash []byte) (store.Token, error) {
	t, err := p.TokenStore.TokenByHash(ctx, hash)
	select {
	case <-p.armed:
		close(p.read)
		<-p.release
	default:
	}
	return t, err
}

// TestRevokeDuringFetch: a token revoked in this process while an
// Authenticate of it is reading the store (the read saw it live) is refused
// by every Authenticate that starts after Revoke returned; the in-flight
// read must not be cached (it was, for CacheTTL).
func TestRevokeDuringFetch(t *testing.T) {
	sq := openSQLite(t)
	st := &paused{TokenStore: sq, armed: make(chan struct{}, 1), read: make(chan struct{}), release: make(chan struct{})}
	a := newAuthority(t, st, &policy.Options{CacheTTL: time.Hour})
	tok, info := create(t, a, 0, "acme/decrypt")

	st.armed <- struct{}{}
	done := make(chan error, 1)
	go func() {
		_, err := a.Authenticate(context.Background(), tok)
		done <- err
	}()
	<-st.read
	if err := a.Revoke(t.Context(), info.ID); err != nil {
		t.Fatal(err)
	}
	close(st.release)
	if err := <-done; err != nil {
		t.Logf("concurrent Authenticate: %v", err) // either answer is fine for a call that overlapped Revoke
	}
	if _, err := a.Authenticate(t.Context(), tok); !errors.Is(err, policy.ErrUnauthenticated) {
		t.Errorf("Authenticate after Revoke returned: got %v, want ErrUnauthenticated", err)
	}
}

// TestRevokeDuringSharedFetch: an Authenticate that starts after Revoke
// returned must not take the answer of a store read that began before the
// revocation and is still in flight (singleflight shares it).
func TestRevokeDuringSharedFetch(t *testing.T) {
	sq := openSQLite(t)
	st := &paused{TokenStore: sq, armed: make(chan struct{}, 1), read: make(chan struct{}), release: make(chan struct{})}
	a := newAuthority(t, st, &policy.Options{CacheTTL: -1})
	tok, info := create(t, a, 0, "acme/decrypt")

	st.armed <- struct{}{}
	first := make(chan error, 1)
	go func() {
		_, err := a.Authenticate(context.Background(), tok)
		first <- err
	}()
	<-st.read
	if err := a.Revoke(t.Context(), info.ID); err != nil {
		t.Fatal(err)
	}
	second := make(chan error, 1)
	go func() {
		_, err := a.Authenticate(context.Background(), tok)
		second <- err
	}()
	// Give the second call time to join the paused read (if it has not,
	// it reads the store itself and the test passes either way).
	time.Sleep(100 * time.Millisecond)
	close(st.release)
	<-first // overlapped Revoke: either answer is fine
	if err := <-second; !errors.Is(err, policy.ErrUnauthenticated) {
		t.Errorf("Authenticate begun after Revoke returned: got %v, want ErrUnauthenticated", err)
	}
}
