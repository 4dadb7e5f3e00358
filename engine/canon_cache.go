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
	rel       keptMap[float64]
	seen, met keptMap[string]
	mem       []memory // the memories mems was written from
	mems      pieces
	// What a character knows and where it has searched grow now and
	// then and are otherwise copied (their buffers grow as needed).
	knows, searched keptList
}

// cacheFor returns the sections kept for the character at position k.
func (e *canonEncoder) cacheFor(k int) *charCache {
	for len(e.cache) <= k {
		// Few allocations for the buffers' usual sizes (a buffer that
		// outgrows its part moves out of it): stories are short enough
		// that growing them one by one showed in the turn's allocations.
		b := make([]byte, 0, 3200)
		off := make([]int, 0, 160)
		part := func(p *pieces, n, size, o, offs int) {
			p.b, p.spare = b[n:n:n+size], b[n+size:n+size:n+2*size]
			p.off, p.spareOff = off[o:o:o+offs], off[o+offs:o+offs:o+2*offs]
		}
		cc := &charCache{mem: make([]memory, 0, MemorySize)}
		part(&cc.rel.pieces, 0, 256, 0, 24)
		part(&cc.seen.pieces, 512, 128, 48, 8)
		part(&cc.met.pieces, 768, 192, 64, 24)
		part(&cc.mems, 1152, 1024, 112, 24)
		pairs := make([]keptEntry[string], 0, 20)
		cc.rel.ents = make([]keptEntry[float64], 0, 12)
		cc.seen.ents, cc.met.ents = pairs[0:0:8], pairs[8:8:20]
		e.cache = append(e.cache, cc)
	}
	return e.cache[k]
}

// pieces is a JSON object or array as last written, with where each
// member starts and ends, so that the next one can copy members from it.
// It is written into spare, which then becomes b.
type pieces struct {
	b, spare      []byte
	off, spareOff []int
}

// begin starts writing the next encoding at e.b; it returns what e.b
// was, for end.
func (p *pieces) begin(e *canonEncoder, open byte) []byte {
	saved := e.b
	e.b = append(p.spare[:0], open)
	p.spareOff = p.spareOff[:0]
	return saved
}

// member opens a member, which the caller then writes to e.b.
func (p *pieces) member(e *canonEncoder) {
	if len(p.spareOff) > 0 {
		e.b = append(e.b, ',')
	}
	p.spareOff = append(p.spareOff, len(e.b))
}

// endMember closes the member opened last.
func (p *pieces) endMember(e *canonEncoder) { p.spareOff = append(p.spareOff, len(e.b)) }

// old is member i of the last encoding.
func (p *pieces) old(i int) []byte { return p.b[p.off[2*i]:p.off[2*i+1]] }

// end closes the new encoding, keeps it, and appends it to saved as e.b.
func (p *pieces) end(e *canonEncoder, close byte, saved []byte) {
	e.b = append(e.b, close)
	p.b, p.spare = e.b, p.b
	p.off, p.spareOff = p.spareOff, p.off
	e.b = append(saved, p.b...)
}

// keptMap is a map as last written, its entries sorted by key.
type keptMap[V any] struct {
	ents []keptEntry[V]
	pieces
}

type keptEntry[V any] struct {
	k     string
	v     V
	stale bool // v is not yet in the kept encoding
}

func sameBits(a, b float64) bool  { return math.Float64bits(a) == math.Float64bits(b) }
func sameString(a, b string) bool { return a == b }

// writeMap writes m as a JSON object (val writes a value). Maps change a
// few values at a time, so while the keys stay the same only the changed
// values are written again, and if none changed the kept encoding is
// copied whole. As many entries, each kept key present, means the same
// keys.
func writeMap[V any](e *canonEncoder, km *keptMap[V], m map[string]V, same func(a, b V) bool, val func(*canonEncoder, V)) {
	sameKeys := len(m) == len(km.ents) && len(km.b) > 0
	changed := false
	if sameKeys {
		for n := range km.ents {
			en := &km.ents[n]
			v, ok := m[en.k]
			if !ok {
				sameKeys = false
				break
			}
			if en.stale = !same(v, en.v); en.stale {
				en.v, changed = v, true
			}
		}
	}
	if !sameKeys {
		km.ents = km.ents[:0]
		for k, v := range m {
			km.ents = append(km.ents, keptEntry[V]{k: k, v: v, stale: true})
		}
		slices.SortFunc(km.ents, func(a, b keptEntry[V]) int { return strings.Compare(a.k, b.k) })
		changed = true
	}
	if !changed {
		e.b = append(e.b, km.b...)
		return
	}
	saved := km.begin(e, '{')
	for n := range km.ents {
		en := &km.ents[n]
		km.member(e)
		if en.stale {
			e.str(en.k)
			e.b = append(e.b, ':')
			val(e, en.v)
			en.stale = false
		} else {
			e.b = append(e.b, km.old(n)...)
		}
		km.endMember(e)
	}
	km.end(e, '}', saved)
}

func sameMemory(a, b *memory) bool {
	return a.Turn == b.Turn && a.Kind == b.Kind && a.Actor == b.Actor && a.Target == b.Target &&
		a.Item == b.Item && a.Loc == b.Loc && sameBits(a.Imp, b.Imp)
}

// memoryArray writes c.Memory as a JSON array. Memories come and go one
// at a time, so each one's object is kept: an unchanged memory is copied
// from where it was (found in place, one place on, or by a scan).
func (e *canonEncoder) memoryArray(cc *charCache, mems []memory) {
	if len(mems) == len(cc.mem) && len(cc.mems.b) > 0 {
		same := true
		for j := range mems {
			if !sameMemory(&mems[j], &cc.mem[j]) {
				same = false
				break
			}
		}
		if same {
			e.b = append(e.b, cc.mems.b...)
			return
		}
	}
	p := &cc.mems
	saved := p.begin(e, '[')
	for j := range mems {
		p.member(e)
		if i := findMemory(cc.mem, j, &mems[j]); i >= 0 {
			e.b = append(e.b, p.old(i)...)
		} else {
			e.memory(&mems[j])
		}
		p.endMember(e)
	}
	p.end(e, ']', saved)
	cc.mem = append(cc.mem[:0], mems...)
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

// keptList is a list of strings as last written.
type keptList struct {
	ss []string
	pieces
}

// writeList writes ss as a JSON array. The world's lists keep most of
// their strings from turn to turn, shifted along (the recent templates)
// or moved by an insertion (the feelings), so a string found in the last
// list near where the one before it was found (or else by a scan) is
// copied from there.
func (e *canonEncoder) writeList(kl *keptList, ss []string) {
	if len(kl.b) > 0 && slices.Equal(kl.ss, ss) {
		e.b = append(e.b, kl.b...)
		return
	}
	saved := kl.begin(e, '[')
	d := 0 // where the last string found was, less its own place
	for j, s := range ss {
		kl.member(e)
		i := -1
		for _, c := range [3]int{j + d, j + d - 1, j + d + 1} {
			if c >= 0 && c < len(kl.ss) && kl.ss[c] == s {
				i = c
				break
			}
		}
		if i < 0 {
			// Strings dropped from inside the list (the oldest template
			// keys, after the quoted lines kept before them) move the
			// rest by more than one place: look anywhere.
			i = slices.Index(kl.ss, s)
		}
		if i >= 0 {
			e.b = append(e.b, kl.old(i)...)
			d = i - j
		} else {
			e.str(s)
		}
		kl.endMember(e)
	}
	kl.end(e, ']', saved)
	kl.ss = append(kl.ss[:0], ss...)
}
