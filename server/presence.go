package server

import (
	"context"
	"sync"
	"time"

	"github.com/novel-engine/novel-engine/cluster"
	"github.com/novel-engine/novel-engine/hub"
)

// seatsNoticeTimeout bounds the wait for the owner of a story on another
// node to hear that its seats changed.
const seatsNoticeTimeout = 3 * time.Second

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
// watchers (presence) and the story, which holds seated characters and
// may wait for its players, on whichever node runs it. A story that does
// not hear of it reads its seats again within a bounded time anyway.
func (s *Server) seatsChanged(ctx context.Context, sim string) {
	s.presence.mark(sim)
	if s.runner.SeatsChanged(sim) || s.cluster == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, seatsNoticeTimeout)
	defer cancel()
	if _, err := s.cluster.Call(ctx, sim, cluster.Request{Kind: "seats"}); err != nil {
		s.log.Debug("tell the owner that seats changed", "sim", sim, "err", err)
	}
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
