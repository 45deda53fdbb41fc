// Package client is a Go client for keyward's HTTP API (keyward serve): one
// typed method per endpoint. Errors from the server are *Error values that
// carry the stable code (Error.Code), the HTTP status and the request id;
// match codes with errors.As or [HasCode], never by message.
//
// Plaintexts are returned as secret.Bytes, which redact themselves when
// printed or logged; the client never logs anything. The bearer token is
// held as a secret.Bytes too.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/keyward/keyward/secret"
)

// Client talks to one keyward server. It is safe for concurrent use.
type Client struct {
	base  string
	token secret.Bytes
	hc    *http.Client
}

// Options tune a Client.
type Options struct {
	// HTTPClient sends the requests (for TLS settings, client
	// certificates, timeouts); nil selects a client with a 60 s timeout.
	HTTPClient *http.Client
}

// New returns a client for the server at baseURL (http://HOST:PORT or
// https://HOST:PORT) that authenticates with token.
func New(baseURL string, token secret.Bytes, opts *Options) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("client: base url must be http(s)://HOST:PORT")
	}
	c := &Client{base: strings.TrimRight(baseURL, "/"), token: token, hc: &http.Client{Timeout: defaultTimeout}}
	if opts != nil && opts.HTTPClient != nil {
		c.hc = opts.HTTPClient
	}
	return c, nil
}

// Error is an error answered by the server.
type Error struct {
	// Status is the HTTP status code.
	Status int
	// Code is the stable error code (see docs/SERVER.md), such as
	// "forbidden" or "decrypt_failed".
	Code string
	// Message is for humans.
	Message string
	// RequestID identifies the request in the server's log and audit log.
	RequestID string
}

func (e *Error) Error() string {
	return fmt.Sprintf("keyward: %s (%d %s): %s", e.Code, e.Status, http.StatusText(e.Status), e.Message)
}

// HasCode reports whether err is an *Error with the given code.
func HasCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// do sends a request with an optional JSON body and decodes a JSON answer
// into out (unless out is nil). Non-2xx answers become *Error.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	var payload []byte
	if in != nil {
		var err error
		payload, err = json.Marshal(in)
		if err != nil {
			return fmt.Errorf("client: encode request: %w", err)
		}
		body = bytes.NewReader(payload)
		defer clear(payload) // may hold a plaintext in base64
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if !c.token.IsZero() {
		req.Header.Set("Authorization", "Bearer "+string(c.token.Reveal()))
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("client: read response: %w", err)
	}
	defer clear(data)
	if resp.StatusCode/100 != 2 {
		var eb errorBody
		e := &Error{Status: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id")}
		if json.Unmarshal(data, &eb) == nil && eb.Error.Code != "" {
			e.Code, e.Message = eb.Error.Code, eb.Error.Message
		} else {
			e.Code, e.Message = "http_"+fmt.Sprint(resp.StatusCode), "the server answered without a keyward error body"
		}
		return e
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("client: decode %s %s response: %w", method, path, err)
	}
	return nil
}

const (
	defaultTimeout = 60 * time.Second
	maxResponse    = 256 << 20
)

// esc escapes one path segment.
func esc(s string) string { return url.PathEscape(s) }
