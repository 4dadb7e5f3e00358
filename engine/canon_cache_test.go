package engine

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"slices"
	"testing"
)

// TestCachedEncodingIsFresh checks that the encoding a simulation keeps
// sections of from turn to turn is, on every turn of many stories of each
// built-in scenario, byte for byte what an encoder with nothing kept
// writes: a section reused after its character changed would change the
// state hash of stored stories.
func TestCachedEncodingIsFresh(t *testing.T) {
	states, reused := 0, 0
	for _, sc := range Builtins() {
		for seed := int64(0); seed < 12; seed++ {
			s := startSim(t, sc, seed, Options{})
			for !s.Finished() && s.Seq() < 200 {
				tr := play(t, s, 1, someInput)[0]
				var fresh canonEncoder
				want := fresh.world(s.w)
				if !bytes.Equal(s.enc.b, want) {
					t.Fatalf("%s/%d turn %d: kept encoding differs from a fresh one:\n got %s\nwant %s", sc.ID, seed, s.Seq(), s.enc.b, want)
				}
				if sum := sha256.Sum256(want); tr.StateHash != hex.EncodeToString(sum[:]) {
					t.Fatalf("%s/%d turn %d: state hash is not the fresh encoding's", sc.ID, seed, s.Seq())
				}
				states++
			}
			for _, cc := range s.enc.cache {
				reused += len(cc.mem)
			}
		}
	}
	if states < 1000 || reused == 0 {
		t.Fatalf("only %d states, %d memories kept: the check saw too little", states, reused)
	}
}

// TestCachedEncodingSeesEveryChange changes a character behind the
// encoder's back in each way the kept sections could miss: a value
// changed in place, a key swapped for another with the map the same size,
// a memory forgotten and one added, 0 turned to -0 (equal as floats,
// written differently), what a character knows and where it searched
// changed, and the world's lists shifted, inserted into and changed in
// place.
func TestCachedEncodingSeesEveryChange(t *testing.T) {
	c := &charState{
		ID: "a", Loc: "l", Alive: true, Onstage: true,
		Rel:   map[string]float64{"b": 0.5, "c": 0},
		Seen:  map[string]string{"x": "@l", "y": "b"},
		Met:   map[string]string{"b": "l"},
		Knows: []string{"f1", "f2"}, Searched: []string{"l"},
	}
	for k := range 4 {
		c.Memory = append(c.Memory, memory{Turn: int64(k), Kind: "saw", Actor: "b", Loc: "l", Imp: 0.5})
	}
	w := &world{Phase: PhaseBuildup, Chars: []*charState{c, {ID: "b", Loc: "l"}},
		Prose: []string{"move#1", "take#0", "move#1", "speak#2"}, Felt: make([]string, 2, 8), Flags: []string{"f"}}
	w.Felt[0], w.Felt[1] = "a>b:1", "b>a:-1"
	changes := []struct {
		what string
		do   func()
	}{
		{"rel value in place", func() { c.Rel["b"] = 0.25 }},
		{"rel zero to minus zero", func() { c.Rel["c"] = math.Copysign(0, -1) }},
		{"rel key swapped", func() { delete(c.Rel, "c"); c.Rel["d"] = 0 }},
		{"rel emptied", func() { clear(c.Rel) }},
		{"rel refilled", func() { c.Rel["b"] = 1 }},
		{"seen value in place", func() { c.Seen["x"] = "b" }},
		{"seen key swapped", func() { delete(c.Seen, "y"); c.Seen["z"] = "b" }},
		{"met value in place", func() { c.Met["b"] = "m" }},
		{"met grown", func() { c.Met["c"] = "m" }},
		{"memory imp in place", func() { c.Memory[2].Imp = 0.4 }},
		{"memory imp to minus zero", func() { c.Memory[1].Imp = 0; c.Memory[3].Imp = math.Copysign(0, -1) }},
		{"memory forgotten and added", func() {
			c.Memory = append(c.Memory[:1], c.Memory[2:]...)
			c.Memory = append(c.Memory, memory{Turn: 9, Kind: "heard", Target: "b", Loc: "m", Imp: 0.9})
		}},
		{"memories swapped", func() { c.Memory[0], c.Memory[2] = c.Memory[2], c.Memory[0] }},
		{"memory kind in place", func() { c.Memory[3].Kind = "fought" }},
		{"memories gone", func() { c.Memory = c.Memory[:0] }},
		{"memory back", func() { c.Memory = append(c.Memory, memory{Turn: 10, Kind: "saw", Loc: "l"}) }},
		{"knows grown", func() { c.Knows = append(c.Knows, "f3") }},
		{"knows changed in place", func() { c.Knows[0] = "f0" }},
		{"searched cut", func() { c.Searched = c.Searched[:0] }},
		{"searched back", func() { c.Searched = append(c.Searched, "m") }},
		{"characters reordered", func() { w.Chars[0], w.Chars[1] = w.Chars[1], w.Chars[0] }},
		{"list shifted along", func() { w.Prose = append(w.Prose[2:], "wait#0", "move#1") }},
		{"list inserted into in place", func() { w.Felt = slices.Insert(w.Felt, 1, "a>c:2") }},
		{"list changed in place", func() { w.Felt[2] = "b>a:-2" }},
		{"list swapped", func() { w.Prose[0], w.Prose[3] = w.Prose[3], w.Prose[0] }},
		{"list grown from empty", func() { w.Introduced = append(w.Introduced, "a") }},
		{"list of one changed", func() { w.Flags[0] = "g" }},
		{"list cut", func() { w.Prose = w.Prose[:1] }},
	}
	var kept canonEncoder
	kept.world(w)
	for _, ch := range changes {
		ch.do()
		var fresh canonEncoder
		if got, want := kept.world(w), fresh.world(w); !bytes.Equal(got, want) {
			t.Fatalf("after %s:\n got %s\nwant %s", ch.what, got, want)
		}
		if got, want := kept.world(w), mustJSON(t, w); !bytes.Equal(got, want) {
			t.Fatalf("after %s, encoded again:\n got %s\nwant %s", ch.what, got, want)
		}
	}
}
