package main

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/reencrypt"
)

func TestJobCode(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{reencrypt.ErrTooManyFailures, "too_many_failures"},
		{fmt.Errorf("%w: lost the lease", reencrypt.ErrJobFailed), "job_failed"},
		{fmt.Errorf("checkpoint: %w", keyward.ErrUnavailable), "unavailable"},
		{keyward.ErrKEKUnavailable, "kek_unavailable"},
		{context.Canceled, "canceled"},
		{errors.New("relation does not exist"), "internal"},
	} {
		if got := jobCode(c.err); got != c.want {
			t.Errorf("jobCode(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}
