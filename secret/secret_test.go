package secret_test

import (
	"bytes"
	"encoding/base64"
	"encoding/gob"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"strings"
	"testing"
	"text/template"

	"github.com/keyward/keyward/secret"
)

const canary = "kw-canary-7f3a91-SECRET"

// leaks reports the forms of the canary that out contains.
func leaks(out string) []string {
	c := []byte(canary)
	forms := map[string]string{
		"raw":            canary,
		"prefix":         canary[:10],
		"hex":            hex.EncodeToString(c),
		"HEX":            strings.ToUpper(hex.EncodeToString(c)),
		"hex prefix":     hex.EncodeToString(c[:6]),
		"spaced hex":     fmt.Sprintf("% x", c[:6]),
		"go bytes":       fmt.Sprintf("%#v", c[:4])[len("[]byte{"):][:20],
		"decimal":        strings.Trim(fmt.Sprint(c[:6]), "[]"),
		"octal":          strings.Trim(fmt.Sprintf("%o", c[:6]), "[]"),
		"base64":         base64.StdEncoding.EncodeToString(c)[:12],
		"base64url":      base64.URLEncoding.EncodeToString(c)[:12],
		"quoted runes":   "'k' 'w' '-'",
		"unicode points": "U+006B U+0077",
	}
	var found []string
	for name, form := range forms {
		if strings.Contains(out, form) {
			found = append(found, name)
		}
	}
	return found
}

func checkNoLeak(t *testing.T, what, out string) {
	t.Helper()
	if l := leaks(out); len(l) > 0 {
		t.Errorf("%s leaks the secret (%v): %q", what, l, out)
	}
}

type exported struct {
	Name  string
	Token secret.Bytes
}

type unexported struct {
	name  string
	token secret.Bytes
}

type pointers struct {
	Token *secret.Bytes
	Nil   *secret.Bytes
}

type embedded struct {
	secret.Bytes
	Note string
}

func TestFormatEveryVerb(t *testing.T) {
	s := secret.FromString(canary)
	verbs := "vsqxXdbocUeEfFgGtTpw"
	flags := []string{"", "+", "#", "-", " ", "0", "+#", "# ", "-#", "30", "-30", ".3", "30.3", "#30", "+#-30.5", "08.2"}
	for _, verb := range verbs {
		for _, flag := range flags {
			format := "%" + flag + string(verb)
			out := fmt.Sprintf(format, s)
			checkNoLeak(t, "Sprintf("+format+")", out)
			switch verb {
			case 'T':
				if tn := strings.TrimLeft(strings.TrimSpace(out), "0"); tn == "" || !strings.HasPrefix("secret.Bytes", tn) {
					t.Errorf("Sprintf(%q) = %q, want the type name", format, out)
				}
			case 'p', 'w':
				// fmt rejects these verbs for a non-pointer, non-error value
				// before asking Format; it then prints by reflection, which
				// must find only an address.
			default:
				if out != secret.Redacted {
					t.Errorf("Sprintf(%q) = %q, want %q", format, out, secret.Redacted)
				}
			}
			out = fmt.Sprintf(format, &s)
			checkNoLeak(t, "Sprintf("+format+", &s)", out)
			if !strings.ContainsAny(string(verb), "Tpw") && out != secret.Redacted {
				t.Errorf("Sprintf(%q, &s) = %q, want %q", format, out, secret.Redacted)
			}
		}
	}
}

func TestFormatNested(t *testing.T) {
	s := secret.FromString(canary)
	values := []struct {
		name string
		v    any
	}{
		{"exported field", exported{"n", s}},
		{"pointer to struct", &exported{"n", s}},
		{"unexported field", unexported{"n", s}},
		{"pointer to unexported", &unexported{"n", s}},
		{"pointer fields", pointers{Token: &s}},
		{"embedded", embedded{s, "note"}},
		{"slice", []secret.Bytes{s, s}},
		{"array", [2]secret.Bytes{s}},
		{"map value", map[string]secret.Bytes{"k": s}},
		{"any slice", []any{s, &s}},
		{"nested struct", struct{ Inner struct{ E exported } }{struct{ E exported }{exported{"n", s}}}},
	}
	for _, tt := range values {
		for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%o", "%b", "%c", "%U"} {
			out := fmt.Sprintf(format, tt.v)
			checkNoLeak(t, tt.name+" "+format, out)
		}
		checkNoLeak(t, tt.name+" Sprint", fmt.Sprint(tt.v))
		checkNoLeak(t, tt.name+" Sprintln", fmt.Sprintln(tt.v, tt.v))
	}
}

