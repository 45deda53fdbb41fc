package config

import (
	"net"
	"time"
)

// Server defaults, used when the [server] table leaves a key out.
const (
	// DefaultAddr is where keyward serve listens: loopback only, so a
	// fresh install is not reachable from the network by accident.
	DefaultAddr = "127.0.0.1:8420"
	// DefaultMaxBody bounds a request body: one value of the largest size
	// (4 MiB) in base64 and JSON fits.
	DefaultMaxBody = 8 << 20
	// DefaultMaxBatch bounds the items of one encrypt, decrypt or rewrap
	// batch.
	DefaultMaxBatch = 1000
	// DefaultRateLimit is the sustained number of requests per second one
	// token may make; DefaultRateBurst how many it may make at once.
	DefaultRateLimit = 1000
	DefaultRateBurst = 2000
	// The HTTP timeouts.
	DefaultReadTimeout     = 30 * time.Second
	DefaultWriteTimeout    = 60 * time.Second
	DefaultIdleTimeout     = 120 * time.Second
	DefaultShutdownTimeout = 30 * time.Second
)

// Limits on server values.
const (
	// MaxBody is the largest server.max_body: 256 MiB.
	MaxBody = 256 << 20
	// MaxBatch is the largest server.max_batch.
	MaxBatch = 100_000
	// MaxRate bounds server.rate_limit and server.rate_burst.
	MaxRate = 10_000_000
)

// Server is the [server] table: how keyward serve listens. A zero value
// selects the default; ServerDefaults fills them in.
type Server struct {
	// Addr is the HOST:PORT to listen on (default 127.0.0.1:8420).
	Addr string
	// TLSCertFile and TLSKeyFile are PEM files of the server's certificate
	// chain and private key; both or neither. With them keyward serves
	// HTTPS only (TLS 1.2 or later).
	TLSCertFile, TLSKeyFile string
	// ClientCAFile is a PEM file of CA certificates; when set, every client
	// must present a certificate signed by one of them (mutual TLS). It
	// needs TLSCertFile.
	ClientCAFile string
	// MaxBody bounds a request body in bytes (default 8 MiB).
	MaxBody int64
	// MaxBatch bounds the items of one batch (default 1000).
	MaxBatch int
	// RateLimit is the sustained requests per second allowed per token
	// (default 1000); negative disables rate limiting ("off" is rate_limit
	// = 0 in the file). RateBurst is the burst (default 2000).
	RateLimit float64
	RateBurst int
	// The HTTP timeouts: reading a request, writing a response, keeping an
	// idle connection, and waiting for in-flight requests at shutdown.
	ReadTimeout, WriteTimeout, IdleTimeout, ShutdownTimeout time.Duration
}

// ServerDefaults returns s with every zero value replaced by its default.
func ServerDefaults(s Server) Server {
	if s.Addr == "" {
		s.Addr = DefaultAddr
	}
	if s.MaxBody == 0 {
		s.MaxBody = DefaultMaxBody
	}
	if s.MaxBatch == 0 {
		s.MaxBatch = DefaultMaxBatch
	}
	if s.RateLimit == 0 {
		s.RateLimit = DefaultRateLimit
	}
	if s.RateBurst == 0 {
		s.RateBurst = DefaultRateBurst
	}
	for _, d := range []struct {
		p   *time.Duration
		def time.Duration
	}{
		{&s.ReadTimeout, DefaultReadTimeout}, {&s.WriteTimeout, DefaultWriteTimeout},
		{&s.IdleTimeout, DefaultIdleTimeout}, {&s.ShutdownTimeout, DefaultShutdownTimeout},
	} {
		if *d.p == 0 {
			*d.p = d.def
		}
	}
	return s
}

