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
	s *Server

	mu     sync.Mutex
	conns  map[string]int                // user id → open connections
	seats  map[string]map[[2]string]bool // user id → (sim, character) claimed here
	timers map[string]*time.Timer        // user id → pending release
}

func newSeatKeeper(s *Server) *seatKeeper {
	return &seatKeeper{
		s:      s,
		conns:  make(map[string]int),
		seats:  make(map[string]map[[2]string]bool),
		timers: make(map[string]*time.Timer),
	}
}

func (k *seatKeeper) connected(u User) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if u.Role == RoleAnonymous {
		return
	}
	k.conns[u.ID]++
	if t, ok := k.timers[u.ID]; ok {
		t.Stop()
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
	id := u.ID
	k.timers[id] = time.AfterFunc(k.s.cfg.SeatGrace, func() { k.expire(id) })
}

// expire frees the seats of a user who did not come back in time.
func (k *seatKeeper) expire(userID string) {
	k.mu.Lock()
	delete(k.timers, userID)
	if k.conns[userID] > 0 {
		k.mu.Unlock()
		return
	}
	held := k.seats[userID]
	delete(k.seats, userID)
	k.mu.Unlock()
	ctx, cancel := context.WithTimeout(k.s.ctx, 10*time.Second)
	defer cancel()
	for key := range held {
		if err := k.s.store.ReleaseSeat(ctx, key[0], key[1], userID); err != nil {
			k.s.log.Debug("release seat after grace", "sim", key[0], "character", key[1], "err", err)
			continue
		}
		k.s.presence.mark(key[0])
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
	for id, t := range k.timers {
		t.Stop()
		delete(k.timers, id)
	}
}
