package server

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// StatusIdle (extension) closes an anonymous WebSocket that subscribed
// to nothing for IdleTimeout: it holds a socket and watches nothing.
const StatusIdle = 4008

// strikeRefill is how fast a connection earns back the strikes that
// messages over its rate cost: a client that slows down is forgiven, one
// that keeps going runs out and is closed with 4029.
const strikeRefill = rate.Limit(1)

// flood limits one connection's messages: its own bucket, and its user's
// (or, anonymous, its address's) shared by all their connections. A
// message over either costs a strike; a connection out of strikes is
// closed.
type flood struct {
	msgs    *rate.Limiter
	strikes *rate.Limiter
	user    *ipLimiter
	key     string
}

func newFlood(r float64, burst int, user *ipLimiter, key string) *flood {
	return &flood{
		msgs:    rate.NewLimiter(rate.Limit(r), burst),
		strikes: rate.NewLimiter(strikeRefill, maxStrikes),
		user:    user,
		key:     key,
	}
}

// check judges a message arriving at now: allowed, or refused; and
// whether the connection must be closed for it.
func (f *flood) check(now time.Time) (ok, closeConn bool) {
	if f.msgs.AllowN(now, 1) {
		if ok, _ := f.user.reserveAt(f.key, now); ok {
			return true, false
		}
	}
	return false, !f.strikes.AllowN(now, 1)
}

// connCounter counts this node's WebSocket connections, per address, per
// user and in all, so that each is refused past its limit before the
// upgrade.
type connCounter struct {
	perAddr, perUser, total int // limits; ≤ 0: unlimited

	mu     sync.Mutex
	addrs  map[string]int
	users  map[string]int
	opened int
}

func newConnCounter(perAddr, perUser, total int) *connCounter {
	return &connCounter{perAddr: perAddr, perUser: perUser, total: total, addrs: make(map[string]int), users: make(map[string]int)}
}

// acquire counts a connection of addr and user (empty: anonymous), or
// says why it may not open; release gives the place back.
func (k *connCounter) acquire(addr, user string) (release func(), err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	switch {
	case k.total > 0 && k.opened >= k.total:
		return nil, &Error{Code: CodeUnavailable, Message: fmt.Sprintf("this node holds %d connections, its most; connect to another or later", k.total), RetryAfter: 5}
	case k.perAddr > 0 && k.addrs[addr] >= k.perAddr:
		return nil, &Error{Code: CodeRateLimited, Message: fmt.Sprintf("at most %d WebSocket connections from one address", k.perAddr), RetryAfter: 5}
	case user != "" && k.perUser > 0 && k.users[user] >= k.perUser:
		return nil, &Error{Code: CodeRateLimited, Message: fmt.Sprintf("at most %d WebSocket connections per user", k.perUser), RetryAfter: 5}
	}
	k.opened++
	k.addrs[addr]++
	if user != "" {
		k.users[user]++
	}
	return func() {
		k.mu.Lock()
		defer k.mu.Unlock()
		k.opened--
		if k.addrs[addr]--; k.addrs[addr] <= 0 {
			delete(k.addrs, addr)
		}
		if user != "" {
			if k.users[user]--; k.users[user] <= 0 {
				delete(k.users, user)
			}
		}
	}, nil
}

// admitConn applies the connection limits and the connection rate to a
// WebSocket before its upgrade; on success the caller must release.
func (s *Server) admitConn(w http.ResponseWriter, r *http.Request, u User) (func(), bool) {
	addr := s.clientAddr(r)
	if s.connRate != nil {
		if ok, wait := s.connRate.reserve(addr); !ok {
			s.writeError(w, r, rateLimited("too many new WebSocket connections from one address; retry later", wait))
			return nil, false
		}
	}
	user := ""
	if u.Role != RoleAnonymous {
		user = u.ID
	}
	release, err := s.connCount.acquire(addr, user)
	if err != nil {
		s.writeError(w, r, err)
		return nil, false
	}
	return release, true
}
