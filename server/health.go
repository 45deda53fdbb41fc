package server

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/store"
)

// readyTTL is how long a readiness result is reused: probing the KEK costs
// a round trip to the KMS or HSM, and a load balancer may ask many times a
// second.
const readyTTL = 2 * time.Second

// readiness probes the store (a one-row read) and the KEK (a wrap and
// unwrap of a random throwaway key under dedicated AAD), caching the result
// briefly.
type readiness struct {
	st  store.Store
	kek kms.KEK

	mu   sync.Mutex
	at   time.Time
	err  error
	busy chan struct{} // one probe at a time; others wait for its result
}

func (rd *readiness) check(ctx context.Context) error {
	rd.mu.Lock()
	if time.Since(rd.at) < readyTTL {
		err := rd.err
		rd.mu.Unlock()
		return err
	}
	if rd.busy != nil {
		busy := rd.busy
		rd.mu.Unlock()
		select {
		case <-busy:
			return rd.check(ctx)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	rd.busy = make(chan struct{})
	rd.mu.Unlock()

	err := rd.probe(ctx)
	rd.mu.Lock()
	rd.at, rd.err = time.Now(), err
	close(rd.busy)
	rd.busy = nil
	rd.mu.Unlock()
	return err
}

var probeAAD = []byte("keyward readiness probe")

func (rd *readiness) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := rd.st.LastChange(ctx); err != nil {
		return errors.Join(errStoreNotReady, err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	w, err := rd.kek.Wrap(ctx, key, probeAAD)
	if err != nil {
		return errors.Join(errKEKNotReady, err)
	}
	got, err := rd.kek.Unwrap(ctx, w, probeAAD)
	if err != nil {
		return errors.Join(errKEKNotReady, err)
	}
	clear(got)
	clear(key)
	return nil
}

var (
	errStoreNotReady = errors.New("store unreachable")
	errKEKNotReady   = errors.New("kek unreachable")
)

type status struct {
	Status string `json:"status"`
	Store  string `json:"store,omitempty"`
	KEK    string `json:"kek,omitempty"`
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, http.StatusOK, status{Status: "ok"})
}

// readyz answers 200 when the store and the KEK answer, 503 otherwise. The
// body says which failed; the detail goes to the log only.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	err := s.ready.check(r.Context())
	if err == nil {
		s.writeJSON(w, http.StatusOK, status{Status: "ready", Store: "ok", KEK: "ok"})
		return
	}
	s.log.Warn("not ready", "request_id", info(r.Context()).id, "err", err.Error())
	st := status{Status: "not_ready", Store: "ok", KEK: "unknown"}
	switch {
	case errors.Is(err, errStoreNotReady):
		st.Store = "unreachable"
	case errors.Is(err, errKEKNotReady):
		st.KEK = "unreachable"
	default:
		st.Store, st.KEK = "unknown", "unknown"
	}
	w.Header().Set("Retry-After", "1")
	s.writeJSON(w, http.StatusServiceUnavailable, st)
}
