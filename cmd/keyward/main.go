// Command keyward is the operator CLI of keyward: it initialises a data
// directory, manages organizations and key versions, and encrypts and
// decrypts values from stdin to stdout.
//
// All work is done by the keyward library; this package only maps flags and
// streams to library calls, and library errors to one-line messages and exit
// codes.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &env{
		stdin:  os.Stdin,
		stdout: os.Stdout,
		stderr: os.Stderr,
		getenv: os.Getenv,
	})
	stop()
	os.Exit(code)
}
