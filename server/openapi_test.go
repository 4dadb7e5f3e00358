package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/novel-engine/novel-engine/store"
)

// TestOpenAPIListsEveryRoute: every route the node serves is in the
// OpenAPI description, and everything described is served. (What each
// answers is checked against it in cmd/novel-engine.)
func TestOpenAPIListsEveryRoute(t *testing.T) {
	var spec struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI(), &spec); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if spec.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q, want 3.1.0", spec.OpenAPI)
	}
	described := map[string]bool{}
	for path, ops := range spec.Paths {
		for method := range ops {
			described[strings.ToUpper(method)+" "+path] = true
		}
	}
	s, _ := newTestServer(t, store.NewMemory(), Config{})
	served := map[string]bool{}
	err := chi.Walk(s.Handler().(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if strings.HasSuffix(route, "/*") {
			return nil // the browser UI's files, and not-found answers
		}
		route = strings.ReplaceAll(route, "/*/", "/")
		served[method+" "+route] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A route served for every method (r.Handle) is described by its GET.
	for r := range served {
		method, route, _ := strings.Cut(r, " ")
		if method != "GET" && served["PATCH "+route] && served["TRACE "+route] {
			continue
		}
		if !described[r] {
			t.Errorf("%s is served but not described in openapi.json", r)
		}
	}
	for d := range described {
		if !served[d] {
			t.Errorf("%s is described in openapi.json but not served", d)
		}
	}
}
