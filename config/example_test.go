package config_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/keyward/keyward/config"
)

// Load reads a config file; relative paths are resolved against the file's
// directory, and no secret is ever part of the file.
func ExampleLoad() {
	dir, err := os.MkdirTemp("", "keyward-config")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "keyward.toml")
	err = os.WriteFile(path, []byte(`
[store]
postgres      = "postgres://keyward@db.internal:5432/keyward?sslmode=verify-full"
password_file = "db-password"   # beside this file, mode 600

[kek]
uri = "local:kek.key"

[cache]
ttl = "1m"
`), 0o644)
	if err != nil {
		log.Fatal(err)
	}

	c, err := config.Load(path)
	if err != nil {
		log.Fatal(err)
	}
	rel, _ := filepath.Rel(dir, c.Store.Password.File)
	fmt.Println("password from:", rel)
	fmt.Println("kek is local:", strings.HasPrefix(c.KEK.URI, "local:"+dir))
	fmt.Println("cache ttl:", c.EngineOptions().CacheTTL)

	// A password in the URL is refused, and the error does not repeat it.
	_, err = config.Parse([]byte(`
[store]
postgres = "postgres://keyward:hunter2@db.internal/keyward"
[kek]
uri = "local:kek.key"
`), dir)
	fmt.Println(err)
	// Output:
	// password from: db-password
	// kek is local: true
	// cache ttl: 1m0s
	// config: invalid configuration: inline secret: store.postgres carries a password (user:PASSWORD@host); remove it from the URL, write the password to a file with mode 600 and set password_file (or password_fd, password_credential) in [store]
}
