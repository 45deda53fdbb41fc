package datadir_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyward/keyward/datadir"
)

func TestResolve(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == datadir.EnvVar {
				return v
			}
			return ""
		}
	}
	tests := []struct {
		flag, env, want string
	}{
		{"flagdir", "envdir", "flagdir"},
		{"", "envdir", "envdir"},
		{"", "", datadir.Default},
	}
	for _, tt := range tests {
		if got := datadir.Resolve(tt.flag, env(tt.env)); got != tt.want {
			t.Errorf("Resolve(%q) with $KEYWARD_DATA=%q: got %q, want %q", tt.flag, tt.env, got, tt.want)
		}
	}
}

func TestInitOpen(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	if err := datadir.Check(dir); !errors.Is(err, datadir.ErrNotInitialized) {
		t.Fatalf("Check before Init: got %v, want ErrNotInitialized", err)
	}
	if err := datadir.Init(ctx, dir); err != nil {
		t.Fatal(err)
	}
	kek, err := os.ReadFile(filepath.Join(dir, datadir.KEKFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := datadir.Init(ctx, dir); !errors.Is(err, datadir.ErrExists) {
		t.Fatalf("second Init: got %v, want ErrExists", err)
	}
	after, err := os.ReadFile(filepath.Join(dir, datadir.KEKFile))
	if err != nil || string(after) != string(kek) {
		t.Fatalf("second Init changed the KEK file (%v)", err)
	}
	if err := datadir.Check(dir); err != nil {
		t.Fatalf("Check after Init: %v", err)
	}
}

func TestInitEmptyExistingDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := datadir.Init(context.Background(), dir); err != nil {
		t.Fatalf("Init of an empty directory: %v", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o700); got != want {
		t.Fatalf("mode: got %o, want %o", got, want)
	}
}
