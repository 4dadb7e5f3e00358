package server

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/novel-engine/novel-engine/store"
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

// TestDNSRebindingRefused: with public hosts configured, a browser's
// request under a foreign name (Origin and Host both evil.example) is
// refused; without them it is not, and no request without an Origin is.
func TestDNSRebindingRefused(t *testing.T) {
	_, open := newTestServer(t, store.NewMemory(), Config{})
	_, guarded := newTestServer(t, store.NewMemory(), Config{PublicHosts: []string{"novel.example", "*.novel.example:8443"}})
	get := func(base, host, origin string) int {
		req, err := http.NewRequest("GET", base+"/v1/scenarios", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		base, host, origin string
		want               int
	}{
		{open.URL, "evil.example", "http://evil.example", 200},
		{guarded.URL, "evil.example", "http://evil.example", 403},
		{guarded.URL, "evil.example:8080", "http://evil.example:8080", 403},
		{guarded.URL, "evil.example", "", 200},
		{guarded.URL, "novel.example", "http://novel.example", 200},
		{guarded.URL, "NOVEL.example:80", "http://novel.example", 200},
		{guarded.URL, "a.novel.example:8443", "https://a.novel.example:8443", 200},
		{guarded.URL, "a.novel.example:9000", "https://a.novel.example:9000", 403},
	} {
		if got := get(c.base, c.host, c.origin); got != c.want {
			t.Errorf("%s Host %s Origin %q: %d, want %d", c.base, c.host, c.origin, got, c.want)
		}
	}
}
