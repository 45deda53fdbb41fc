package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strconv"

	"github.com/keyward/keyward/errcode"
)

// decode reads the request body into v strictly: the content type must be
// application/json, the body at most the server's limit, every field known,
// and nothing may follow the one JSON value.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) error {
	if err := checkJSONType(r); err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.limits.MaxBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return apiErr(http.StatusBadRequest, errcode.InvalidJSON, "unexpected data after the JSON value")
	}
	return nil
}

// checkJSONType requires Content-Type: application/json (parameters such
// as charset=utf-8 allowed).
func checkJSONType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "application/json" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return apiErr(http.StatusUnsupportedMediaType, errcode.UnsupportedMediaType, "send the body as Content-Type: application/json")
	}
	return nil
}

// fieldName matches field names that are safe to repeat in a message.
var fieldName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.\[\]]{0,63}$`)

// jsonError describes a decoding failure without quoting the input: it may
// hold a plaintext.
func jsonError(err error) error {
	var (
		mbe  *http.MaxBytesError
		ae   *Error
		syn  *json.SyntaxError
		typ  *json.UnmarshalTypeError
		b64  base64.CorruptInputError
		msg  string
		code = errcode.InvalidJSON
	)
	switch {
	case errors.As(err, &mbe):
		return err
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &b64):
		code, msg = errcode.InvalidBase64, "a bytes field is not valid standard base64 (with padding)"
	case errors.As(err, &syn):
		msg = "malformed JSON at byte " + strconv.FormatInt(syn.Offset, 10)
	case errors.As(err, &typ):
		msg = "wrong JSON type"
		if fieldName.MatchString(typ.Field) {
			msg += " for field " + typ.Field
		}
		msg += "; expected " + typ.Type.String()
	case errors.Is(err, io.EOF):
		msg = "empty body; send a JSON object"
	case errors.Is(err, io.ErrUnexpectedEOF):
		msg = "truncated JSON"
	default:
		msg = "invalid JSON"
		// json: unknown field "name"
		const p = `json: unknown field "`
		if e := err.Error(); len(e) > len(p) && e[:len(p)] == p {
			code = errcode.InvalidRequest
			msg = "unknown field"
			if f := e[len(p) : len(e)-1]; fieldName.MatchString(f) {
				msg += " " + strconv.Quote(f)
			}
		}
	}
	return apiErr(http.StatusBadRequest, code, msg)
}

// b64 is a bytes field sent as standard, padded base64. It decodes
// strictly (no newlines, no missing padding) and reports invalid_base64.
type b64 []byte

func (b *b64) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil
	}
	if len(data) < 2 || data[0] != '"' || data[len(data)-1] != '"' {
		return apiErr(http.StatusBadRequest, errcode.InvalidBase64, "a bytes field must be a base64 string")
	}
	data = data[1 : len(data)-1]
	out := make([]byte, base64.StdEncoding.DecodedLen(len(data)))
	n, err := base64.StdEncoding.Strict().Decode(out, data)
	if err != nil {
		clear(out)
		return apiErr(http.StatusBadRequest, errcode.InvalidBase64, "a bytes field is not valid standard base64 (with padding)")
	}
	*b = out[:n:n]
	return nil
}

// errorBody is the JSON body of an error response.
func errorBody(e *Error) []byte {
	b, _ := json.Marshal(errorEnvelope{Error: errorDetail{Code: e.Code, Message: e.Message}})
	return append(b, '\n')
}

type errorEnvelope struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// writeError sends err, mapped to a status and code by the one error
// table. 5xx errors are logged with their full text (which never holds a
// plaintext or a token) against the request id; clients see a fixed
// message.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := s.errs.classify(err)
	if e.Status >= 500 && e.Code != errcode.Internal {
		w.Header().Set("Retry-After", "1")
	}
	if e.Status >= 500 {
		s.log.Warn("request failed", "request_id", info(r.Context()).id, "route", r.Pattern, "code", e.Code, "err", err.Error())
	}
	var rl *rateLimited
	if errors.As(err, &rl) {
		w.Header().Set("Retry-After", strconv.Itoa(rl.after))
	}
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="keyward"`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	w.Write(errorBody(e))
}

var jsonType = []string{"application/json"}

// writeJSON sends v with status.
func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		panic(fmt.Sprintf("server: encoding a %T response: %v", v, err)) // a programming error
	}
	s.writeRaw(w, status, buf.Bytes())
	clear(buf.Bytes()) // it may hold a plaintext in base64
}

// writeRaw sends an encoded JSON body.
func (s *Server) writeRaw(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = jsonType[:1:1]
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	w.Write(body)
}
