// Package web holds the browser UI and the JavaScript client of Novel
// Engine. The files are plain ES modules with no build step; they are
// embedded in the binary and served by Handler.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
)

//go:embed index.html *.js *.css *.svg
var assets embed.FS

// asset is one embedded file, prepared once: its bytes, a gzipped copy
// when that is smaller, and a strong ETag.
type asset struct {
	name        string
	contentType string
	body        []byte
	gzipped     []byte
	etag        string
}

// contentTypes are the types of the files this package embeds. They are
// set here rather than read from the system's MIME table, which differs
// between machines (some map .js to text/plain, which breaks modules).
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".json": "application/json",
	".png":  "image/png",
}

// securityHeaders go on every answer of the handler. The policy allows
// only the page's own scripts, styles and WebSocket endpoint.
var securityHeaders = map[string]string{
	"X-Content-Type-Options":  "nosniff",
	"Referrer-Policy":         "same-origin",
	"X-Frame-Options":         "DENY",
	"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
}

// Handler serves the UI: index.html at "/" and at every page route of the
// single-page app (such as /story/{id}), and the static assets by name.
// Assets carry an ETag and "Cache-Control: no-cache", so browsers keep
// them and revalidate cheaply with If-None-Match; a new binary changes the
// ETags. Answers are gzipped for clients that accept it. Paths under /v1/
// and unknown files with an extension get 404, never the page.
func Handler() http.Handler {
	files := map[string]*asset{}
	err := fs.WalkDir(assets, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := assets.ReadFile(p)
		if err != nil {
			return err
		}
		files["/"+p] = newAsset(p, b)
		return nil
	})
	if err != nil {
		// The files are compiled in; failing to read them is a build bug.
		panic("web: read embedded assets: " + err.Error())
	}
	index := files["/index.html"]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range securityHeaders {
			w.Header().Set(k, v)
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		p := path.Clean("/" + r.URL.Path)
		a, ok := files[p]
		switch {
		case ok:
		case isPageRoute(p):
			a = index
		default:
			http.NotFound(w, r)
			return
		}
		a.serve(w, r)
	})
}

// isPageRoute reports whether p is a route of the app, answered with
// index.html: "/", "/story/{id}" and any other path without a file
// extension outside the API.
func isPageRoute(p string) bool {
	if p == "/v1" || strings.HasPrefix(p, "/v1/") {
		return false
	}
	return path.Ext(p) == ""
}

func newAsset(name string, body []byte) *asset {
	ext := path.Ext(name)
	ct, ok := contentTypes[ext]
	if !ok {
		ct = mime.TypeByExtension(ext)
	}
	if ct == "" {
		ct = "application/octet-stream"
	}
	sum := sha256.Sum256(body)
	a := &asset{
		name:        name,
		contentType: ct,
		body:        body,
		etag:        `"` + hex.EncodeToString(sum[:12]) + `"`,
	}
	if ct != "image/png" {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(body)
		zw.Close()
		if buf.Len() < len(body) {
			a.gzipped = buf.Bytes()
		}
	}
	return a
}

func (a *asset) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("Vary", "Accept-Encoding")
	etag := a.etag
	body := a.body
	if a.gzipped != nil && acceptsGzip(r) {
		body = a.gzipped
		etag = a.etag[:len(a.etag)-1] + `-gz"`
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("ETag", etag)
	if etagMatch(r.Header.Get("If-None-Match"), etag) {
		h.Del("Content-Type")
		h.Del("Content-Encoding")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(enc) != "gzip" {
			continue
		}
		return strings.ReplaceAll(strings.TrimSpace(params), " ", "") != "q=0"
	}
	return false
}

func etagMatch(header, etag string) bool {
	if header == "" {
		return false
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}
