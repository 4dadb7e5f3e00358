package cluster

import (
	"fmt"
	"math"
	"testing"
)

// TestPreferredIsShared: every node computes the same preferred node from
// the same view, whatever the order it lists the nodes in.
func TestPreferredIsShared(t *testing.T) {
	a := placement{nodes: []string{"n1", "n2", "n3"}}
	b := placement{nodes: []string{"n3", "n1", "n2"}}
	for i := range 100 {
		sim := fmt.Sprintf("s%d", i)
		if a.preferred(sim) != b.preferred(sim) {
			t.Fatalf("%s: %s from one view, %s from the same view reordered", sim, a.preferred(sim), b.preferred(sim))
		}
	}
	if got := (placement{}).preferred("s"); got != "" {
		t.Fatalf("no node preferred %q", got)
	}
}

// TestPreferredSpreads: rendezvous hashing spreads simulations evenly,
// and when a node leaves only its simulations move.
func TestPreferredSpreads(t *testing.T) {
	const sims = 3000
	three := placement{nodes: []string{"n1", "n2", "n3"}}
	two := placement{nodes: []string{"n1", "n3"}}
	per := map[string]int{}
	for i := range sims {
		sim := fmt.Sprintf("sim-%d", i)
		was := three.preferred(sim)
		per[was]++
		now := two.preferred(sim)
		if was != "n2" && now != was {
			t.Fatalf("%s moved from %s to %s when n2 left", sim, was, now)
		}
	}
	t.Logf("spread over three nodes: %v", per)
	for n, count := range per {
		if math.Abs(float64(count)-sims/3) > sims/3*0.1 {
			t.Fatalf("node %s got %d of %d simulations: %v", n, count, sims, per)
		}
	}
}

// TestPlace: the nodes below an even share have room; with none known,
// this node takes everything.
func TestPlace(t *testing.T) {
	for _, tc := range []struct {
		name   string
		own    int
		live   []string
		loads  map[string]int
		extra  int
		nodes  string
		target int
	}{
		{"alone", 3, nil, nil, 2, "[self]", 5},
		{"even", 1, []string{"a", "self"}, map[string]int{"a": 1}, 2, "[a self]", 2},
		{"one behind", 4, []string{"a", "b", "self"}, map[string]int{"a": 4, "b": 1}, 3, "[b]", 4},
		{"all full", 2, []string{"a", "self"}, map[string]int{"a": 2}, 0, "[a self]", 2},
		{"loads of the dead ignored", 0, []string{"a", "self"}, map[string]int{"a": 0, "gone": 50}, 2, "[a self]", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := place("self", tc.own, tc.live, tc.loads, tc.extra)
			if fmt.Sprint(p.nodes) != tc.nodes || p.target != tc.target {
				t.Fatalf("place = %v target %d, want %s target %d", p.nodes, p.target, tc.nodes, tc.target)
			}
		})
	}
}
