package config_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/config"
)

func TestServerTable(t *testing.T) {
	const base = "[store]\nsqlite = \"kw.db\"\n[kek]\nuri = \"local:kek.key\"\n"
	c, err := config.Parse([]byte(base+`
[server]
addr             = "0.0.0.0:9000"
tls_cert_file    = "tls/cert.pem"
tls_key_file     = "tls/key.pem"
client_ca_file   = "/etc/keyward/clients.pem"
max_body         = 1048576
max_batch        = 500
rate_limit       = 50
rate_burst       = 100
read_timeout     = "10s"
write_timeout    = "20s"
idle_timeout     = "1m"
shutdown_timeout = "5s"
`), "/cfg")
	if err != nil {
		t.Fatal(err)
	}
	want := config.Server{
		Addr: "0.0.0.0:9000", TLSCertFile: "/cfg/tls/cert.pem", TLSKeyFile: "/cfg/tls/key.pem",
		ClientCAFile: "/etc/keyward/clients.pem", MaxBody: 1 << 20, MaxBatch: 500, RateLimit: 50, RateBurst: 100,
		ReadTimeout: 10 * time.Second, WriteTimeout: 20 * time.Second, IdleTimeout: time.Minute, ShutdownTimeout: 5 * time.Second,
	}
	if c.Server != want {
		t.Errorf("server =\n%+v\nwant\n%+v", c.Server, want)
	}

	c, err = config.Parse([]byte(base+"[server]\nrate_limit = 0\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := config.ServerDefaults(c.Server); got.RateLimit >= 0 || got.Addr != config.DefaultAddr || got.MaxBatch != config.DefaultMaxBatch {
		t.Errorf("rate_limit = 0 with defaults: got %+v, want rate limiting off and default addr and batch", got)
	}

	for _, tt := range []struct{ body, want string }{
		{"addr = \"localhost\"", "not HOST:PORT"},
		{"addr = \"\"", "server.addr is empty"},
		{"tls_cert_file = \"c.pem\"", "go together"},
		{"client_ca_file = \"ca.pem\"", "needs TLS"},
		{"max_body = 0", "server.max_body is 0"},
		{"max_batch = -1", "server.max_batch is -1"},
		{"rate_limit = -5", "server.rate_limit is -5"},
		{"rate_burst = 0", "server.rate_burst is 0"},
		{"read_timeout = \"0s\"", "server.read_timeout is not a positive duration"},
		{"write_timeout = 30", "must be a string such as"},
		{"listen = \":80\"", "unknown key server.listen"},
		{"tls_key = \"x\"", "inline secret"},
	} {
		_, err := config.Parse([]byte(base+"[server]\n"+tt.body+"\n"), "")
		if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want ErrInvalid containing %q", tt.body, err, tt.want)
		}
	}
}
