package server

import (
	"context"
	"sync"
	"time"
)

// seatKeeper counts this node's connections per user and the seats they
// claimed here, so a seat is freed when its holder's last connection has
// been gone for longer than the grace period.
type seatKeeper struct {
	// set at construction
	grace time.Duration
	clock clock
	free  func(sim, character, userID string) // frees a seat whose holder did not come back

	mu     sync.Mutex
	conns  map[string]int                // user id → open connections
	seats  map[string]map[[2]string]bool // user id → (sim, character) claimed here
	timers map[string]*release           // user id → pending release
}

// release is a pending release of a user's seats.
type release struct{ timer stopper }

// clock starts timers: the real one, or a test's.
type clock interface {
	AfterFunc(d time.Duration, f func()) stopper
}

type stopper interface{ Stop() bool }

type realClock struct{}

func (realClock) AfterFunc(d time.Duration, f func()) stopper { return time.AfterFunc(d, f) }

func newSeatKeeper(grace time.Duration, c clock, free func(sim, character, userID string)) *seatKeeper {
	return &seatKeeper{
		grace:  grace,
		clock:  c,
		free:   free,
		conns:  make(map[string]int),
		seats:  make(map[string]map[[2]string]bool),
		timers: make(map[string]*release),
	}
}

// freeSeat is the server's way to free a seat after the grace period.
func (s *Server) freeSeat(sim, character, userID string) {
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	if err := s.store.ReleaseSeat(ctx, sim, character, userID); err != nil {
		s.log.Debug("release seat after grace", "sim", sim, "character", character, "err", err)
		return
	}
	s.seatsChanged(ctx, sim)
}

func (k *seatKeeper) connected(u User) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if u.Role == RoleAnonymous {
		return
	}
	k.conns[u.ID]++
	if r, ok := k.timers[u.ID]; ok {
		r.timer.Stop()
		delete(k.timers, u.ID)
	}
}

func (k *seatKeeper) disconnected(u User) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if u.Role == RoleAnonymous {
		return
	}
	k.conns[u.ID]--
	if k.conns[u.ID] > 0 {
		return
	}
	delete(k.conns, u.ID)
	if len(k.seats[u.ID]) == 0 {
		return
	}
	id, r := u.ID, &release{}
	k.timers[id] = r
	r.timer = k.clock.AfterFunc(k.grace, func() { k.expire(id, r) })
}

// expire frees the seats of a user who did not come back in time, unless
// the release r was called off (the user came back, maybe to leave again).
func (k *seatKeeper) expire(userID string, r *release) {
	k.mu.Lock()
	if k.timers[userID] != r {
		k.mu.Unlock()
		return
	}
	delete(k.timers, userID)
	held := k.seats[userID]
	delete(k.seats, userID)
	k.mu.Unlock()
	for key := range held {
		k.free(key[0], key[1], userID)
	}
}

func (k *seatKeeper) claimed(userID, sim, character string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.seats[userID] == nil {
		k.seats[userID] = make(map[[2]string]bool)
	}
	k.seats[userID][[2]string{sim, character}] = true
}

func (k *seatKeeper) released(userID, sim, character string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.seats[userID], [2]string{sim, character})
}

func (k *seatKeeper) stop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for id, r := range k.timers {
		r.timer.Stop()
		delete(k.timers, id)
	}
}
