package credential_test

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/keyward/keyward/credential"
)

// A descriptor number that was never passed may belong to the Go runtime
// (its epoll or eventfd descriptors): Load must refuse it, and must not close
// or drain it.
func TestLoadFDRuntimeDescriptor(t *testing.T) {
	fd := -1
	for i := 3; i < 256; i++ {
		target, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(i))
		if err == nil && strings.HasPrefix(target, "anon_inode:") {
			fd = i
			break
		}
	}
	if fd < 0 {
		t.Skip("no anon_inode descriptor in this process")
	}
	_, err := credential.Load(credential.Source{FD: fd}, noEnv)
	if !errors.Is(err, credential.ErrInvalidSource) || !strings.Contains(err.Error(), "was not passed to keyward") {
		t.Fatalf("err = %v, want ErrInvalidSource saying it was not passed", err)
	}
	if !isOpen(fd) {
		t.Fatal("Load closed a runtime descriptor")
	}
}
