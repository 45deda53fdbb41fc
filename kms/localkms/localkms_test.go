package localkms_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/kms/kmstest"
	"github.com/keyward/keyward/kms/localkms"
)

func create(t *testing.T) (*localkms.KEK, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kek.key")
	k, err := localkms.Create(path)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return k, path
}

func TestConformance(t *testing.T) {
	t.Run("created", func(t *testing.T) {
		kmstest.Run(t, func(t *testing.T) kms.KEK { k, _ := create(t); return k })
	})
	t.Run("reopened", func(t *testing.T) {
		kmstest.Run(t, func(t *testing.T) kms.KEK {
			_, path := create(t)
			k, err := localkms.Open(path)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			return k
		})
	})
	t.Run("rotated", func(t *testing.T) {
		kmstest.Run(t, func(t *testing.T) kms.KEK {
			k, _ := create(t)
			if _, err := k.Rotate(context.Background()); err != nil {
				t.Fatalf("Rotate: %v", err)
			}
			return k
		})
	})
}

func TestCreateMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no unix permission bits")
	}
	_, path := create(t)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode(); got != 0o600 {
		t.Errorf("key file mode = %v, want -rw-------", got)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte("development only — not for production")) {
		t.Errorf("key file lacks the development-only warning:\n%s", data)
	}
}

func TestCreateRefusesExisting(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name  string
		setup func(path string) error
	}{
		{"regular file", func(p string) error { return os.WriteFile(p, []byte("precious\n"), 0o600) }},
		{"key file", func(p string) error { _, err := localkms.Create(p); return err }},
		{"dangling symlink", func(p string) error { return os.Symlink(filepath.Join(dir, "nowhere"), p) }},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprint(i))
			if err := tt.setup(path); err != nil {
				t.Fatalf("setup: %v", err)
			}
			before, _ := os.Readlink(path)
			content, _ := os.ReadFile(path)
			_, err := localkms.Create(path)
			if !errors.Is(err, fs.ErrExist) {
				t.Fatalf("Create over an existing %s: err = %v, want fs.ErrExist", tt.name, err)
			}
			after, _ := os.Readlink(path)
			now, _ := os.ReadFile(path)
			if before != after || !bytes.Equal(content, now) {
				t.Errorf("Create changed the existing %s", tt.name)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "nowhere")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Create followed a dangling symlink and created its target (stat err %v)", err)
	}
}

func TestCreateMissingDirectory(t *testing.T) {
	_, err := localkms.Create(filepath.Join(t.TempDir(), "no", "such", "kek.key"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Create in a missing directory: err = %v, want fs.ErrNotExist", err)
	}
}

func TestOpenMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no unix permission bits")
	}
	tests := []struct {
		mode fs.FileMode
		ok   bool
	}{
		{0o600, true},
		{0o400, true},
		{0o700, true},
		{0o640, false},
		{0o604, false},
		{0o644, false},
		{0o660, false},
		{0o606, false},
		{0o666, false},
		{0o610, false},
		{0o601, false},
		{0o620, false},
		{0o602, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%04o", uint32(tt.mode)), func(t *testing.T) {
			_, path := create(t)
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			_, err := localkms.Open(path)
			if tt.ok {
				if err != nil {
					t.Errorf("Open of a %04o file: %v", uint32(tt.mode), err)
				}
				return
			}
			if !errors.Is(err, localkms.ErrInsecureFile) {
				t.Fatalf("Open of a %04o file: err = %v, want ErrInsecureFile", uint32(tt.mode), err)
			}
			if want := "chmod 600 " + path; !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say how to fix it (%q)", err, want)
			}
		})
	}
}

func TestOpenRefusesNonFiles(t *testing.T) {
	_, path := create(t)
	dir := filepath.Dir(path)
	link := filepath.Join(dir, "link.key")
	if err := os.Symlink(path, link); err != nil {
		t.Skipf("cannot make a symlink: %v", err)
	}
	tests := []struct{ name, path, wantMsg string }{
		{"symlink", link, "symbolic link"},
		{"directory", dir, "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := localkms.Open(tt.path)
			if !errors.Is(err, localkms.ErrInsecureFile) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Open(%s) err = %v, want ErrInsecureFile mentioning %q", tt.name, err, tt.wantMsg)
			}
		})
	}
	if _, err := localkms.Open(filepath.Join(dir, "missing.key")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open of a missing file: err = %v, want fs.ErrNotExist", err)
	}
}

