package cluster

import (
	"context"
	"encoding/json"
	"slices"
	"time"
)

// Capacity is what a node has room for: its stories and its load (the
// CPU its stories' turns keep busy, measured), and its bounds on both.
// Each node advertises its own in its heartbeat, so that a story one node
// cannot take goes to one that can.
type Capacity struct {
	Stories    int     `json:"stories"`
	MaxStories int     `json:"max_stories,omitempty"` // 0 or less: no bound
	Load       float64 `json:"load"`
	MaxLoad    float64 `json:"max_load,omitempty"` // 0 or less: no bound
	// TurnCost is the node's average turn cost (CPU time), what a new
	// story is expected to cost there; 0 before it measured a turn.
	TurnCost time.Duration `json:"turn_cost_ns,omitempty"`
}

// Admits reports whether the node can take one more story with turns
// every interval: fewer stories than its bound, and its load with the
// new story's (at the node's turn cost) within its bound.
func (c Capacity) Admits(interval time.Duration) bool {
	if c.MaxStories > 0 && c.Stories >= c.MaxStories {
		return false
	}
	interval = max(interval, time.Millisecond)
	return c.MaxLoad <= 0 || c.Load+float64(c.TurnCost)/float64(interval) <= c.MaxLoad
}

// HasRoom reports whether the node is below its bounds: whether it may
// take over stories whose pace it does not know.
func (c Capacity) HasRoom() bool {
	return (c.MaxStories <= 0 || c.Stories < c.MaxStories) && (c.MaxLoad <= 0 || c.Load < c.MaxLoad)
}

// capacity is this node's capacity now; with no Capacity in Deps, a
// node without bounds.
func (c *Cluster) capacity() Capacity {
	if c.deps.Capacity == nil {
		return Capacity{Stories: c.deps.Runner.Count()}
	}
	return c.deps.Capacity()
}

func encodeCapacity(c Capacity) string {
	b, _ := json.Marshal(c)
	return string(b)
}

// decodeCapacity reads a node's advertised capacity; one that cannot be
// read is a node without bounds, as a node that advertises none.
func decodeCapacity(s string) Capacity {
	var c Capacity
	json.Unmarshal([]byte(s), &c)
	return c
}

// Admits reports whether a node of the cluster can take a story with
// turns every interval: this node as of now, the others as of their last
// heartbeat (read again first). A node that advertises no capacity counts
// as one without bounds.
func (c *Cluster) Admits(ctx context.Context, interval time.Duration) bool {
	c.heartbeat(ctx)
	return len(c.fitting(func(cp Capacity) bool { return cp.Admits(interval) })) > 0
}

// fitting lists the live nodes whose capacity fits, this node's as of
// now. With no live node known it judges this node alone.
func (c *Cluster) fitting(fits func(Capacity) bool) []string {
	c.mu.Lock()
	live, caps := c.live, c.caps
	c.mu.Unlock()
	if len(live) == 0 {
		live = []string{c.node}
	}
	self := c.capacity()
	var out []string
	for _, n := range live {
		cp, known := caps[n]
		if n == c.node {
			cp, known = self, true
		}
		if !known || fits(cp) {
			out = append(out, n)
		}
	}
	return out
}

// placementFor computes where simulations should go when extra more of
// them need an owner, among the live nodes whose capacity fits, or all
// live nodes when none fits (they must run somewhere). full says that
// this node does not fit while another does: it takes none.
func (c *Cluster) placementFor(extra int, fits func(Capacity) bool) placement {
	c.mu.Lock()
	live, loads := c.live, c.loads
	c.mu.Unlock()
	nodes := c.fitting(fits)
	full := len(nodes) > 0 && !slices.Contains(nodes, c.node)
	if len(nodes) == 0 {
		nodes = live
	}
	p := place(c.node, c.deps.Runner.Count(), nodes, loads, extra)
	p.full = full
	return p
}
