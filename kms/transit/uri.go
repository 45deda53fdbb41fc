package transit

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/keyward/keyward/kms"
)

// ParseURI parses a KEK URI of the form
//
//	transit:https://vault.internal:8200/MOUNT/KEY
//
// into a Config with Addr, Mount and Key set. The last path segment is the
// key, the segments before it the mount ("transit:https://v:8200/team/transit/k"
// has mount "team/transit"; with Vault Enterprise or OpenBao namespaces, a
// namespace may lead the path the same way). The caller adds the token.
//
// A KEK URI never carries a secret: ParseURI refuses user information
// (https://TOKEN@host), any query (?token=…) and fragment, and does not echo
// such a URI in its error. Errors wrap kms.ErrInvalidURI.
func ParseURI(s string) (Config, error) {
	u, err := kms.ParseURI(s)
	if err != nil {
		return Config{}, err
	}
	if u.Scheme != Scheme {
		return Config{}, fmt.Errorf("%w: scheme %q is not %s", kms.ErrInvalidURI, u.Scheme, Scheme)
	}
	const want = "want transit:https://HOST:PORT/MOUNT/KEY"
	pu, err := url.Parse(u.Opaque)
	if err != nil || pu.Host == "" || pu.Opaque != "" {
		return Config{}, fmt.Errorf("%w: transit uri does not hold an absolute url; %s", kms.ErrInvalidURI, want)
	}
	origin := pu.Scheme + "://" + pu.Host
	switch {
	case pu.User != nil:
		return Config{}, fmt.Errorf("%w: transit uri for %s carries user information; a kek uri never carries the token: load it with package credential (file, fd or systemd credential)",
			kms.ErrInvalidURI, origin)
	case pu.RawQuery != "" || pu.ForceQuery:
		return Config{}, fmt.Errorf("%w: transit uri for %s has a query; a kek uri takes no parameters and never carries the token: load it with package credential (file, fd or systemd credential)",
			kms.ErrInvalidURI, origin)
	case pu.Fragment != "" || strings.Contains(u.Opaque, "#"):
		return Config{}, fmt.Errorf("%w: transit uri for %s has a fragment", kms.ErrInvalidURI, origin)
	case pu.RawPath != "" || strings.Contains(pu.Path, "%"):
		return Config{}, fmt.Errorf("%w: transit uri for %s has an escaped path", kms.ErrInvalidURI, origin)
	}
	addr, err := checkAddr(origin)
	if err != nil {
		return Config{}, fmt.Errorf("%w: %w", kms.ErrInvalidURI, err)
	}
	segs := strings.Split(strings.TrimPrefix(pu.Path, "/"), "/")
	if len(segs) < 2 {
		return Config{}, fmt.Errorf("%w: transit uri for %s names no mount and key; %s", kms.ErrInvalidURI, origin, want)
	}
	if segs[0] == "v1" {
		return Config{}, fmt.Errorf("%w: transit uri for %s: leave out /v1/; %s", kms.ErrInvalidURI, origin, want)
	}
	cfg := Config{Addr: addr, Mount: strings.Join(segs[:len(segs)-1], "/"), Key: segs[len(segs)-1]}
	if err := checkPath("mount", cfg.Mount); err != nil {
		return Config{}, fmt.Errorf("%w: %w", kms.ErrInvalidURI, err)
	}
	if err := checkKeyName(cfg.Key); err != nil {
		return Config{}, fmt.Errorf("%w: %w", kms.ErrInvalidURI, err)
	}
	return cfg, nil
}

// URI returns the KEK URI of cfg's key, which is also the KEK id: the
// namespace, if any, leads the path. It never includes the token.
func (cfg Config) URI() string {
	return kekID(strings.TrimSuffix(cfg.Addr, "/"), strings.Trim(cfg.Namespace, "/"), cfg.Mount, cfg.Key)
}
