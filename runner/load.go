package runner

import (
	"time"
)

// The node's load is the share of its CPU its stories' turns take: each
// running story adds its turn's measured cost divided by its turn
// interval (a story with 5 ms turns every 10 ms adds 0.5). A turn's cost
// is the CPU time spent computing it (the engine's step and the world's
// encoding), not the wall time: a busy machine that deschedules a turn,
// or a model that takes seconds to answer elsewhere, does not make the
// node look full. Storing and publishing the turn are not counted, nor
// what a custom decider computes on goroutines of its own (a model's
// work is done elsewhere). A story not measured yet counts at
// the node's average turn cost. Admission control (cluster.Capacity)
// compares that sum, with the story asked for, to what the node may take.

// costWeight is the weight of the newest measure in the moving averages.
const costWeight = 0.2

func ewma(old int64, d time.Duration) int64 {
	if old == 0 {
		return int64(d)
	}
	return int64((1-costWeight)*float64(old) + costWeight*float64(d))
}

// measured records the CPU time one of st's turns took.
func (r *Runner) measured(st *story, d time.Duration) {
	st.cost.Store(ewma(st.cost.Load(), d))
	for {
		old := r.cost.Load()
		if r.cost.CompareAndSwap(old, ewma(old, d)) {
			return
		}
	}
}

// TurnCost is the moving average of this node's turns' cost: the CPU
// time of computing one.
func (r *Runner) TurnCost() time.Duration { return time.Duration(r.cost.Load()) }

// Load is the sum, over the stories running here, of each one's turn
// cost divided by its turn interval: about the number of cores (or
// store connections) kept busy at the pace the stories ask for.
func (r *Runner) Load() float64 {
	avg := r.cost.Load()
	r.mu.Lock()
	defer r.mu.Unlock()
	var sum float64
	for _, st := range r.stories {
		c := st.cost.Load()
		if c == 0 {
			c = avg
		}
		sum += float64(c) / float64(st.interval)
	}
	return sum
}
