package server

import (
	"net/http/httptest"
	"testing"
)

// TestOriginAllowed: the same rule as websocket.Accept's, so that a page
// it would accept is never refused by the check in front of it.
func TestOriginAllowed(t *testing.T) {
	patterns := []string{"*.example.org", "https://app.example.com"}
	for _, c := range []struct {
		host, origin string
		want         bool
	}{
		{"node:8080", "", true},
		{"node:8080", "http://node:8080", true},
		{"Node:8080", "http://node:8080", true},
		{"node:8080", "http://node:8081", false},
		{"node:8080", "http://evil.example", false},
		{"node:8080", "http://a.example.org", true},
		{"node:8080", "https://app.example.com", true},
		{"node:8080", "http://app.example.com", false},
		{"node:8080", "://bad", false},
	} {
		r := httptest.NewRequest("GET", "/v1/ws", nil)
		r.Host = c.host
		if c.origin != "" {
			r.Header.Set("Origin", c.origin)
		}
		if got := originAllowed(r, patterns); got != c.want {
			t.Errorf("Host %s, Origin %q: allowed %v, want %v", c.host, c.origin, got, c.want)
		}
	}
}
