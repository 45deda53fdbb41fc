package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/config"
)

// FuzzParse checks that no input makes Parse panic, that what Parse accepts
// validates, and that an error never quotes a value written under a
// password key.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.toml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(data))
	}
	for _, s := range []string{
		"",
		"[store]\nsqlite = \"k.db\"\n[kek]\nuri = \"local:k\"\n",
		"[store]\npostgres = \"postgres://u:" + canary + "@h/d?password=" + canary + "\"\n",
		"[store]\npostgres = \"host=h password='" + canary + "\"\n",
		"[kek]\nuri = \"pkcs11:object=k;pin-value=" + canary + "\"\n",
		"password = " + canary + "\n",
		"[[store]]\n[cache]\nttl = 5\nsize = 1e3\n",
		"a = {b = [1, {c = 'd'}]}\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, err := config.Parse([]byte(in), "/etc/keyward")
		if err != nil {
			if !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			if strings.Contains(in, "password = \""+canary) && strings.Contains(err.Error(), canary) {
				t.Fatalf("error quotes a password: %v", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a config Validate refuses: %v", err)
		}
	})
}
