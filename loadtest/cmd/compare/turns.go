package main

import (
	"cmp"
	"slices"
	"time"

	"github.com/novel-engine/novel-engine/loadtest/internal/stats"
)

// turnRead is one delivery's turn: its seq and production time.
type turnRead struct {
	seq int64
	at  int64 // Unix ns
}

// nearTurn is how close two channels' productions must be for one's
// fan-out to be likely to share the machine with the other's.
const nearTurn = 2 * time.Millisecond

// turnSplit splits the latency of the run's turns, each read by all the
// watchers of its channel, into when its first watcher read it (the
// production, the server's way to its first socket and the reader's
// wake-up) and how long after that its last one did (the fan-out to the
// others and their reads). near is the share of turns produced within
// nearTurn of another channel's turn: with staggered phases, none.
type turnSplit struct {
	turns               int
	first, last, spread [2]time.Duration // p50, p99
	near                float64
}

func splitTurns(watchers []*watcher) turnSplit {
	type key struct {
		ch  int
		seq int64
	}
	type span struct {
		at          int64
		first, last time.Duration
	}
	spans := map[key]*span{}
	for _, wr := range watchers {
		for i, t := range wr.turns {
			k, l := key{wr.ch, t.seq}, wr.lat[i]
			sp := spans[k]
			if sp == nil {
				spans[k] = &span{at: t.at, first: l, last: l}
				continue
			}
			sp.first, sp.last = min(sp.first, l), max(sp.last, l)
		}
	}
	var ts turnSplit
	if len(spans) == 0 {
		return ts
	}
	type prod struct {
		at int64
		ch int
	}
	var first, last, spread []time.Duration
	var prods []prod
	for k, sp := range spans {
		first, last = append(first, sp.first), append(last, sp.last)
		spread = append(spread, sp.last-sp.first)
		prods = append(prods, prod{sp.at, k.ch})
	}
	for _, d := range [][]time.Duration{first, last, spread} {
		slices.Sort(d)
	}
	ts.turns = len(spans)
	ts.first = [2]time.Duration{stats.Percentile(first, 0.5), stats.Percentile(first, 0.99)}
	ts.last = [2]time.Duration{stats.Percentile(last, 0.5), stats.Percentile(last, 0.99)}
	ts.spread = [2]time.Duration{stats.Percentile(spread, 0.5), stats.Percentile(spread, 0.99)}
	slices.SortFunc(prods, func(a, b prod) int { return cmp.Compare(a.at, b.at) })
	near := 0
	for i, p := range prods {
		close := func(j int) bool {
			return j >= 0 && j < len(prods) && prods[j].ch != p.ch && abs(prods[j].at-p.at) < int64(nearTurn)
		}
		if close(i-1) || close(i+1) {
			near++
		}
	}
	ts.near = float64(near) / float64(len(prods))
	return ts
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
