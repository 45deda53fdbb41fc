// Package credential is the one place where keyward loads a secret it needs
// to start: the database password today, the HSM PIN and the TLS key
// passphrase later.
//
// The rule it enforces: a secret keyward needs comes from a file, an
// inherited file descriptor or a systemd credential — never from a
// command-line flag (visible to every user in ps and /proc/PID/cmdline),
// never from an environment variable's value (inherited by child processes,
// readable in /proc/PID/environ, copied into crash reports and debug dumps),
// never from a config file (which is copied, versioned and shared far more
// widely than a secret may be). A [Source] names where one secret lives;
// [Load] reads it into a redacting [secret.Bytes]; [RefuseEnv] refuses to
// start while a well-known secret-carrying variable such as PGPASSWORD is
// set, because libraries (libpq, pgx) would read it behind keyward's back.
//
// # Sources
//
//   - File: a regular file of at most [MaxSize] bytes that neither group nor
//     others may read or write (mode 0600 or 0400; fix with chmod 600 PATH).
//     Symbolic links are followed and the mode of the file they lead to is
//     checked: Kubernetes secret volumes and similar tools publish secrets
//     through links, and the secret is only ever read, never replaced.
//   - FD: a file descriptor (3 or above) the parent process opened for
//     keyward, e.g. `keyward serve 3</etc/keyward/db-password` or a pipe.
//     It is read to end of file through a duplicate, so the writer of a pipe
//     must close its end; the descriptor itself is left open. A regular file
//     behind it must be private like a File; a pipe or socket is accepted as
//     is. Descriptors the Go runtime opened for itself (anon_inode on Linux)
//     are refused, which catches a descriptor number that was never passed.
//   - Credential: a systemd credential, read from
//     $CREDENTIALS_DIRECTORY/NAME (LoadCredential=, LoadCredentialEncrypted=
//     or SetCredential= in the unit). The name must be a plain file name.
//     systemd makes that directory private to the unit's user, on memory
//     that is not swapped where possible, so the file's mode bits are not
//     checked; it must still be a regular file of at most MaxSize bytes.
//
// One trailing newline ("\n" or "\r\n"), as editors and `echo` add, is
// removed; every other byte is part of the secret. An empty secret is an
// error. Errors say what to do next and never contain the secret: they name
// paths, descriptor numbers and credential names only.
package credential

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/keyward/keyward/secret"
)

// MaxSize is the largest secret Load reads, in bytes. Passwords, PINs and
// passphrases are far smaller; the limit keeps a wrong path (a log file, a
// device) from being read into memory.
const MaxSize = 64 << 10

// CredentialsDirEnv is the environment variable systemd sets to the unit's
// credentials directory.
const CredentialsDirEnv = "CREDENTIALS_DIRECTORY"

// Sentinel errors. Load and RefuseEnv wrap them with %w.
var (
	// ErrInsecureFile reports a secret file (or a file behind a descriptor)
	// that group or others may read or write.
	ErrInsecureFile = errors.New("credential: insecure secret file")
	// ErrNoSource reports a Source with no field set.
	ErrNoSource = errors.New("credential: no secret source")
	// ErrAmbiguous reports a Source with more than one field set.
	ErrAmbiguous = errors.New("credential: more than one secret source")
	// ErrEmpty reports a secret that is empty once its trailing newline is
	// removed.
	ErrEmpty = errors.New("credential: empty secret")
	// ErrInvalidSource reports a source that cannot hold a secret: a
	// descriptor below 3 or not passed to keyward, a credential name that
	// is not a plain file name, a missing $CREDENTIALS_DIRECTORY, a path
	// that is not a regular file, or a secret larger than MaxSize. A missing
	// file wraps fs.ErrNotExist instead.
	ErrInvalidSource = errors.New("credential: invalid secret source")
	// ErrSecretInEnv reports an environment variable that carries a secret.
	ErrSecretInEnv = errors.New("credential: secret in an environment variable")
)

// Source names where one secret comes from; exactly one field is set.
type Source struct {
	// File is the path of a file holding the secret. It is refused if group
	// or others may read or write it (mode & 0o077), if it is not a regular
	// file, or if it is larger than MaxSize.
	File string
	// FD is an inherited file descriptor number (3 or above) to read the
	// secret from; 0 means unset.
	FD int
	// Credential is a systemd credential name, read from
	// $CREDENTIALS_DIRECTORY/NAME. It must be a plain file name.
	Credential string
}

