//go:build unix

package credential_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/keyward/keyward/credential"
)

// pipeFD returns the read end of a pipe holding data (the write end closed),
// as an fd number the test owns.
func pipeFD(t *testing.T, data string) int {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if _, err := w.WriteString(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return int(r.Fd())
}

// isOpen reports whether fd is an open descriptor.
func isOpen(fd int) bool {
	var st syscall.Stat_t
	return syscall.Fstat(fd, &st) == nil
}

func TestLoadFDPipe(t *testing.T) {
	fd := pipeFD(t, canary+"\r\n")
	got, err := credential.Load(credential.Source{FD: fd}, noEnv)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if string(got.Reveal()) != canary {
		t.Errorf("Load = %q, want %q", got.Reveal(), canary)
	}
	if !isOpen(fd) {
		t.Error("Load closed the caller's descriptor")
	}
}

func TestLoadFDFile(t *testing.T) {
	dir := t.TempDir()
	open := func(name string, perm os.FileMode) int {
		f, err := os.Open(writeFile(t, dir, name, []byte(canary), perm))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return int(f.Fd())
	}

	got, err := credential.Load(credential.Source{FD: open("private", 0o600)}, noEnv)
	if err != nil {
		t.Fatalf("fd of a 0600 file: %v", err)
	}
	if string(got.Reveal()) != canary {
		t.Errorf("fd of a 0600 file = %q", got.Reveal())
	}

	_, err = credential.Load(credential.Source{FD: open("public", 0o644)}, noEnv)
	if !errors.Is(err, credential.ErrInsecureFile) {
		t.Fatalf("fd of a 0644 file: err = %v, want ErrInsecureFile", err)
	}
	noCanary(t, err)
}

func TestLoadFDRefused(t *testing.T) {
	f, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tests := []struct {
		name    string
		fd      int
		wantMsg string
	}{
		{"stdout", 1, "pass the secret on descriptor 3 or above"},
		{"stderr", 2, "pass the secret on descriptor 3 or above"},
		{"negative", -1, "pass the secret on descriptor 3 or above"},
		{"not open", 1 << 20, "is not open"},
		{"directory", int(f.Fd()), "is a directory, not a file, pipe or socket"},
		{"empty pipe", pipeFD(t, "\n"), "holds no secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := credential.Load(credential.Source{FD: tt.fd}, noEnv)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if !errors.Is(err, credential.ErrInvalidSource) && !errors.Is(err, credential.ErrEmpty) {
				t.Errorf("err = %v, want ErrInvalidSource or ErrEmpty", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
		})
	}
}

func TestLoadFDOversized(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() {
		// More than a pipe buffer: the writer blocks until Load reads, and
		// fails (EPIPE) once the test closes r.
		_, _ = w.WriteString(strings.Repeat(canary, credential.MaxSize/len(canary)+2))
		w.Close()
	}()
	_, err = credential.Load(credential.Source{FD: int(r.Fd())}, noEnv)
	if !errors.Is(err, credential.ErrInvalidSource) {
		t.Fatalf("err = %v, want ErrInvalidSource", err)
	}
	noCanary(t, err)
}

func TestLoadFileFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	// Refused from its mode, without opening it (which would block).
	_, err := credential.Load(credential.Source{File: path}, noEnv)
	if !errors.Is(err, credential.ErrInvalidSource) || !strings.Contains(err.Error(), "a named pipe") {
		t.Errorf("err = %v, want ErrInvalidSource naming a named pipe", err)
	}
}
