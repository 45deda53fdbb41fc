package credential

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// readFile reads the secret file at path. It follows symbolic links and
// checks the file actually opened: a regular file, no larger than MaxSize
// and, when private is set, without permission for group or others. The
// path is stat-ed before it is opened, so a FIFO or device is refused without
// blocking on it, and the open file is compared with that result, so a file
// swapped in between is caught.
func readFile(path string, private bool) ([]byte, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("credential: secret file %s does not exist: create it with mode 600 or fix the path: %w", path, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("credential: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file (%s); give the path of the file holding the secret", ErrInvalidSource, path, typeName(fi.Mode()))
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("credential: %w", err)
	}
	defer f.Close()
	ofi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("credential: %w", err)
	}
	if !os.SameFile(fi, ofi) {
		return nil, fmt.Errorf("%w: %s was replaced while being opened", ErrInvalidSource, path)
	}
	if private {
		if err := checkPrivate(path, ofi.Mode()); err != nil {
			return nil, err
		}
	}
	return readLimited(f, ofi, path)
}

// checkPrivate refuses a file that group or others may read or write.
// Windows has no such mode bits; there the file's ACL protects it.
func checkPrivate(path string, mode fs.FileMode) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	if perm := mode.Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%w: %s has mode %04o, open to group or others; fix with: chmod 600 %s", ErrInsecureFile, path, perm, path)
	}
	return nil
}

// readLimited reads r to its end, refusing more than MaxSize bytes. fi, if
// not nil, describes a regular file whose size is checked first.
func readLimited(r io.Reader, fi fs.FileInfo, what string) ([]byte, error) {
	if fi != nil && fi.Mode().IsRegular() && fi.Size() > MaxSize {
		return nil, fmt.Errorf("%w: %s is %d bytes, more than the %d a secret may have; is it the right file?", ErrInvalidSource, what, fi.Size(), MaxSize)
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		clear(data)
		return nil, fmt.Errorf("credential: read %s: %w", what, err)
	}
	if len(data) > MaxSize {
		clear(data)
		return nil, fmt.Errorf("%w: %s holds more than the %d bytes a secret may have; is it the right source?", ErrInvalidSource, what, MaxSize)
	}
	return data, nil
}

// readCredential reads the systemd credential name (a plain file name,
// checked by Source.Check) from $CREDENTIALS_DIRECTORY.
func readCredential(name string, getenv func(string) string) ([]byte, error) {
	dir := getenv(CredentialsDirEnv)
	if dir == "" {
		return nil, fmt.Errorf("%w: $%s is not set: is the unit using LoadCredential=%s:PATH (systemd 247 or later)? outside systemd use a file or a file descriptor instead", ErrInvalidSource, CredentialsDirEnv, name)
	}
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("%w: $%s is %s, not an absolute path", ErrInvalidSource, CredentialsDirEnv, dir)
	}
	path := filepath.Join(dir, name)
	data, err := readFile(path, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("credential: systemd credential %s not found in %s: add LoadCredential=%s:PATH to the unit: %w", name, dir, name, fs.ErrNotExist)
	}
	return data, err
}

// validCredentialName reports whether name is a plain file name, as systemd
// requires of credential names.
func validCredentialName(name string) bool {
	if name == "" || name == "." || name == ".." || len(name) > 255 {
		return false
	}
	return !strings.ContainsFunc(name, func(r rune) bool {
		return r == '/' || r == '\\' || r < 0x20 || r == 0x7f
	})
}

// typeName names a non-regular file type for an error message.
func typeName(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m&fs.ModeIrregular != 0:
		return "an irregular file"
	}
	return "mode " + m.String()
}
