package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/secret"
)

// lockedBuffer collects a process's output while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// served is a running keyward serve process.
type served struct {
	url    string
	admin  string // the admin token printed at first start, if any
	cmd    *exec.Cmd
	stdout *lockedBuffer
	stderr *lockedBuffer
	exited chan error
	hc     *http.Client
}

// serve starts the built binary on a free loopback port with the data
// directory data (created on first start), waits until it is ready and
// stops it at cleanup.
func serve(t *testing.T, data string, args ...string) *served {
	t.Helper()
	return serveWith(t, data, nil, args...)
}

// serveWith is serve with the HTTP client used for requests (for TLS).
func serveWith(t *testing.T, data string, hc *http.Client, args ...string) *served {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), "KEYWARD_DATA="+data)
	s := &served{cmd: cmd, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, exited: make(chan error, 1), hc: hc}
	cmd.Stdout = s.stdout
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			s.stderr.Write([]byte(line + "\n"))
			if _, rest, ok := strings.Cut(line, "msg=listening url="); ok {
				urls <- strings.Fields(rest)[0]
			}
		}
	}()
	go func() { s.exited <- cmd.Wait(); pw.Close() }()
	t.Cleanup(func() { s.stop(t) })
	select {
	case s.url = <-urls:
	case err := <-s.exited:
		t.Fatalf("keyward serve exited: %v\nstderr: %s", err, s.stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("keyward serve did not start; stderr: %s", s.stderr.String())
	}
	for _, line := range strings.Split(s.stdout.String(), "\n") {
		if tok, ok := strings.CutPrefix(line, "admin token: "); ok {
			s.admin = tok
		}
	}
	c := s.client(t, "")
	deadline := time.Now().Add(10 * time.Second)
	for c.Ready(context.Background()) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("keyward serve not ready; stderr: %s", s.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s
}

// stop sends SIGTERM and waits for the process to exit (killing it after
// 15 s); it returns the exit error.
func (s *served) stop(t *testing.T) error {
	if s.cmd.ProcessState != nil {
		return nil
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.exited:
		s.exited <- err
		return err
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		t.Errorf("keyward serve did not stop on SIGTERM")
		return <-s.exited
	}
}

func (s *served) client(t *testing.T, token string) *client.Client {
	t.Helper()
	c, err := client.New(s.url, secret.FromString(token), &client.Options{HTTPClient: s.hc})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newToken creates a token with the CLI and returns it and its id.
func newToken(t *testing.T, data, org string, extra []string, allow ...string) (token, id string) {
	t.Helper()
	args := []string{"token", "create", "--json", "--org", org}
	for _, a := range allow {
		args = append(args, "--allow", a)
	}
	args = append(args, extra...)
	var out struct {
		ID    string `json:"id"`
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(kw(t, data, "", args...).ok(t).stdout), &out); err != nil {
		t.Fatal(err)
	}
	return out.Token, out.ID
}

// auditLog reads every event with keyward audit tail --json.
func auditLog(t *testing.T, data string) ([]auditEvent, string) {
	t.Helper()
	out, evs := auditTail(t, data)
	return evs, out
}
