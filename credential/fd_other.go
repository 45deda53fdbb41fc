//go:build !unix

package credential

import (
	"fmt"
	"runtime"
)

// readFD refuses: inheriting descriptors by number is a Unix convention.
func readFD(fd int) ([]byte, error) {
	return nil, fmt.Errorf("%w: fd %d: file descriptors are not supported on %s; use a file", ErrInvalidSource, fd, runtime.GOOS)
}