func TestOpenMalformed(t *testing.T) {
	secretKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x5a}, 32))
	for _, content := range []string{
		"",
		"keyward-local-kek v1 " + secretKey + " extra\n",
		"keyward-local-kek v2 " + secretKey + "\n",
		"keyward-local-kek v1 " + secretKey[:20] + "\n",
	} {
		path := filepath.Join(t.TempDir(), "kek.key")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := localkms.Open(path)
		if !errors.Is(err, localkms.ErrMalformedFile) {
			t.Errorf("Open(%q) err = %v, want ErrMalformedFile", content, err)
			continue
		}
		if strings.Contains(err.Error(), secretKey[:20]) {
			t.Errorf("error %q echoes the key", err)
		}
	}
}

func TestOtherKeyFile(t *testing.T) {
	a, _ := create(t)
	b, _ := create(t)
	if a.ID() == b.ID() {
		t.Fatalf("two key files share the id %s", a.ID())
	}
	aad := kms.DEKAAD("org", 1)
	w, err := a.Wrap(t.Context(), make([]byte, 32), aad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Unwrap(t.Context(), w, aad); !errors.Is(err, kms.ErrUnknownKEK) {
		t.Errorf("Unwrap with another key file: err = %v, want ErrUnknownKEK", err)
	}
}

func TestIDFormat(t *testing.T) {
	k, path := create(t)
	id := strings.TrimPrefix(k.ID(), "local:")
	if _, err := hex.DecodeString(id); err != nil || len(id) != 16 || id == k.ID() {
		t.Errorf("ID() = %q, want local:<16 hex digits>", k.ID())
	}
	reopened, err := localkms.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if reopened.ID() != k.ID() {
		t.Errorf("reopened ID() = %q, want %q", reopened.ID(), k.ID())
	}
}

func TestRotate(t *testing.T) {
	k, path := create(t)
	key, aad := []byte("0123456789abcdef0123456789abcdef"), kms.DEKAAD("org", 1)
	v1, err := k.Wrap(t.Context(), key, aad)
	if err != nil || v1.KEKVersion != 1 {
		t.Fatalf("Wrap before Rotate: version %d, %v; want 1", v1.KEKVersion, err)
	}
	for want := uint32(2); want <= 3; want++ {
		got, err := k.Rotate(context.Background())
		if err != nil || got != want {
			t.Fatalf("Rotate() = %d, %v; want %d", got, err, want)
		}
	}
	v3, err := k.Wrap(t.Context(), key, aad)
	if err != nil || v3.KEKVersion != 3 {
		t.Fatalf("Wrap after Rotate: version %d, %v; want 3", v3.KEKVersion, err)
	}
	if v3.KEKID != v1.KEKID {
		t.Errorf("Rotate changed the KEK id from %s to %s", v1.KEKID, v3.KEKID)
	}

	reopened, err := localkms.Open(path)
	if err != nil {
		t.Fatalf("Open after Rotate: %v", err)
	}
	for _, kek := range []*localkms.KEK{k, reopened} {
		for _, w := range []kms.Wrapped{v1, v3} {
			if got, err := kek.Unwrap(t.Context(), w, aad); err != nil || !bytes.Equal(got, key) {
				t.Errorf("%v: Unwrap of a version %d wrap: %v", kek, w.KEKVersion, err)
			}
		}
	}
	if w, err := reopened.Wrap(t.Context(), key, aad); err != nil || w.KEKVersion != 3 {
		t.Errorf("reopened Wrap: version %d, %v; want 3", w.KEKVersion, err)
	}

	if runtime.GOOS != "windows" {
		if fi, err := os.Stat(path); err != nil || fi.Mode() != 0o600 {
			t.Errorf("key file after Rotate: mode %v, %v; want -rw-------", fi.Mode(), err)
		}
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil || len(entries) != 1 {
		t.Errorf("directory after Rotate holds %d entries (%v), want only the key file", len(entries), err)
	}
}

func TestRotateKeepsVersionsFromOtherProcess(t *testing.T) {
	a, path := create(t)
	b, err := localkms.Open(path) // stands in for another process
	if err != nil {
		t.Fatal(err)
	}
	if v, err := b.Rotate(context.Background()); err != nil || v != 2 {
		t.Fatalf("b.Rotate(context.Background()) = %d, %v; want 2", v, err)
	}
	aad := kms.DEKAAD("org", 1)
	w2, err := b.Wrap(t.Context(), make([]byte, 32), aad)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := a.Rotate(context.Background()); err != nil || v != 3 {
		t.Fatalf("a.Rotate(context.Background()) = %d, %v; want 3 (after b's version 2)", v, err)
	}
	if _, err := a.Unwrap(t.Context(), w2, aad); err != nil {
		t.Errorf("a cannot unwrap b's version 2 after rotating: %v", err)
	}
}

func TestRotateRefusesReplacedFile(t *testing.T) {
	a, path := create(t)
	other := filepath.Join(filepath.Dir(path), "other.key")
	if _, err := localkms.Create(other); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(other, path); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	if _, err := a.Rotate(context.Background()); err == nil || !strings.Contains(err.Error(), "refusing to rotate") {
		t.Errorf("Rotate over another KEK's file: err = %v, want a refusal", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Errorf("refused Rotate changed the file")
	}
}

func TestRotateWhileWrapping(t *testing.T) {
	k, _ := create(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			aad := kms.DEKAAD(fmt.Sprint("org", g), 1)
			for range 50 {
				w, err := k.Wrap(t.Context(), make([]byte, 32), aad)
				if err == nil {
					_, err = k.Unwrap(t.Context(), w, aad)
				}
				if err != nil {
					t.Errorf("during Rotate: %v", err)
					return
				}
			}
		})
	}
	for range 5 {
		if _, err := k.Rotate(context.Background()); err != nil {
			t.Errorf("Rotate: %v", err)
		}
	}
	wg.Wait()
}

func TestPrintingHidesKey(t *testing.T) {
	k, path := create(t)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b64 := strings.Fields(string(data[bytes.LastIndex(data, []byte("keyward-local-kek")):]))[2]
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	// AES keeps its round keys as words; the first ones are the key.
	w0, w1 := binary.BigEndian.Uint32(raw[:4]), binary.BigEndian.Uint32(raw[4:8])
	leaks := []string{
		b64[:12], hex.EncodeToString(raw[:6]), string(raw[:6]), strings.Trim(fmt.Sprint(raw[:4]), "[]"),
		fmt.Sprintf("%d %d", w0, w1), fmt.Sprintf("%x %x", w0, w1),
	}
	check := func(what, out string) {
		t.Helper()
		for _, leak := range leaks {
			if strings.Contains(out, leak) {
				t.Errorf("%s = %q leaks the key (%q)", what, out, leak)
			}
		}
	}
	want := "localkms.KEK(" + k.ID() + ", " + path + ")"
	type holder struct{ kek *localkms.KEK } // printed by reflection, bypassing Format
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%c", "%U", "%t", "%p", "%T"} {
		out := fmt.Sprintf(verb, k)
		check("Sprintf("+verb+", kek)", out)
		if !strings.ContainsAny(verb, "pT") && out != want {
			t.Errorf("Sprintf(%q, kek) = %q, want %q", verb, out, want)
		}
		check("Sprintf("+verb+", holder)", fmt.Sprintf(verb, holder{k}))
		check("Sprintf("+verb+", &holder)", fmt.Sprintf(verb, &holder{k}))
		check("Sprintf("+verb+", []any)", fmt.Sprintf(verb, []any{k}))
	}
}

var _ kms.Rotator = (*localkms.KEK)(nil)

// TestUnwrapReloadsAfterOtherProcessRotated: a KEK opened before another
// process rotated the file unwraps keys wrapped under the new version.
func TestUnwrapReloadsAfterOtherProcessRotated(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kek.key")
	a, err := localkms.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := localkms.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := a.Rotate(ctx); err != nil || v != 2 {
		t.Fatalf("Rotate: got (%d, %v), want (2, nil)", v, err)
	}
	dek := make([]byte, 32)
	w, err := a.Wrap(ctx, dek, []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := b.Version(), uint32(1); got != want {
		t.Fatalf("b.Version before unwrap: got %d, want %d", got, want)
	}
	if _, err := b.Unwrap(ctx, w, []byte("aad")); err != nil {
		t.Fatalf("b unwrapping a v2 wrap: %v", err)
	}
	if got, want := b.Version(), uint32(2); got != want {
		t.Fatalf("b.Version after reload: got %d, want %d", got, want)
	}
}