func TestErrorsAndLog(t *testing.T) {
	s := secret.FromString(canary)
	var buf bytes.Buffer
	logger := log.New(&buf, "", 0)
	// Formats held in variables: vet rightly flags these verbs for these
	// types, and the point here is what happens when someone uses them anyway.
	hexFormat, wrapFormat := "token %v %s %x", "%w"
	logger.Printf(hexFormat, s, exported{"n", s}, unexported{"n", s})
	logger.Println(s, &s)
	//lint:ignore S1028 this is the pattern under test, as people write it
	sprintfErr := errors.New(fmt.Sprintf("bad token %v", s))
	outputs := map[string]string{
		"errors.New(Sprintf)": sprintfErr.Error(),
		"Errorf %v":           fmt.Errorf("bad token %+v: %w", exported{"n", s}, errors.New("x")).Error(),
		"Errorf %#v":          fmt.Sprintf("%#v", fmt.Errorf("wrap: %v", s)),
		"log":                 buf.String(),
		"panic":               panicText(s),
	}
	checkNoLeak(t, "Errorf %w", fmt.Errorf(wrapFormat, s).Error()) // %!w(…): by reflection
	for what, out := range outputs {
		checkNoLeak(t, what, out)
		if !strings.Contains(out, secret.Redacted) {
			t.Errorf("%s = %q, want it to show %s", what, out, secret.Redacted)
		}
	}
}

// panicText recovers a panic with v and prints the value as a crash report
// would (the runtime uses String for a Stringer).
func panicText(v any) (out string) {
	defer func() { out = fmt.Sprint(recover()) }()
	panic(v)
}

func TestTemplate(t *testing.T) {
	s := secret.FromString(canary)
	tmpl := template.Must(template.New("t").Parse("{{.}} {{.Token}} {{printf \"%x\" .Token}}"))
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, exported{"n", s}); err != nil {
		t.Fatal(err)
	}
	checkNoLeak(t, "text/template", buf.String())
}

func TestSlog(t *testing.T) {
	s := secret.FromString(canary)
	handlers := map[string]func(*bytes.Buffer) slog.Handler{
		"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	}
	for name, newHandler := range handlers {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			logger := slog.New(newHandler(&buf))
			logger.Info("decrypted", "value", s, "ptr", &s)
			logger.Info("request", slog.Any("body", exported{"n", s}), slog.Any("ptr", &exported{"n", s}))
			logger.Info("private", slog.Any("body", unexported{"n", s}))
			logger.Info("embedded", slog.Any("body", embedded{s, "note"}))
			logger.Info("list", slog.Any("tokens", []secret.Bytes{s}), slog.Any("map", map[string]secret.Bytes{"k": s}))
			logger.Info("group", slog.Group("g", slog.Any("v", s), slog.String("s", s.String())))
			logger.With("bound", s).WithGroup("wg").Info("with", "v", s)
			logger.Info(fmt.Sprint(s))
			out := buf.String()
			checkNoLeak(t, name+" handler", out)
			if got := strings.Count(out, secret.Redacted); got < 10 {
				t.Errorf("%s handler shows %s %d times, want >= 10:\n%s", name, secret.Redacted, got, out)
			}
		})
	}
}

func TestJSONAndXML(t *testing.T) {
	s := secret.FromString(canary)
	js, err := json.Marshal(struct {
		A exported
		B map[string]secret.Bytes
		C []secret.Bytes
		D *secret.Bytes
		E unexported
	}{exported{"n", s}, map[string]secret.Bytes{"k": s}, []secret.Bytes{s}, &s, unexported{"n", s}})
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	want := `{"A":{"Name":"n","Token":"[REDACTED]"},"B":{"k":"[REDACTED]"},"C":["[REDACTED]"],"D":"[REDACTED]","E":{}}`
	if string(js) != want {
		t.Errorf("json.Marshal = %s, want %s", js, want)
	}
	if js, err := json.Marshal(s); err != nil || string(js) != `"[REDACTED]"` {
		t.Errorf("json.Marshal(secret) = %s, %v", js, err)
	}
	if js, err := json.MarshalIndent(embedded{s, "x"}, "", " "); err != nil {
		t.Errorf("json.MarshalIndent(embedded): %v", err)
	} else {
		checkNoLeak(t, "json embedded", string(js))
	}
	xs, err := xml.Marshal(exported{"n", s})
	if err != nil {
		t.Fatalf("xml.Marshal: %v", err)
	}
	if want := "<exported><Name>n</Name><Token>[REDACTED]</Token></exported>"; string(xs) != want {
		t.Errorf("xml.Marshal = %s, want %s", xs, want)
	}
	if txt, err := s.MarshalText(); err != nil || string(txt) != secret.Redacted {
		t.Errorf("MarshalText = %q, %v", txt, err)
	}
	if txt, err := s.AppendText([]byte("x=")); err != nil || string(txt) != "x="+secret.Redacted {
		t.Errorf("AppendText = %q, %v", txt, err)
	}
}

