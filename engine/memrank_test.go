package engine

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// sortMemRanks orders as the stable sort by weight it replaced, NaN,
// infinities, ties and lists longer than a memory included.
func TestSortMemRanks(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	weights := []float64{0, 0, 1, 0.5, 0.5, -1, math.Inf(1), math.Inf(-1), math.NaN(), math.NaN(), 0.25}
	for round := range 2000 {
		n := r.IntN(2*MemorySize + 1)
		if round%10 == 0 {
			n = 2*MemorySize + 1 + r.IntN(10)
		}
		ord := make([]memRank, n)
		for j := range ord {
			ord[j] = memRank{weight: weights[r.IntN(len(weights))], j: j}
			if r.IntN(3) == 0 {
				ord[j].weight = r.Float64()
			}
		}
		r.Shuffle(n, func(a, b int) { ord[a], ord[b] = ord[b], ord[a] })
		want := slices.Clone(ord)
		slices.SortFunc(want, func(a, b memRank) int {
			if c := cmp.Compare(b.weight, a.weight); c != 0 {
				return c
			}
			return cmp.Compare(a.j, b.j)
		})
		sortMemRanks(ord)
		for k := range ord {
			if ord[k].j != want[k].j {
				t.Fatalf("round %d: sorted to %v, want %v", round, ord, want)
			}
		}
	}
}