// validateServer checks the [server] values however the Config was built.
func (c *Config) validateServer() error {
	s := c.Server
	if s.Addr != "" {
		if _, _, err := net.SplitHostPort(s.Addr); err != nil {
			return invalid("server.addr %q is not HOST:PORT (e.g. 127.0.0.1:8420, or :8420 for every interface)", s.Addr)
		}
	}
	switch {
	case (s.TLSCertFile == "") != (s.TLSKeyFile == ""):
		return invalid("server.tls_cert_file and server.tls_key_file go together; set both or neither")
	case s.ClientCAFile != "" && s.TLSCertFile == "":
		return invalid("server.client_ca_file needs TLS: set server.tls_cert_file and server.tls_key_file too")
	case s.MaxBody < 0 || s.MaxBody > MaxBody:
		return invalid("server.max_body is %d; it must be between 1 and %d bytes", s.MaxBody, MaxBody)
	case s.MaxBatch < 0 || s.MaxBatch > MaxBatch:
		return invalid("server.max_batch is %d; it must be between 1 and %d", s.MaxBatch, MaxBatch)
	case s.RateLimit > MaxRate:
		return invalid("server.rate_limit is %v; it must be at most %d (or 0 for off)", s.RateLimit, MaxRate)
	case s.RateBurst < 0 || s.RateBurst > MaxRate:
		return invalid("server.rate_burst is %d; it must be between 1 and %d", s.RateBurst, MaxRate)
	case s.ReadTimeout < 0 || s.WriteTimeout < 0 || s.IdleTimeout < 0 || s.ShutdownTimeout < 0:
		return invalid("server timeouts must be positive durations")
	}
	return nil
}

// buildServer builds the [server] table of the file.
func buildServer(f *file, def func(...string) bool, dir string) (Server, error) {
	fs := f.Server
	s := Server{Addr: fs.Addr}
	if def("server", "addr") && fs.Addr == "" {
		return s, invalid("server.addr is empty; give HOST:PORT, or omit it for %s", DefaultAddr)
	}
	for _, p := range []struct {
		key string
		in  string
		out *string
	}{
		{"tls_cert_file", fs.TLSCertFile, &s.TLSCertFile},
		{"tls_key_file", fs.TLSKeyFile, &s.TLSKeyFile},
		{"client_ca_file", fs.ClientCAFile, &s.ClientCAFile},
	} {
		if def("server", p.key) {
			if p.in == "" {
				return s, invalid("server.%s is empty; give a path, or omit it", p.key)
			}
			*p.out = resolve(dir, p.in)
		}
	}
	if def("server", "max_body") {
		if fs.MaxBody < 1 || fs.MaxBody > MaxBody {
			return s, invalid("server.max_body is %d; it must be between 1 and %d bytes", fs.MaxBody, MaxBody)
		}
		s.MaxBody = fs.MaxBody
	}
	if def("server", "max_batch") {
		if fs.MaxBatch < 1 || fs.MaxBatch > MaxBatch {
			return s, invalid("server.max_batch is %d; it must be between 1 and %d", fs.MaxBatch, MaxBatch)
		}
		s.MaxBatch = int(fs.MaxBatch)
	}
	if def("server", "rate_limit") {
		switch {
		case fs.RateLimit == 0:
			s.RateLimit = -1 // off
		case fs.RateLimit < 0 || fs.RateLimit > MaxRate:
			return s, invalid("server.rate_limit is %d; it must be between 1 and %d requests per second per token, or 0 for off", fs.RateLimit, MaxRate)
		default:
			s.RateLimit = float64(fs.RateLimit)
		}
	}
	if def("server", "rate_burst") {
		if fs.RateBurst < 1 || fs.RateBurst > MaxRate {
			return s, invalid("server.rate_burst is %d; it must be between 1 and %d", fs.RateBurst, MaxRate)
		}
		s.RateBurst = int(fs.RateBurst)
	}
	for _, d := range []struct {
		key string
		in  string
		out *time.Duration
	}{
		{"read_timeout", fs.ReadTimeout, &s.ReadTimeout},
		{"write_timeout", fs.WriteTimeout, &s.WriteTimeout},
		{"idle_timeout", fs.IdleTimeout, &s.IdleTimeout},
		{"shutdown_timeout", fs.ShutdownTimeout, &s.ShutdownTimeout},
	} {
		if !def("server", d.key) {
			continue
		}
		v, err := time.ParseDuration(d.in)
		if err != nil || v <= 0 {
			return s, invalid("server.%s is not a positive duration such as \"30s\"", d.key)
		}
		*d.out = v
	}
	return s, nil
}