// IsZero reports whether no field of s is set.
func (s Source) IsZero() bool { return s.File == "" && s.FD == 0 && s.Credential == "" }

// String describes s without any secret (a Source holds none): the field
// set and its value, e.g. "file /etc/keyward/db-password", "fd 3" or
// "systemd credential db-password".
func (s Source) String() string {
	var parts []string
	if s.File != "" {
		parts = append(parts, "file "+s.File)
	}
	if s.FD != 0 {
		parts = append(parts, fmt.Sprintf("fd %d", s.FD))
	}
	if s.Credential != "" {
		parts = append(parts, "systemd credential "+s.Credential)
	}
	if len(parts) == 0 {
		return "no source"
	}
	return strings.Join(parts, " and ")
}

// Check validates s without reading anything: exactly one field set, a
// descriptor of 3 or above, a credential name that is a plain file name.
// Load calls it first; a config parser calls it to report mistakes early.
func (s Source) Check() error {
	n := 0
	for _, set := range []bool{s.File != "", s.FD != 0, s.Credential != ""} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		return fmt.Errorf("%w: name a file, a file descriptor or a systemd credential (for the database password: set password_file, password_fd or password_credential)", ErrNoSource)
	case n > 1:
		return fmt.Errorf("%w: %s are set together; keep exactly one", ErrAmbiguous, s)
	case s.FD != 0 && s.FD < 3:
		return fmt.Errorf("%w: fd %d is standard input, output or error (or negative); pass the secret on descriptor 3 or above, e.g. 3<FILE", ErrInvalidSource, s.FD)
	case s.Credential != "" && !validCredentialName(s.Credential):
		return fmt.Errorf("%w: credential name %q is not a plain file name (no /, \\, . or .., no control characters, at most 255 bytes)", ErrInvalidSource, s.Credential)
	}
	return nil
}

// Load reads the secret src names. getenv looks up $CREDENTIALS_DIRECTORY
// for a Credential source (os.Getenv in production; nil means os.Getenv).
// The caller owns the result and should Wipe it once it is no longer needed.
func Load(src Source, getenv func(string) string) (secret.Bytes, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if err := src.Check(); err != nil {
		return secret.Bytes{}, err
	}
	var (
		data []byte
		err  error
		what string
	)
	switch {
	case src.File != "":
		what = src.File
		data, err = readFile(src.File, true)
	case src.FD != 0:
		what = fmt.Sprintf("fd %d", src.FD)
		data, err = readFD(src.FD)
	default:
		what = "systemd credential " + src.Credential
		data, err = readCredential(src.Credential, getenv)
	}
	if err != nil {
		return secret.Bytes{}, err
	}
	defer clear(data)
	value := trimNewline(data)
	if len(value) == 0 {
		return secret.Bytes{}, fmt.Errorf("%w: %s holds no secret (write the secret into it; one trailing newline is ignored)", ErrEmpty, what)
	}
	return secret.New(value), nil
}

// trimNewline removes one trailing "\n" or "\r\n".
func trimNewline(b []byte) []byte {
	if v, ok := bytes.CutSuffix(b, []byte("\r\n")); ok {
		return v
	}
	v, _ := bytes.CutSuffix(b, []byte("\n"))
	return v
}

// RefuseEnv returns an error wrapping ErrSecretInEnv that names the first of
// names set to a non-empty value in the environment getenv reads (nil means
// os.Getenv). keyward takes no secret from an environment value, and some
// libraries read such variables on their own (libpq and pgx read
// PGPASSWORD), so a process with one set must not start. The error names the
// variable, never its value.
func RefuseEnv(getenv func(string) string, names ...string) error {
	if getenv == nil {
		getenv = os.Getenv
	}
	for _, name := range names {
		if getenv(name) != "" {
			return fmt.Errorf("%w: %s is set; keyward takes no secret from an environment value "+
				"(child processes inherit it and it shows in /proc/PID/environ and crash dumps): "+
				"unset %s and put the secret in a file (mode 600), a file descriptor or a systemd credential",
				ErrSecretInEnv, name, name)
		}
	}
	return nil
}
