package server

import (
	"math"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ipLimiter limits REST writes per client address: a token bucket each,
// forgotten once full again (the address has been idle).
type ipLimiter struct {
	rate  rate.Limit
	burst int

	mu       sync.Mutex
	limiters map[string]*rate.Limiter
	swept    time.Time
}

func newIPLimiter(r float64, burst int) *ipLimiter {
	return &ipLimiter{rate: rate.Limit(r), burst: burst, limiters: make(map[string]*rate.Limiter)}
}

const maxTrackedAddrs = 100000

// reserve reports whether addr may make a request now, or how long to wait.
func (l *ipLimiter) reserve(addr string) (bool, time.Duration) {
	return l.reserveAt(addr, time.Now())
}

func (l *ipLimiter) reserveAt(addr string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.limiters) >= maxTrackedAddrs || now.Sub(l.swept) > 10*time.Minute {
		// Forget idle addresses: a full bucket says the address is idle.
		for a, lim := range l.limiters {
			if lim.TokensAt(now) >= float64(l.burst) {
				delete(l.limiters, a)
			}
		}
		l.swept = now
	}
	lim, ok := l.limiters[addr]
	if !ok {
		lim = rate.NewLimiter(l.rate, l.burst)
		l.limiters[addr] = lim
	}
	if lim.AllowN(now, 1) {
		return true, 0
	}
	need := 1 - lim.TokensAt(now)
	return false, time.Duration(need / float64(l.rate) * float64(time.Second))
}

func (s *Server) limitWrites(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ok, wait := s.limits.reserve(s.clientAddr(r)); !ok {
			s.writeError(w, r, rateLimited("too many requests; retry later", wait))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// rateLimited is a rate_limited refusal naming the wait, in whole seconds.
func rateLimited(msg string, wait time.Duration) *Error {
	e := Errorf(CodeRateLimited, "%s", msg)
	e.RetryAfter = int(math.Max(1, math.Ceil(wait.Seconds())))
	return e
}

// limitReads limits each address's REST reads.
func (s *Server) limitReads(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.reads != nil {
			if ok, wait := s.reads.reserve(s.clientAddr(r)); !ok {
				s.writeError(w, r, rateLimited("too many reads; retry later", wait))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
