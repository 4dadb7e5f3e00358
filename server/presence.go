package server

import (
	"context"
	"sync"
	"time"

	"github.com/novel-engine/novel-engine/hub"
)

// presence publishes who watches and who holds each seat, at most once
// per interval per simulation: a crowd arriving at once costs one message
// per watcher per interval, not one per arrival.
type presence struct {
	s *Server

	mu    sync.Mutex
	dirty map[string]struct{}
}

func newPresence(s *Server) *presence {
	return &presence{s: s, dirty: make(map[string]struct{})}
}

// seatsChanged tells who needs to know that sim's seats changed: the
// watchers (presence) and the story, if it runs here and waits for its
// players.
func (s *Server) seatsChanged(sim string) {
	s.presence.mark(sim)
	s.runner.SeatsChanged(sim)
}

// mark notes that sim's presence changed.
func (p *presence) mark(sim string) {
	p.mu.Lock()
	p.dirty[sim] = struct{}{}
	p.mu.Unlock()
}

func (p *presence) loop(ctx context.Context, interval time.Duration) {
	every(ctx, interval, p.flush)
}

// every calls fn once per interval until ctx ends.
func every(ctx context.Context, interval time.Duration, fn func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		}
	}
}

func (p *presence) flush(ctx context.Context) {
	p.mu.Lock()
	sims := make([]string, 0, len(p.dirty))
	for sim := range p.dirty {
		sims = append(sims, sim)
	}
	clear(p.dirty)
	p.mu.Unlock()
	for _, sim := range sims {
		watchers := p.s.hub.Watchers(sim)
		if c := p.s.cluster; c != nil {
			// Watchers are counted over every node: this node's count goes
			// to Redis, the sum comes back.
			total, err := c.Watchers(ctx, sim, watchers)
			if err != nil {
				p.s.log.Debug("presence across nodes", "sim", sim, "err", err)
			} else if watchers > 0 {
				watchers = total
			}
		}
		if watchers == 0 {
			continue // nobody to tell
		}
		seats, err := p.s.store.Seats(ctx, sim)
		if err != nil {
			p.s.log.Warn("presence seats", "sim", sim, "err", err)
			p.mark(sim)
			continue
		}
		names := make(map[string]string, len(seats))
		for char, seat := range seats {
			names[char] = seat.UserName
		}
		msg := mustJSON(presenceMsg{Type: "presence", Sim: sim, Watchers: watchers, Seats: names})
		// Each node tells its own watchers (a node learns of changes on
		// other nodes through the cluster's notices).
		p.s.hub.Deliver(ctx, hub.Publication{Sim: sim, Data: msg})
	}
}
