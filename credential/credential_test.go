package credential_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/keyward/keyward/credential"
)

// canary is a secret that must never appear in an error.
const canary = "canary-s3cr3t-7f1d"

// noEnv is a getenv that finds nothing.
func noEnv(string) string { return "" }

// writeFile writes data to dir/name with mode perm (exactly, not umasked).
func writeFile(t *testing.T, dir, name string, data []byte, perm os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil {
		t.Fatal(err)
	}
	return path
}

// noCanary fails if err's text contains the canary.
func noCanary(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), canary) {
		t.Errorf("error contains the secret: %v", err)
	}
}

func TestLoadFileModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no mode bits on windows")
	}
	tests := []struct {
		perm os.FileMode
		ok   bool
	}{
		{0o600, true},
		{0o400, true},
		{0o700, true},
		{0o640, false},
		{0o604, false},
		{0o644, false},
		{0o660, false},
		{0o620, false},
		{0o602, false},
		{0o666, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%04o", tt.perm), func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "pw", []byte(canary+"\n"), tt.perm)
			got, err := credential.Load(credential.Source{File: path}, noEnv)
			noCanary(t, err)
			if tt.ok {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if string(got.Reveal()) != canary {
					t.Errorf("Load = %q, want %q", got.Reveal(), canary)
				}
				return
			}
			if !errors.Is(err, credential.ErrInsecureFile) {
				t.Fatalf("Load err = %v, want ErrInsecureFile", err)
			}
			if want := "chmod 600 " + path; !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		})
	}
}

func TestLoadFileSymlink(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symlinks need privileges on windows")
	}
	dir := t.TempDir()
	private := writeFile(t, dir, "private", []byte(canary), 0o600)
	public := writeFile(t, dir, "public", []byte(canary), 0o644)
	link := func(target, name string) string {
		p := filepath.Join(dir, name)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// A link to a private file is followed: secret volumes (Kubernetes)
	// publish files through links. The link's own mode (0777) does not count.
	got, err := credential.Load(credential.Source{File: link(private, "to-private")}, noEnv)
	if err != nil {
		t.Fatalf("link to 0600 file: %v", err)
	}
	if string(got.Reveal()) != canary {
		t.Errorf("link to 0600 file = %q", got.Reveal())
	}
	// The mode checked is the target's.
	_, err = credential.Load(credential.Source{File: link(public, "to-public")}, noEnv)
	if !errors.Is(err, credential.ErrInsecureFile) {
		t.Errorf("link to 0644 file: err = %v, want ErrInsecureFile", err)
	}
	noCanary(t, err)
	// A dangling link is a missing file.
	_, err = credential.Load(credential.Source{File: link(filepath.Join(dir, "nowhere"), "dangling")}, noEnv)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("dangling link: err = %v, want fs.ErrNotExist", err)
	}
}

func TestLoadFileRefused(t *testing.T) {
	dir := t.TempDir()
	big := writeFile(t, dir, "big", []byte(strings.Repeat(canary, credential.MaxSize/len(canary)+1)), 0o600)
	tests := []struct {
		name    string
		path    string
		want    error
		wantMsg string
	}{
		{"directory", dir, credential.ErrInvalidSource, "is not a regular file (a directory)"},
		{"missing", filepath.Join(dir, "missing"), fs.ErrNotExist, "create it with mode 600"},
		{"oversized", big, credential.ErrInvalidSource, "more than the 65536"},
		{"empty", writeFile(t, dir, "empty", nil, 0o600), credential.ErrEmpty, "holds no secret"},
		{"only newline", writeFile(t, dir, "nl", []byte("\n"), 0o600), credential.ErrEmpty, "holds no secret"},
		{"only crlf", writeFile(t, dir, "crlf", []byte("\r\n"), 0o600), credential.ErrEmpty, "holds no secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := credential.Load(credential.Source{File: tt.path}, noEnv)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Load = %v, %v; want %v", got, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
			noCanary(t, err)
		})
	}
}

func TestLoadFileMaxSize(t *testing.T) {
	path := writeFile(t, t.TempDir(), "max", []byte(strings.Repeat("x", credential.MaxSize)), 0o600)
	got, err := credential.Load(credential.Source{File: path}, noEnv)
	if err != nil {
		t.Fatalf("a secret of exactly MaxSize bytes: %v", err)
	}
	if got.Len() != credential.MaxSize {
		t.Errorf("Len = %d, want %d", got.Len(), credential.MaxSize)
	}
}

func TestLoadTrailingNewline(t *testing.T) {
	tests := []struct{ in, want string }{
		{"pw", "pw"},
		{"pw\n", "pw"},
		{"pw\r\n", "pw"},
		{"pw\n\n", "pw\n"},
		{"pw\r\n\r\n", "pw\r\n"},
		{"pw\r", "pw\r"},
		{" pw \t", " pw \t"},
		{"\npw", "\npw"},
		{"multi\nline\n", "multi\nline"},
		{"bin\x00ary\xff\n", "bin\x00ary\xff"},
	}
	dir := t.TempDir()
	for i, tt := range tests {
		path := writeFile(t, dir, fmt.Sprint(i), []byte(tt.in), 0o600)
		got, err := credential.Load(credential.Source{File: path}, noEnv)
		if err != nil {
			t.Errorf("Load(%q): %v", tt.in, err)
			continue
		}
		if string(got.Reveal()) != tt.want {
			t.Errorf("Load(%q) = %q, want %q", tt.in, got.Reveal(), tt.want)
		}
	}
}

