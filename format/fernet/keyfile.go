package fernet

import (
	"bytes"
	"fmt"
)

// SplitKeyFile reads the contents of a Fernet key file: one encoded key per
// line, newest first (the order of MultiFernet's list); blank lines and lines
// starting with '#' are skipped, surrounding spaces and CR ignored. It
// returns the encoded keys, aliasing data, after checking each parses; an
// error names the line, never its content. A file without any key is an
// error.
func SplitKeyFile(data []byte) ([][]byte, error) {
	var keys [][]byte
	for i, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		raw, err := DecodeKey(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		clear(raw)
		keys = append(keys, line)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no fernet key in the file (want one url-safe base64 key per line, newest first)", ErrMalformed)
	}
	return keys, nil
}

// ParseKeyFile parses the contents of a key file (see SplitKeyFile) into
// keys, newest first, ready for Decrypt.
func ParseKeyFile(data []byte) ([]*Key, error) {
	encoded, err := SplitKeyFile(data)
	if err != nil {
		return nil, err
	}
	keys := make([]*Key, len(encoded))
	for i, e := range encoded {
		if keys[i], err = ParseKey(e); err != nil {
			return nil, err
		}
	}
	return keys, nil
}
