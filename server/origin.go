package server

import (
	"net/http"
	"net/url"
	"path"
	"strings"
)

// checkOrigin refuses a WebSocket from a page of another origin, before the
// upgrade, with the protocol's error shape. The rule is the one
// websocket.Accept applies (which would answer in plain text): no Origin
// (not a browser), the node's own Host, or one of AllowedOrigins, host
// patterns as in path.Match (with a scheme:// to match the scheme too).
func (s *Server) checkOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !originAllowed(r, s.cfg.AllowedOrigins) {
			s.writeError(w, r, Errorf(CodeForbidden, "origin %q may not open a WebSocket on %q; see NOVEL_ALLOWED_ORIGINS", r.Header.Get("Origin"), r.Host))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func originAllowed(r *http.Request, patterns []string) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(r.Host, u.Host) {
		return true
	}
	for _, p := range patterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, err := path.Match(strings.ToLower(p), strings.ToLower(target)); err == nil && ok {
			return true
		}
	}
	return false
}
