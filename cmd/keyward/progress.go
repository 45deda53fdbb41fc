package main

import (
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress shows how far a long job is: a progress bar on a terminal, and
// otherwise a line every few seconds (JSON lines on stdout with --json, plain
// lines on stderr without).
type progress struct {
	a     *app
	what  string
	bar   *progressbar.ProgressBar
	start time.Time
	last  time.Time
	// base is the count already done when this process started (a
	// resumed job): the rate counts only what this process saw move.
	base  int64
	every time.Duration
}

func (a *app) newProgress(what string, total int64) *progress {
	return a.newProgressOf(what, "keys", total)
}

// newProgressOf is newProgress counting unit (e.g. "events") instead of keys.
func (a *app) newProgressOf(what, unit string, total int64) *progress {
	p := &progress{a: a, what: what, start: time.Now(), every: 2 * time.Second}
	if !a.jsonOut && isTerminal(a.stderr) {
		p.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(a.stderr),
			progressbar.OptionSetDescription(what),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString(unit),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	return p
}

// update reports done of total; final forces a report.
func (p *progress) update(done, total int64, final bool) {
	if p.bar != nil {
		p.bar.ChangeMax64(total)
		_ = p.bar.Set64(done)
		if final {
			_ = p.bar.Finish()
		}
		return
	}
	now := time.Now()
	if !final && now.Sub(p.last) < p.every {
		return
	}
	p.last = now
	elapsed := now.Sub(p.start).Seconds()
	rate, eta := 0.0, 0.0
	if elapsed > 0 {
		rate = float64(done-p.base) / elapsed
	}
	if rate > 0 && total > done {
		eta = float64(total-done) / rate
	}
	if p.a.jsonOut {
		_ = p.a.printJSON(map[string]any{"progress": p.what, "done": done, "total": total, "rate": rate, "eta_seconds": eta})
		return
	}
	p.a.logf("%s: %d/%d (%.0f/s, eta %s)", p.what, done, total, rate, (time.Duration(eta) * time.Second).String())
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
