package server

import (
	_ "embed"
	"net/http"
)

// OpenAPI is the API's contract, an OpenAPI 3 document; the contract test
// checks real responses against it.
//
//go:embed openapi.json
var OpenAPI []byte

func (s *Server) openapi(w http.ResponseWriter, r *http.Request, _ Principal) error {
	s.writeRaw(w, http.StatusOK, OpenAPI)
	return nil
}
