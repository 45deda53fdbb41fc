package localkms

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"

	"github.com/keyward/keyward/kms/internal/gcmkek"
)

const (
	// magic starts every key line.
	magic = "keyward-local-kek"
	// maxFileSize bounds what Open reads: about 14,000 versions.
	maxFileSize = 1 << 20
)

// header is written at the top of every key file.
const header = `# keyward local key-encryption key (KEK).
# development only — not for production.
# Anyone who can read this file can unwrap every data key it protects; keep it
# away from the database and its backups, with mode 0600. Production uses a KMS
# or HSM (pkcs11:, awskms:, gcpkms:, transit:).
# Do not edit. One line per KEK version; the highest version is current.
`

var b64 = base64.StdEncoding.Strict()

// parse reads a key file: the keys of versions 1, 2, … in order. It works on
// bytes, not strings, so that callers can wipe every copy of the keys. Its
// errors name line numbers, never line contents, which may hold key material.
func parse(data []byte) ([][]byte, error) {
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("larger than %d bytes", maxFileSize)
	}
	data = bytes.TrimSuffix(data, []byte("\n")) // the newline ending the last line
	var keys [][]byte
	for i, line := range bytes.Split(data, []byte("\n")) {
		n := i + 1
		switch {
		case len(line) == 0 || line[0] == '#':
			continue
		case bytes.IndexByte(line, '\r') >= 0:
			// Checked first: the base64 decoder would skip a '\r'.
			wipe(keys)
			return nil, fmt.Errorf("line %d: carriage return (the file must use \\n line endings)", n)
		}
		fields := bytes.Split(line, []byte(" "))
		if len(fields) != 3 || string(fields[0]) != magic {
			wipe(keys)
			return nil, fmt.Errorf("line %d: want %q, a version and a key separated by single spaces", n, magic)
		}
		if want := "v" + strconv.Itoa(len(keys)+1); string(fields[1]) != want {
			wipe(keys)
			return nil, fmt.Errorf("line %d: want version %s (versions start at v1 and go up by one)", n, want)
		}
		key := make([]byte, b64.DecodedLen(len(fields[2])))
		m, err := b64.Decode(key, fields[2])
		if err != nil || m != gcmkek.KeySize {
			clear(key)
			wipe(keys)
			return nil, fmt.Errorf("line %d: key is not %d bytes of padded standard base64", n, gcmkek.KeySize)
		}
		keys = append(keys, key[:m])
	}
	if len(keys) == 0 {
		return nil, errors.New("no key line")
	}
	return keys, nil
}

// encode returns the canonical key file for keys (version i+1 is keys[i]).
func encode(keys [][]byte) []byte {
	line := len(magic) + len(" v4294967295 ") + b64.EncodedLen(gcmkek.KeySize) + 1
	b := make([]byte, 0, len(header)+len(keys)*line) // no regrowth: no stray copies
	b = append(b, header...)
	for i, key := range keys {
		b = append(b, magic+" v"...)
		b = strconv.AppendInt(b, int64(i+1), 10)
		b = append(b, ' ')
		b = b64.AppendEncode(b, key)
		b = append(b, '\n')
	}
	return b
}

// readKeyFile opens, checks and parses the key file at path.
//
// It refuses symbolic links: Rotate replaces the file by renaming a new one
// over path, which would replace the link and leave its target stale, and the
// mode check must be about the file actually read. The file is Lstat-ed, then
// opened, then the open file is compared with the Lstat result, so a link or
// another file swapped in between is caught too.
func readKeyFile(path string) ([][]byte, error) {
	lfi, err := os.Lstat(path)
	if err != nil {
		return nil, fmt.Errorf("localkms: %w", err)
	}
	if lfi.Mode()&fs.ModeSymlink != 0 {
		return nil, fmt.Errorf("%w: %s is a symbolic link; give keyward the path of the key file itself", ErrInsecureFile, path)
	}
	if !lfi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file (%s)", ErrInsecureFile, path, lfi.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("localkms: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("localkms: %w", err)
	}
	if !os.SameFile(lfi, fi) {
		return nil, fmt.Errorf("%w: %s was replaced while being opened", ErrInsecureFile, path)
	}
	if err := checkMode(path, fi.Mode()); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("localkms: read %s: %w", path, err)
	}
	defer clear(data)
	keys, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrMalformedFile, path, err)
	}
	return keys, nil
}

// checkMode refuses a key file that group or others may read or write.
// Windows has no such mode bits; there the directory's ACL protects the file.
func checkMode(path string, mode fs.FileMode) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	if perm := mode.Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%w: %s has mode %04o, open to group or others; fix with: chmod 600 %s", ErrInsecureFile, path, perm, path)
	}
	return nil
}

// writeNew writes data to a new file at path with mode 0600, refusing to
// replace anything, and makes file and directory entry durable. On error
// nothing is left at path.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("localkms: %s already exists; refusing to overwrite a key file (it may protect existing data): %w", path, err)
	}
	if err != nil {
		return fmt.Errorf("localkms: create key file: %w", err)
	}
	_, err = f.Write(data)
	err = errors.Join(err, f.Sync(), f.Close())
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("localkms: write %s: %w", path, err)
	}
	return nil
}

// replace atomically replaces the file at path with data: a temporary file
// (mode 0600) in the same directory, fsync, rename, fsync of the directory.
func replace(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*") // mode 0600
	if err != nil {
		return fmt.Errorf("localkms: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	err = errors.Join(err, f.Sync(), f.Close())
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("localkms: replace %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("localkms: replace %s: %w", path, err)
	}
	return nil
}

// syncDir makes a directory's entries durable. Windows cannot fsync a
// directory and does not need to.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
