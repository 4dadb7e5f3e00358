package engine

import (
	"math"
	"slices"
	"strings"
)

// A character's relations, memories and sightings are most of the state
// encoding, and most of them are as they were a turn before, so the
// encoder keeps each of those sections as it last wrote it, beside a copy
// of the values it was written from. A section is reused only when the character's current
// values equal that copy, so no code that changes a character has to say
// so: the hash cannot go stale.
//
// Floats are compared by their bits: 0 and -0 are equal but encode
// differently, and NaN, which is never equal, is simply written again.

// charCache is one character's sections, by position in world.Chars.
type charCache struct {
	rel        []relEntry // sorted by key
	relEnc     []byte
	relOff     []int // where each relation starts in relEnc, and ends
	relScratch []byte
	seen, met  []strEntry // sorted by key
	seenEnc    []byte
	metEnc     []byte
	mem        []memory
	memEnc     []byte
	memOff     []int // where each memory's object starts in memEnc, and ends
	memScratch []byte
	offScratch []int // the next relOff or memOff
}

// cacheFor returns the sections kept for the character at position k.
func (e *canonEncoder) cacheFor(k int) *charCache {
	for len(e.cache) <= k {
		// Few allocations for the buffers' usual sizes (a buffer that
		// outgrows its part moves out of it): stories are short enough
		// that growing them one by one showed in the turn's allocations.
		b := make([]byte, 0, 3584)
		off := make([]int, 0, 96)
		pairs := make([]strEntry, 0, 32)
		e.cache = append(e.cache, &charCache{
			rel: make([]relEntry, 0, 16), relOff: off[0:0:32],
			relEnc: b[0:0:384], relScratch: b[384:384:768],
			seen: pairs[0:0:16], seenEnc: b[768:768:1024],
			met: pairs[16:16:32], metEnc: b[1024:1024:1536],
			mem: make([]memory, 0, MemorySize), memOff: off[32:32:64], offScratch: off[64:64:96],
			memEnc: b[1536:1536:2560], memScratch: b[2560:2560:3584],
		})
	}
	return e.cache[k]
}

func sameBits(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }

// relObject writes c.Rel as a JSON object. Relations drift a few at a
// time, so while the keys stay the same only the changed values are
// written again; the rest is copied from the last encoding.
func (e *canonEncoder) relObject(cc *charCache, m map[string]float64) {
	sameKeys := len(m) == len(cc.rel) && len(cc.relEnc) > 0
	changed := false
	if sameKeys {
		for n := range cc.rel {
			r := &cc.rel[n]
			v, ok := m[r.k]
			if !ok {
				sameKeys = false
				break
			}
			if r.stale = !sameBits(v, r.v); r.stale {
				r.v, changed = v, true
			}
		}
	}
	if !sameKeys {
		cc.rel = cc.rel[:0]
		for k, v := range m {
			cc.rel = append(cc.rel, relEntry{k: k, v: v, stale: true})
		}
		slices.SortFunc(cc.rel, func(a, b relEntry) int { return strings.Compare(a.k, b.k) })
		changed = true
	}
	if changed {
		e.rebuildRel(cc)
	}
	e.b = append(e.b, cc.relEnc...)
}

// rebuildRel writes the kept relations into cc.relEnc, each stale one
// afresh, the others copied from the last encoding.
func (e *canonEncoder) rebuildRel(cc *charCache) {
	saved := e.b
	e.b = append(cc.relScratch[:0], '{')
	off := cc.offScratch[:0]
	for n := range cc.rel {
		r := &cc.rel[n]
		if n > 0 {
			e.b = append(e.b, ',')
		}
		off = append(off, len(e.b))
		if r.stale {
			e.str(r.k)
			e.b = append(e.b, ':')
			e.float(r.v)
			r.stale = false
		} else {
			e.b = append(e.b, cc.relEnc[cc.relOff[2*n]:cc.relOff[2*n+1]]...)
		}
		off = append(off, len(e.b))
	}
	e.b = append(e.b, '}')
	cc.relScratch, cc.relEnc = cc.relEnc, e.b
	cc.offScratch, cc.relOff = cc.relOff, off
	e.b = saved
}

func sameStrMap(kept []strEntry, m map[string]string) bool {
	if len(kept) != len(m) || kept == nil {
		return false
	}
	for _, p := range kept {
		if v, ok := m[p.k]; !ok || v != p.v {
			return false
		}
	}
	return true
}

// cachedStrMap writes m as a JSON object, from kept and enc if unchanged;
// it returns the (possibly rewritten) cache.
func (e *canonEncoder) cachedStrMap(kept []strEntry, enc []byte, m map[string]string) ([]strEntry, []byte) {
	if !sameStrMap(kept, m) {
		kept = kept[:0]
		for k, v := range m {
			kept = append(kept, strEntry{k, v})
		}
		slices.SortFunc(kept, func(a, b strEntry) int { return strings.Compare(a.k, b.k) })
		n0 := len(e.b)
		e.strObject(kept)
		return kept, append(enc[:0], e.b[n0:]...)
	}
	e.b = append(e.b, enc...)
	return kept, enc
}

func sameMemory(a, b *memory) bool {
	return a.Turn == b.Turn && a.Kind == b.Kind && a.Actor == b.Actor && a.Target == b.Target &&
		a.Item == b.Item && a.Loc == b.Loc && sameBits(a.Imp, b.Imp)
}

// memoryArray writes c.Memory as a JSON array. Memories come and go one
// at a time, so each one's object is kept: an unchanged memory is copied
// from where it was (found in place, one place on, or by a scan).
func (e *canonEncoder) memoryArray(cc *charCache, mems []memory) {
	if len(mems) == len(cc.mem) && len(cc.memEnc) > 0 {
		same := true
		for j := range mems {
			if !sameMemory(&mems[j], &cc.mem[j]) {
				same = false
				break
			}
		}
		if same {
			e.b = append(e.b, cc.memEnc...)
			return
		}
	}
	saved := e.b
	e.b = append(cc.memScratch[:0], '[')
	off := cc.offScratch[:0]
	for j := range mems {
		if j > 0 {
			e.b = append(e.b, ',')
		}
		off = append(off, len(e.b))
		if i := findMemory(cc.mem, j, &mems[j]); i >= 0 {
			e.b = append(e.b, cc.memEnc[cc.memOff[2*i]:cc.memOff[2*i+1]]...)
		} else {
			e.memory(&mems[j])
		}
		off = append(off, len(e.b))
	}
	e.b = append(e.b, ']')
	cc.memScratch, cc.memEnc = cc.memEnc, e.b
	cc.offScratch, cc.memOff = cc.memOff, off
	cc.mem = append(cc.mem[:0], mems...)
	e.b = append(saved, cc.memEnc...)
}

// findMemory returns the position in kept of a memory equal to m, looked
// for first where m stands (j) and one place on, or -1.
func findMemory(kept []memory, j int, m *memory) int {
	for _, i := range [2]int{j, j + 1} {
		if i < len(kept) && sameMemory(&kept[i], m) {
			return i
		}
	}
	for i := range kept {
		if sameMemory(&kept[i], m) {
			return i
		}
	}
	return -1
}
