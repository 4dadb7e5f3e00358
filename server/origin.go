package server

import (
	"net"
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

// checkHost refuses, when PublicHosts are configured, a browser's
// request (one with an Origin) that reached the node under another name:
// the shape of DNS rebinding, where a page of evil.example has its name
// point at the node and then calls it as its own origin. Requests without
// an Origin (health checks by address, command-line clients) pass.
func (s *Server) checkHost(next http.Handler) http.Handler {
	if len(s.cfg.PublicHosts) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") != "" && !hostListed(r.Host, s.cfg.PublicHosts) {
			s.writeError(w, r, Errorf(CodeForbidden, "this node does not answer to %q; see NOVEL_PUBLIC_HOSTS", r.Host))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// hostListed tells whether host (a Host header, maybe with a port) is one
// of patterns: names as in path.Match, with a port to match the port too.
func hostListed(host string, patterns []string) bool {
	host = strings.ToLower(host)
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	for _, p := range patterns {
		p = strings.ToLower(p)
		target := name
		if _, _, err := net.SplitHostPort(p); err == nil {
			target = host
		}
		if ok, err := path.Match(p, target); err == nil && ok {
			return true
		}
	}
	return false
}
