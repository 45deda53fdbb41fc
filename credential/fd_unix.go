//go:build unix

package credential

import (
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// readFD reads the secret from the inherited descriptor fd (3 or above,
// checked by Source.Check) through a
// close-on-exec duplicate, leaving fd itself open: if fd was never passed,
// the number may belong to the Go runtime or another part of the process,
// which must not lose it.
func readFD(fd int) ([]byte, error) {
	what := "fd " + strconv.Itoa(fd)
	syscall.ForkLock.RLock()
	dup, err := syscall.Dup(fd)
	if err == nil {
		syscall.CloseOnExec(dup)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not open: start keyward with the secret on it (e.g. 3<FILE, or a pipe) or use a file: %w", ErrInvalidSource, what, err)
	}
	f := os.NewFile(uintptr(dup), what)
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("credential: %s: %w", what, err)
	}
	target := fdTarget(fd)
	if target != "" {
		what += " (" + target + ")"
	}
	mode := fi.Mode()
	switch {
	case mode&(fs.ModeNamedPipe|fs.ModeSocket) != 0:
	case mode.IsRegular():
		if strings.HasPrefix(target, "anon_inode:") {
			return nil, fmt.Errorf("%w: %s was not passed to keyward; start keyward with the secret on it (e.g. 3<FILE) or use a file", ErrInvalidSource, what)
		}
		if perm := mode.Perm(); perm&0o077 != 0 {
			fix := "pass a private file (chmod 600 FILE)"
			if strings.HasPrefix(target, "/") {
				fix = "fix with: chmod 600 " + target
			}
			return nil, fmt.Errorf("%w: %s has mode %04o, open to group or others; %s (or was fd %d never passed to keyward?)", ErrInsecureFile, what, perm, fix, fd)
		}
	default:
		return nil, fmt.Errorf("%w: %s is %s, not a file, pipe or socket; start keyward with the secret on it (e.g. 3<FILE)", ErrInvalidSource, what, typeName(mode))
	}
	return readLimited(f, fi, what)
}

// fdTarget returns what fd refers to, as Linux reports it in /proc/self/fd
// (a path, "pipe:[N]", "anon_inode:[eventpoll]"…), or "" where that is not
// available.
func fdTarget(fd int) string {
	s, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return ""
	}
	return s
}