func TestLoadCredential(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "db-password", []byte(canary+"\n"), 0o400)
	// systemd keeps the directory private to the unit's user, so the file's
	// own mode bits are not checked.
	writeFile(t, dir, "group-readable", []byte(canary), 0o440)
	writeFile(t, dir, "empty", nil, 0o400)
	if err := os.Mkdir(filepath.Join(dir, "subdir"), 0o700); err != nil {
		t.Fatal(err)
	}
	env := func(k string) string {
		if k == credential.CredentialsDirEnv {
			return dir
		}
		return ""
	}

	for _, name := range []string{"db-password", "group-readable"} {
		got, err := credential.Load(credential.Source{Credential: name}, env)
		if err != nil {
			t.Fatalf("Load(%s): %v", name, err)
		}
		if string(got.Reveal()) != canary {
			t.Errorf("Load(%s) = %q, want %q", name, got.Reveal(), canary)
		}
	}

	tests := []struct {
		name    string
		cred    string
		env     func(string) string
		want    error
		wantMsg string
	}{
		{"no credentials directory", "db-password", noEnv, credential.ErrInvalidSource, "$CREDENTIALS_DIRECTORY is not set: is the unit using LoadCredential="},
		{"relative credentials directory", "db-password", func(string) string { return "creds" }, credential.ErrInvalidSource, "not an absolute path"},
		{"missing credential", "other", env, fs.ErrNotExist, "add LoadCredential=other:PATH"},
		{"empty credential", "empty", env, credential.ErrEmpty, "holds no secret"},
		{"directory", "subdir", env, credential.ErrInvalidSource, "not a regular file"},
		{"parent", "..", env, credential.ErrInvalidSource, "not a plain file name"},
		{"dot", ".", env, credential.ErrInvalidSource, "not a plain file name"},
		{"traversal", "../db-password", env, credential.ErrInvalidSource, "not a plain file name"},
		{"absolute", "/etc/passwd", env, credential.ErrInvalidSource, "not a plain file name"},
		{"subdirectory", "subdir/x", env, credential.ErrInvalidSource, "not a plain file name"},
		{"backslash", `..\db-password`, env, credential.ErrInvalidSource, "not a plain file name"},
		{"nul", "db-password\x00", env, credential.ErrInvalidSource, "not a plain file name"},
		{"newline", "db\npassword", env, credential.ErrInvalidSource, "not a plain file name"},
		{"too long", strings.Repeat("a", 256), env, credential.ErrInvalidSource, "not a plain file name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := credential.Load(credential.Source{Credential: tt.cred}, tt.env)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Load err = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
			noCanary(t, err)
		})
	}
}

func TestLoadSourceCount(t *testing.T) {
	_, err := credential.Load(credential.Source{}, noEnv)
	if !errors.Is(err, credential.ErrNoSource) {
		t.Errorf("no source: err = %v, want ErrNoSource", err)
	} else if !strings.Contains(err.Error(), "set password_file, password_fd or password_credential") {
		t.Errorf("no source: error %q does not say what to set", err)
	}
	for _, src := range []credential.Source{
		{File: "/etc/keyward/pw", FD: 3},
		{File: "/etc/keyward/pw", Credential: "pw"},
		{FD: 3, Credential: "pw"},
		{File: "/etc/keyward/pw", FD: 3, Credential: "pw"},
	} {
		_, err := credential.Load(src, noEnv)
		if !errors.Is(err, credential.ErrAmbiguous) {
			t.Errorf("Load(%v): err = %v, want ErrAmbiguous", src, err)
		}
	}
}

func TestSource(t *testing.T) {
	if !(credential.Source{}).IsZero() {
		t.Error("zero Source: IsZero = false")
	}
	for _, s := range []credential.Source{{File: "f"}, {FD: 3}, {FD: -1}, {Credential: "c"}} {
		if s.IsZero() {
			t.Errorf("%v: IsZero = true", s)
		}
	}
	if got, want := (credential.Source{File: "/etc/pw", FD: 3}).String(), "file /etc/pw and fd 3"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if got, want := (credential.Source{Credential: "db"}).String(), "systemd credential db"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}

func TestRefuseEnv(t *testing.T) {
	env := map[string]string{"PGPASSWORD": canary, "KEYWARD_PIN": canary, "EMPTY": ""}
	getenv := func(k string) string { return env[k] }

	if err := credential.RefuseEnv(getenv); err != nil {
		t.Errorf("no names: %v", err)
	}
	if err := credential.RefuseEnv(getenv, "HOME", "EMPTY"); err != nil {
		t.Errorf("unset and empty variables: %v", err)
	}
	err := credential.RefuseEnv(getenv, "KEYWARD_DB_PASSWORD", "PGPASSWORD", "KEYWARD_PIN")
	if !errors.Is(err, credential.ErrSecretInEnv) {
		t.Fatalf("err = %v, want ErrSecretInEnv", err)
	}
	for _, want := range []string{"PGPASSWORD is set", "unset PGPASSWORD", "a file", "a file descriptor", "a systemd credential"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "KEYWARD_PIN") {
		t.Errorf("error names a later variable, not the first set: %v", err)
	}
	noCanary(t, err)
}
