package server_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/keyward/keyward/server"
)

// contract validates real responses against server/openapi.json.
type contract struct {
	doc    *openapi3.T
	router routers.Router
}

func loadContract(t testing.TB) *contract {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(server.OpenAPI)
	if err != nil {
		t.Fatalf("load openapi.json: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI 3 document: %v", err)
	}
	// Match requests on path only: the servers entry names the default
	// address, the tests run on ephemeral ports.
	doc.Servers = nil
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &contract{doc: doc, router: router}
}

// check validates one exchange: the route must exist in the contract, the
// status must be documented (or covered by default), and headers and body
// must match their schemas.
func (c *contract) check(t testing.TB, req *http.Request, status int, header http.Header, body []byte) {
	t.Helper()
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		t.Errorf("%s %s: not in the contract: %v", req.Method, req.URL.Path, err)
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		},
		Status: status,
		Header: header,
		Body:   io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true,
			MultiError:            true,
		},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("%s %s → %d does not match the contract: %v\nbody: %.400s", req.Method, req.URL.Path, status, err, body)
	}
}

func TestOpenAPIDocument(t *testing.T) {
	c := loadContract(t)
	// Every operation documents its errors through the shared Error
	// response, so no status goes undocumented.
	for path, item := range c.doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.Responses.Default() == nil {
				t.Errorf("%s %s: no default (error) response", method, path)
			}
		}
	}
}
