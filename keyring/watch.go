package keyring

import (
	"context"
	"time"

	"github.com/keyward/keyward/store"
)

// Watching other processes' key changes.
//
// Every key change is appended to the store's change feed in the same
// transaction (store.Store.Changes). Watch polls that feed and drops the
// cached keys of every organization it names, so a rotation, retirement or
// destruction made by any process takes effect here within one poll.
//
// When the store can push notifications (store.Notifier: PostgreSQL
// LISTEN/NOTIFY), a notification triggers the poll at once, and the timer
// slows to a safety net. If the notification connection is lost, Watch falls
// back to polling at the normal interval and keeps reconnecting. The feed,
// not the notification, is the source of truth: a notification lost in a
// reconnect is covered by the poll that follows every (re)subscription.

const (
	changePage = 500
	// slowPollFactor stretches the poll interval while notifications are live.
	slowPollFactor = 10
	maxListenRetry = 5 * time.Second
)

// Watch follows the store's change feed until ctx ends, invalidating the
// cached keys of each organization that changed. poll is the polling
// interval when no notification connection is live.
func (k *Keyring) Watch(ctx context.Context, poll time.Duration) {
	w := &watcher{k: k, poll: poll, kick: make(chan struct{}, 1), live: make(chan bool, 1)}
	w.run(ctx)
}

type watcher struct {
	k    *Keyring
	poll time.Duration
	kick chan struct{}
	live chan bool // notification connection went up (true) or down (false)
}

func (w *watcher) run(ctx context.Context) {
	last, ok := w.baseline(ctx)
	if !ok {
		return
	}
	if n, isNotifier := w.k.store.(store.Notifier); isNotifier {
		go w.listen(ctx, n)
	}
	live := false
	timer := time.NewTimer(w.poll)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case live = <-w.live:
		case <-w.kick:
		case <-timer.C:
		}
		last = w.catchUp(ctx, last)
		interval := w.poll
		if live {
			interval *= slowPollFactor
		}
		timer.Reset(interval)
	}
}

// baseline returns the feed position read before the first key was loaded
// (reading it now if none was), retrying until the store answers.
func (w *watcher) baseline(ctx context.Context) (int64, bool) {
	for {
		err := w.k.ensureBaseline(ctx)
		if err == nil {
			w.k.baselineMu.Lock()
			defer w.k.baselineMu.Unlock()
			return w.k.baseline, true
		}
		select {
		case <-ctx.Done():
			return 0, false
		case <-time.After(w.poll):
		}
	}
}

// catchUp applies every change after last and returns the new last seq. On
// a store error it keeps last and tries again at the next tick.
func (w *watcher) catchUp(ctx context.Context, last int64) int64 {
	for {
		changes, err := w.k.store.Changes(ctx, last, changePage)
		if err != nil {
			return last
		}
		for _, c := range changes {
			w.k.Invalidate(c.Org)
			last = c.Seq
		}
		if len(changes) < changePage {
			break
		}
	}
	// A feed that went backwards (a restored database) invalidates all.
	if end, err := w.k.store.LastChange(ctx); err == nil && end < last {
		w.k.invalidateAll()
		last = end
	}
	return last
}

// listen keeps a notification subscription up, kicking the poller on each
// notification and after each (re)subscription.
func (w *watcher) listen(ctx context.Context, n store.Notifier) {
	retry := w.poll
	for ctx.Err() == nil {
		err := n.Listen(ctx,
			func() { w.setLive(true); w.wake(); retry = w.poll },
			func(store.Change) { w.wake() })
		w.setLive(false)
		if ctx.Err() != nil {
			return
		}
		_ = err // the poller covers the gap; reconnect after a pause
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry):
		}
		retry = min(retry*2, maxListenRetry)
	}
}

func (w *watcher) wake() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (w *watcher) setLive(v bool) {
	for {
		select {
		case w.live <- v:
			return
		default:
			select { // replace a stale, unread state
			case <-w.live:
			default:
			}
		}
	}
}
