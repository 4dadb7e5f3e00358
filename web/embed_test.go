package web_test

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/novel-engine/novel-engine/web"
)

func TestHandler(t *testing.T) {
	h := web.Handler()
	tests := []struct {
		method, path string
		status       int
		contentType  string
		contains     string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8", `<script type="module" src="/app.js">`},
		{"GET", "/index.html", 200, "text/html; charset=utf-8", "Novel Engine"},
		{"GET", "/story/abc-123", 200, "text/html; charset=utf-8", `src="/app.js"`},
		{"GET", "/story/abc-123/", 200, "text/html; charset=utf-8", `src="/app.js"`},
		{"GET", "/app.js", 200, "text/javascript; charset=utf-8", "import"},
		{"GET", "/client.js", 200, "text/javascript; charset=utf-8", "export function connect"},
		{"GET", "/map.js", 200, "text/javascript; charset=utf-8", "export class MapView"},
		{"GET", "/style.css", 200, "text/css; charset=utf-8", ":root"},
		{"GET", "/favicon.svg", 200, "image/svg+xml", "<svg"},
		{"HEAD", "/", 200, "text/html; charset=utf-8", ""},
		{"GET", "/nope.js", 404, "", ""},
		{"GET", "/v1/unknown", 404, "", ""},
		{"GET", "/embed.go", 404, "", ""},
		{"POST", "/", 405, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d", rec.Code, tt.status)
			}
			if tt.status != 200 {
				return
			}
			if got := rec.Header().Get("Content-Type"); got != tt.contentType {
				t.Errorf("Content-Type %q, want %q", got, tt.contentType)
			}
			if rec.Header().Get("ETag") == "" || rec.Header().Get("Cache-Control") != "no-cache" {
				t.Errorf("caching headers: ETag %q, Cache-Control %q", rec.Header().Get("ETag"), rec.Header().Get("Cache-Control"))
			}
			if rec.Header().Get("X-Content-Type-Options") != "nosniff" || rec.Header().Get("Content-Security-Policy") == "" {
				t.Errorf("security headers missing: %v", rec.Header())
			}
			if tt.method == "HEAD" && rec.Body.Len() != 0 {
				t.Errorf("HEAD has a body")
			}
			if !strings.Contains(rec.Body.String(), tt.contains) {
				t.Errorf("body lacks %q", tt.contains)
			}
		})
	}
}

func TestHandlerRevalidatesAndGzips(t *testing.T) {
	h := web.Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/app.js", nil))
	etag := rec.Header().Get("ETag")
	plain := rec.Body.String()

	req := httptest.NewRequest("GET", "/app.js", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
		t.Fatalf("revalidation: status %d, %d bytes; want 304 and none", rec.Code, rec.Body.Len())
	}

	req = httptest.NewRequest("GET", "/app.js", nil)
	req.Header.Set("Accept-Encoding", "br, gzip;q=0.8")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Header().Get("Content-Encoding") != "gzip" || rec.Header().Get("ETag") == etag {
		t.Fatalf("gzip: Content-Encoding %q, ETag %q (plain %q)", rec.Header().Get("Content-Encoding"), rec.Header().Get("ETag"), etag)
	}
	zr, err := gzip.NewReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil || string(b) != plain {
		t.Fatalf("gzipped body differs from the plain one (err %v)", err)
	}

	req = httptest.NewRequest("GET", "/app.js", nil)
	req.Header.Set("Accept-Encoding", "gzip;q=0")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Header().Get("Content-Encoding") != "" {
		t.Fatalf("gzip sent to a client that refused it")
	}
}
