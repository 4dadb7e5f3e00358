package postgres

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/novel-engine/novel-engine/engine"
)

// records returns n bytes of JSON-like records, as repetitive as a world
// state's.
func records(rng *rand.Rand, n int) []byte {
	var b bytes.Buffer
	for b.Len() < n {
		fmt.Fprintf(&b, `{"id":"c%d","loc":"l%d","health":%d,"memory":[{"turn":%d,"kind":"attack"}]},`,
			rng.IntN(24), rng.IntN(64), rng.IntN(101), rng.IntN(500))
	}
	return b.Bytes()[:n]
}

// TestDeltaRoundTripSizes encodes states against bases of many sizes,
// with edits, insertions and deletions between base and state.
func TestDeltaRoundTripSizes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1, 7, 8, 9, 1000, 32<<10 - 1, 32 << 10, 32<<10 + 1, 49 << 10, 200 << 10} {
		base := records(rng, size)
		state := bytes.Clone(base)
		for range 20 { // scattered edits, some growing or shrinking the state
			at := rng.IntN(len(state) + 1)
			cut := min(len(state)-at, rng.IntN(30))
			state = append(state[:at], append(records(rng, rng.IntN(40)), state[at+cut:]...)...)
		}
		for _, pair := range [][2][]byte{{base, state}, {base, base}, {state, base}, {nil, state}, {base, nil}} {
			got, err := decodeDelta(pair[0], encodeDelta(pair[0], pair[1], math.MaxInt))
			if err != nil || !bytes.Equal(got, pair[1]) {
				t.Fatalf("base of %d bytes, state of %d: decoded %d bytes, %v", len(pair[0]), len(pair[1]), len(got), err)
			}
		}
		// 20 edits of up to 40 bytes: under 1 KB of new bytes, and the
		// copies around them.
		if d := encodeDelta(base, state, math.MaxInt); size >= 32<<10 && len(d) > 3<<10 {
			t.Errorf("base of %d bytes, 20 edits: a delta of %d bytes", size, len(d))
		}
	}
}

// TestDeltaLimit checks that the encoder gives up as soon as the delta
// passes its limit, and keeps a delta that fits it.
func TestDeltaLimit(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	base := records(rng, 12<<10)
	unlike := make([]byte, len(base))
	for i := range unlike {
		unlike[i] = byte(rng.IntN(256))
	}
	if d := encodeDelta(base, unlike, len(unlike)/8); d != nil {
		t.Fatalf("a delta of %d bytes for a state unlike its base, limit %d", len(d), len(unlike)/8)
	}
	like := bytes.Clone(base)
	copy(like[100:], "changed")
	full := encodeDelta(base, like, math.MaxInt)
	if d := encodeDelta(base, like, len(full)); !bytes.Equal(d, full) {
		t.Fatalf("a delta of %d bytes refused at a limit of %d", len(full), len(full))
	}
	if d := encodeDelta(base, like, len(full)-1); d != nil {
		t.Fatalf("a delta of %d bytes kept at a limit of %d", len(d), len(full)-1)
	}
}

// FuzzStateDelta checks that any state encoded against any base decodes
// to itself, and that decoding any bytes fails cleanly or gives a state.
func FuzzStateDelta(f *testing.F) {
	f.Add([]byte(`{"seq":1,"chars":[{"id":"ada","loc":"dock","health":100}]}`),
		[]byte(`{"seq":2,"chars":[{"id":"ada","loc":"market","health":90}]}`))
	f.Add([]byte("abcdefghabcdefgh"), []byte("abcdefgXabcdefghabcdefgh"))
	f.Add([]byte{}, []byte("x"))
	f.Add([]byte("base"), []byte{deltaFormat, 0x03, 'a', 0x05, 0x01})
	f.Fuzz(func(t *testing.T, base, state []byte) {
		got, err := decodeDelta(base, encodeDelta(base, state, math.MaxInt))
		if err != nil || !bytes.Equal(got, state) {
			t.Fatalf("decoded %q, %v; want %q", got, err, state)
		}
		decodeDelta(base, state) // must not panic
	})
}

// TestBaseCacheBound checks the cache never holds more than its bytes and
// forgets the least recently used first.
func TestBaseCacheBound(t *testing.T) {
	c := newBaseCache(100)
	c.put("a", 1, make([]byte, 40))
	c.put("b", 2, make([]byte, 40))
	c.get("a")
	c.put("c", 3, make([]byte, 40)) // over 100: b, used least recently, goes
	if _, _, ok := c.get("b"); ok {
		t.Error("b kept")
	}
	if tag, _, ok := c.get("a"); !ok || tag != 1 {
		t.Error("a lost")
	}
	c.put("a", 4, make([]byte, 60)) // replaced in place: 100 bytes with c
	if tag, _, ok := c.get("a"); !ok || tag != 4 || c.size != 100 {
		t.Errorf("a replaced: tag %d, size %d", tag, c.size)
	}
	c.put("d", 5, make([]byte, 101)) // larger than the cache: not kept
	c.drop("c")
	if _, _, ok := c.get("d"); ok || c.size != 60 || c.order.Len() != 1 {
		t.Errorf("size %d, %d entries", c.size, c.order.Len())
	}
}

// BenchmarkEncodeDelta encodes a built-in story's states against the state
// one to four turns before, as the append does between two bases, and
// reports the delta's length; decode is the way back, as LoadState does.
func BenchmarkEncodeDelta(b *testing.B) {
	sim, err := engine.NewSim(engine.Builtins()[0], 31, engine.Options{})
	if err != nil {
		b.Fatal(err)
	}
	var states [][]byte
	for !sim.Finished() {
		if _, err := sim.Step(context.Background(), nil); err != nil {
			b.Fatal(err)
		}
		st, _ := sim.State()
		states = append(states, st)
	}
	var pairs [][2][]byte
	for i := 10; i+4 < len(states); i += 4 {
		for d := 1; d <= 4; d++ {
			pairs = append(pairs, [2][]byte{states[i], states[i+d]})
		}
	}
	b.Run("encode", func(b *testing.B) {
		total := 0
		for i := range b.N {
			p := pairs[i%len(pairs)]
			total += len(encodeDelta(p[0], p[1], math.MaxInt))
		}
		b.ReportMetric(float64(total)/float64(b.N), "B/delta")
	})
	b.Run("decode", func(b *testing.B) {
		deltas := make([][]byte, len(pairs))
		for i, p := range pairs {
			deltas[i] = encodeDelta(p[0], p[1], math.MaxInt)
		}
		b.ResetTimer()
		for i := range b.N {
			if _, err := decodeDelta(pairs[i%len(pairs)][0], deltas[i%len(pairs)]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
