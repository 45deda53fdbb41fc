package reencrypt

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// An owner names who holds a chunk's lease: host/pid/random. The random part
// tells this process from an earlier one that had the same pid.
type owner struct {
	host  string
	pid   int
	token string
}

func newOwner() (owner, error) {
	host, err := os.Hostname()
	if err != nil {
		return owner{}, fmt.Errorf("reencrypt: hostname: %w", err)
	}
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return owner{}, err
	}
	return owner{host: host, pid: os.Getpid(), token: hex.EncodeToString(b)}, nil
}

func (o owner) worker(i int) string {
	return fmt.Sprintf("%s/%d/%s#%d", o.host, o.pid, o.token, i)
}

// deadLocal reports whether lease holder h is a process on this host that
// no longer runs (killed, crashed), so its chunk can be taken over at once
// rather than when its lease expires. Anything it cannot prove dead is
// treated as alive.
func (o owner) deadLocal(h string) bool {
	parts := strings.SplitN(h, "/", 3)
	if len(parts) != 3 || parts[0] != o.host {
		return false
	}
	pid, err := strconv.Atoi(parts[1])
	if err != nil || pid <= 0 {
		return false
	}
	token, _, _ := strings.Cut(parts[2], "#")
	if pid == o.pid {
		return token != o.token // an earlier process with our pid
	}
	return processGone(pid)
}
