package server

import "net/http"

// SecretStore is the typed secret store (package secretstore).
type SecretStore interface{}

func (s *Server) secretRoutes(mux *http.ServeMux) {}

func extraMappings() []mapping { return nil }
