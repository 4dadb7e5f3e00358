// Package lb is a small round-robin load balancer for a local cluster of
// Novel Engine nodes: HTTP and WebSocket (httputil.ReverseProxy passes
// upgrades through), no stickiness, backends checked on /readyz so a
// draining or dead node gets no new connections, and a request whose
// backend refuses the connection is tried on the next one. Requests keep
// the client's Host header (and gain X-Forwarded-*), as nginx with
// proxy_set_header Host $host does.
package lb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"time"
)

// Options configure a Balancer. The zero value works.
type Options struct {
	// HealthInterval is how often each backend's /readyz is checked.
	// Defaults to 500ms.
	HealthInterval time.Duration
	Logger         *slog.Logger
}

// Balancer spreads requests over backends, round robin.
type Balancer struct {
	// set at construction
	backends []*backend
	proxy    *httputil.ReverseProxy
	opts     Options
	health   *http.Client
	log      *slog.Logger

	next atomic.Uint64
}

type backend struct {
	url   *url.URL
	ready atomic.Bool
}

type backendKey struct{}

const maxRetryBody = 1 << 20

// New returns a balancer over the backends' base URLs (http://host:port).
// Call Run to check their health; until the first check, all are tried.
func New(targets []string, opts Options) (*Balancer, error) {
	if len(targets) == 0 {
		return nil, errors.New("lb: no backends")
	}
	if opts.HealthInterval <= 0 {
		opts.HealthInterval = 500 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	b := &Balancer{opts: opts, log: opts.Logger, health: &http.Client{Timeout: 2 * time.Second}}
	for _, t := range targets {
		u, err := url.Parse(t)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("lb: backend %q is not a URL", t)
		}
		be := &backend{url: u}
		be.ready.Store(true)
		b.backends = append(b.backends, be)
	}
	b.proxy = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetXForwarded()
			r.Out.URL.Scheme, r.Out.URL.Host = "http", "backend" // the transport picks it
		},
		Transport:     &retryTransport{b: b, base: http.DefaultTransport},
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			b.log.Warn("lb: no backend answered", "path", r.URL.Path, "err", err)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, `{"error":{"code":"unavailable","message":"no node answered; try again"}}`+"\n")
		},
	}
	return b, nil
}

// ServeHTTP proxies one request (or WebSocket) to a backend.
func (b *Balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.proxy.ServeHTTP(w, r)
}

// Run checks the backends' /readyz until ctx ends.
func (b *Balancer) Run(ctx context.Context) {
	t := time.NewTicker(b.opts.HealthInterval)
	defer t.Stop()
	for {
		for _, be := range b.backends {
			b.check(ctx, be)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (b *Balancer) check(ctx context.Context, be *backend) {
	req, _ := http.NewRequestWithContext(ctx, "GET", be.url.String()+"/readyz", nil)
	resp, err := b.health.Do(req)
	ok := err == nil && resp.StatusCode == http.StatusOK
	if resp != nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if was := be.ready.Swap(ok); was != ok {
		b.log.Info("lb: backend readiness changed", "backend", be.url.Host, "ready", ok)
	}
}

// pick returns the next ready backend after skip, round robin; when none
// is ready, the next one anyway.
func (b *Balancer) pick(skip map[*backend]bool) *backend {
	n := len(b.backends)
	start := int(b.next.Add(1))
	for i := range n {
		be := b.backends[(start+i)%n]
		if be.ready.Load() && !skip[be] {
			return be
		}
	}
	for i := range n {
		be := b.backends[(start+i)%n]
		if !skip[be] {
			return be
		}
	}
	return nil
}

// retryTransport sends a request to a backend and, when the connection is
// refused (the node is dead), to the next one.
type retryTransport struct {
	b    *Balancer
	base http.RoundTripper
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		data, err := io.ReadAll(io.LimitReader(req.Body, maxRetryBody+1))
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = data
	}
	tried := make(map[*backend]bool)
	var lastErr error
	for {
		be := t.b.pick(tried)
		if be == nil {
			if lastErr == nil {
				lastErr = errors.New("no backend")
			}
			return nil, lastErr
		}
		tried[be] = true
		out := req.Clone(req.Context())
		// out.Host stays the client's: a node checks a WebSocket's Origin
		// against the Host it was asked for, which is the balancer's.
		out.URL.Scheme, out.URL.Host = be.url.Scheme, be.url.Host
		if body != nil {
			out.Body = io.NopCloser(bytes.NewReader(body))
			out.ContentLength = int64(len(body))
		}
		resp, err := t.base.RoundTrip(out)
		if err == nil {
			return resp, nil
		}
		lastErr = err
		var op *net.OpError
		if !errors.As(err, &op) || op.Op != "dial" {
			return nil, err // the backend may have acted on it: do not repeat
		}
		be.ready.Store(false)
		if len(body) > maxRetryBody {
			return nil, err
		}
	}
}
