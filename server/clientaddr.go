package server

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientAddr is the address a request's limits and quotas are counted
// against: the peer's, or, when the peer is one of TrustedProxies, the
// nearest address before it in X-Forwarded-For (or Forwarded) that is not
// a trusted proxy itself. Headers from any other peer are ignored, so
// that no client can pick its own address. An IPv6 address counts as its
// /64, which one subscriber usually holds whole.
func (s *Server) clientAddr(r *http.Request) string {
	peer := parseAddr(r.RemoteAddr)
	if !peer.IsValid() {
		return r.RemoteAddr
	}
	addr := peer
	if s.trusted(peer) {
		hops := forwardedFor(r.Header)
		for i := len(hops) - 1; i >= 0; i-- {
			a := parseAddr(hops[i])
			if !a.IsValid() {
				break // a malformed hop: stop at the last one known good
			}
			addr = a
			if !s.trusted(a) {
				break
			}
		}
	}
	return addrKey(addr)
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func addrKey(a netip.Addr) string {
	if a.Is6() && !a.Is4In6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.Unmap().String()
}

// parseAddr reads "ip", "ip:port", "[ip]:port" or a quoted Forwarded
// node.
func parseAddr(s string) netip.Addr {
	s = strings.Trim(strings.TrimSpace(s), `"`)
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// forwardedFor lists the client and proxies a request went through,
// nearest last: X-Forwarded-For's hops, or else Forwarded's for= nodes.
func forwardedFor(h http.Header) []string {
	var hops []string
	for _, v := range h.Values("X-Forwarded-For") {
		for _, hop := range strings.Split(v, ",") {
			hops = append(hops, strings.TrimSpace(hop))
		}
	}
	if len(hops) > 0 {
		return hops
	}
	for _, v := range h.Values("Forwarded") {
		for _, elem := range strings.Split(v, ",") {
			for _, pair := range strings.Split(elem, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if ok && strings.EqualFold(k, "for") {
					hops = append(hops, val)
				}
			}
		}
	}
	return hops
}