func TestBinaryRefused(t *testing.T) {
	s := secret.FromString(canary)
	if b, err := s.MarshalBinary(); !errors.Is(err, secret.ErrNotSerializable) || b != nil {
		t.Errorf("MarshalBinary = %q, %v; want nil, ErrNotSerializable", b, err)
	}
	if b, err := s.AppendBinary([]byte("x")); !errors.Is(err, secret.ErrNotSerializable) || string(b) != "x" {
		t.Errorf("AppendBinary = %q, %v; want the input back and ErrNotSerializable", b, err)
	}
	var buf bytes.Buffer
	for _, v := range []any{s, exported{"n", s}, []secret.Bytes{s}} {
		err := gob.NewEncoder(&buf).Encode(v)
		if err == nil {
			t.Errorf("gob encoded %T", v)
		}
		checkNoLeak(t, "gob error", fmt.Sprint(err))
	}
	checkNoLeak(t, "gob output", buf.String())
}

func TestRevealAndNew(t *testing.T) {
	in := []byte(canary)
	s := secret.New(in)
	in[0] = 'X' // New copied
	if got := string(s.Reveal()); got != canary {
		t.Fatalf("Reveal() = %q after the caller changed its input, want %q", got, canary)
	}
	if s.Len() != len(canary) || s.IsZero() {
		t.Errorf("Len() = %d, IsZero() = %v; want %d, false", s.Len(), s.IsZero(), len(canary))
	}
	r := s.Reveal()
	if cap(r) != len(r) {
		t.Errorf("cap(Reveal()) = %d, want len %d so appends copy", cap(r), len(r))
	}
	_ = append(r, '!')
	if got := string(s.Reveal()); got != canary {
		t.Errorf("appending to Reveal() changed the secret to %q", got)
	}
	if got := string(secret.FromString(canary).Reveal()); got != canary {
		t.Errorf("FromString(...).Reveal() = %q", got)
	}
}

func TestEmpty(t *testing.T) {
	for name, s := range map[string]secret.Bytes{
		"zero value":   {},
		"New(nil)":     secret.New(nil),
		"New(empty)":   secret.New([]byte{}),
		"FromString":   secret.FromString(""),
		"wiped secret": func() secret.Bytes { s := secret.FromString(canary); s.Wipe(); return s }(),
	} {
		if !s.IsZero() || s.Len() != 0 || s.Reveal() != nil {
			t.Errorf("%s: IsZero() = %v, Len() = %d, Reveal() = %v; want true, 0, nil", name, s.IsZero(), s.Len(), s.Reveal())
		}
		if !s.Equal(secret.Bytes{}) {
			t.Errorf("%s: not Equal to the zero value", name)
		}
		s.Wipe() // no-op, no panic
		if got := fmt.Sprint(s); got != secret.Redacted {
			t.Errorf("%s prints %q, want %q", name, got, secret.Redacted)
		}
	}
}

func TestEqual(t *testing.T) {
	a := secret.FromString(canary)
	tests := []struct {
		name string
		b    secret.Bytes
		want bool
	}{
		{"same handle", a, true},
		{"same bytes", secret.New([]byte(canary)), true},
		{"last byte differs", secret.FromString(canary[:len(canary)-1] + "X"), false},
		{"prefix", secret.FromString(canary[:len(canary)-1]), false},
		{"longer", secret.FromString(canary + "X"), false},
		{"empty", secret.Bytes{}, false},
	}
	for _, tt := range tests {
		if got := a.Equal(tt.b); got != tt.want {
			t.Errorf("Equal(%s) = %v, want %v", tt.name, got, tt.want)
		}
		if got := tt.b.Equal(a); got != tt.want {
			t.Errorf("Equal(%s) reversed = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestWipeSharedByCopies(t *testing.T) {
	s := secret.FromString(canary)
	revealed := s.Reveal()
	holder := exported{"n", s} // a copy inside a struct
	copies := []secret.Bytes{s}
	s.Wipe()
	if !bytes.Equal(revealed, make([]byte, len(canary))) {
		t.Errorf("Wipe left the revealed bytes as %q, want zeros", revealed)
	}
	for name, c := range map[string]secret.Bytes{"original": s, "struct copy": holder.Token, "slice copy": copies[0]} {
		if !c.IsZero() || c.Reveal() != nil {
			t.Errorf("%s after Wipe: Len() = %d, want an empty secret", name, c.Len())
		}
	}
}
