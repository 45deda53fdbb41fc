package audit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/store"
)

// Defaults of Options.
const (
	DefaultMaxBatch = 256
	// writeTimeout bounds one append transaction, so a hung database
	// fails the waiting Records instead of holding them forever.
	writeTimeout = 30 * time.Second
)

// Options tune a Log. The zero value (or nil) uses the defaults.
type Options struct {
	// MaxBatch is the most events one transaction appends
	// (DefaultMaxBatch if 0).
	MaxBatch int
	// MaxDelay is how long the writer waits for more events after the
	// first before it writes a batch. 0 (the default) waits for nothing:
	// events that arrive while a transaction commits form the next batch
	// by themselves, so batches grow with the load.
	MaxDelay time.Duration
	// Now is the clock of event times (time.Now if nil).
	Now func() time.Time
}

// Log appends events to the audit log of a store. It is safe for
// concurrent use; Close it when done.
type Log struct {
	st       store.AuditStore
	key      []byte
	valueKey []byte
	now      func() time.Time
	maxBatch int
	maxDelay time.Duration

	reqs chan *request
	quit chan struct{}
	done chan struct{}

	mu     sync.RWMutex // guards closed against sends on reqs
	closed bool
}

// request is one queued event and where its outcome goes.
type request struct {
	ev   Event
	done chan error
}

// Open opens the audit log of st, creating its key on first use (wrapped
// by kek) and unwrapping it otherwise, and starts the writer.
func Open(ctx context.Context, st store.AuditStore, kek kms.KEK, opts *Options) (*Log, error) {
	if st == nil || kek == nil {
		return nil, errors.New("audit: open: nil store or KEK")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	switch {
	case o.MaxBatch == 0:
		o.MaxBatch = DefaultMaxBatch
	case o.MaxBatch < 0:
		return nil, fmt.Errorf("audit: open: max batch %d, want at least 1", o.MaxBatch)
	}
	if o.MaxDelay < 0 {
		return nil, fmt.Errorf("audit: open: negative max delay %v", o.MaxDelay)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	key, err := loadKey(ctx, st, kek, true)
	if err != nil {
		return nil, err
	}
	vk, err := valueKey(key)
	if err != nil {
		clear(key)
		return nil, fmt.Errorf("audit: open: derive the value key: %w", err)
	}
	l := &Log{
		st: st, key: key, valueKey: vk, now: o.Now, maxBatch: o.MaxBatch, maxDelay: o.MaxDelay,
		reqs: make(chan *request, 4*o.MaxBatch),
		quit: make(chan struct{}),
		done: make(chan struct{}),
	}
	go l.write()
	return l, nil
}

// Record appends ev and returns once it is durable (committed with its
// batch). The log sets ev.Seq and ev.Time. An invalid event is
// ErrInvalidEvent and nothing is written; a store failure fails every event
// of the batch, with an error wrapping the store's (store.ErrUnavailable
// when it is down). If ctx ends first Record returns ctx's error; an event
// already queued is still written.
func (l *Log) Record(ctx context.Context, ev Event) error {
	if err := validate(ev); err != nil {
		return err
	}
	r := &request{ev: ev, done: make(chan error, 1)}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ErrClosed
	}
	select {
	case l.reqs <- r:
		l.mu.RUnlock()
	case <-ctx.Done():
		l.mu.RUnlock()
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// MAC returns the hex HMAC-SHA256 of value under the deployment's audit
// value key, for Event.ValueMAC: equal values give equal MACs on every
// process of the deployment, and the MAC reveals nothing of the value to
// whoever lacks the key.
func (l *Log) MAC(value []byte) string {
	m := hmac.New(sha256.New, l.valueKey)
	m.Write(value)
	return hex.EncodeToString(m.Sum(nil))
}

// Close writes the events already queued, stops the writer and wipes the
// keys. Record fails with ErrClosed afterwards; closing twice is a no-op.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	close(l.quit)
	<-l.done
	clear(l.key)
	clear(l.valueKey)
	return nil
}

// write is the writer goroutine: it takes the first queued request, then
// whatever else is queued (waiting up to maxDelay), up to maxBatch, and
// appends them in one transaction.
func (l *Log) write() {
	defer close(l.done)
	batch := make([]*request, 0, l.maxBatch)
	for {
		var first *request
		select {
		case first = <-l.reqs:
		case <-l.quit:
			l.drain(batch)
			return
		}
		batch = append(batch[:0], first)
		batch = l.fill(batch)
		l.commit(batch)
	}
}

// fill adds queued requests to batch up to maxBatch, waiting up to
// maxDelay for more.
func (l *Log) fill(batch []*request) []*request {
	var timeout <-chan time.Time
	if l.maxDelay > 0 {
		t := time.NewTimer(l.maxDelay)
		defer t.Stop()
		timeout = t.C
	}
	for len(batch) < l.maxBatch {
		if timeout == nil {
			select {
			case r := <-l.reqs:
				batch = append(batch, r)
				continue
			default:
				return batch
			}
		}
		select {
		case r := <-l.reqs:
			batch = append(batch, r)
		case <-timeout:
			return batch
		case <-l.quit:
			return batch
		}
	}
	return batch
}

// drain writes what is left in the queue after Close (no sender remains).
func (l *Log) drain(batch []*request) {
	for {
		batch = batch[:0]
		for len(batch) < l.maxBatch {
			select {
			case r := <-l.reqs:
				batch = append(batch, r)
				continue
			default:
			}
			break
		}
		if len(batch) == 0 {
			return
		}
		l.commit(batch)
	}
}

// commit appends batch in one transaction and tells each waiter.
func (l *Log) commit(batch []*request) {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	var buf []byte
	err := l.st.AppendAudit(ctx, func(head store.AuditHead) ([]store.AuditEvent, error) {
		prev := head.MAC
		if head.Seq == 0 {
			prev = genesis
		}
		at := l.now().UTC().Truncate(time.Millisecond)
		events := make([]store.AuditEvent, len(batch))
		for i, r := range batch {
			e := toStore(r.ev, head.Seq+1+int64(i), at)
			e.MAC = chainMAC(l.key, prev, e, buf)
			prev = e.MAC
			events[i] = e
		}
		return events, nil
	})
	if err != nil {
		err = fmt.Errorf("audit: record: %w", err)
	}
	for _, r := range batch {
		r.done <- err
	}
}
