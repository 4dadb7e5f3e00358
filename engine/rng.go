// Seeded random streams: the plot, the prose and each persona draw from
// their own stream, seeded afresh every turn.

package engine

import "math/rand/v2"

// Random streams. Each turn seeds every stream afresh from (seed, seq,
// stream), so a restored simulation needs only the world state to go on
// exactly as the original would have.
const (
	streamPlot    = 1
	streamProse   = 2
	streamPersona = 1000 // + character index
)

func streamSeed(seed int64, seq int64, stream uint64) (uint64, uint64) {
	a := splitmix(uint64(seed) ^ splitmix(uint64(seq)*0x9e3779b97f4a7c15+stream))
	return a, splitmix(a ^ stream)
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func (s *Sim) rng(seq int64, stream uint64) *rand.Rand {
	a, b := streamSeed(s.seed, seq, stream)
	return rand.New(rand.NewPCG(a, b))
}
