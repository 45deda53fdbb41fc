package main

import (
	"context"
	"errors"
	"io"
	"time"
)

// run is filled in with the server phases once the policy and audit
// packages land.
func run(ctx context.Context, out io.Writer, phase time.Duration, size int) error {
	return errors.New("not yet wired")
}
