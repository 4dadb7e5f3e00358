// Sentence shapes: a sentence with its people, places and things
// replaced. A story that says the same shape twice reads as a machine
// repeating itself, so the teller remembers the shapes it has told for
// the whole story (not only the last templates) and prefers a wording
// whose shape is new.

package engine

import (
	"cmp"
	"slices"
	"strings"
)

// shapeMemory bounds how many told shapes the world keeps; a story of
// ordinary length tells fewer.
const shapeMemory = 240

// shapePrefix marks a shape key in the chronicler's memory; quotePrefix
// a quoted line's.
const (
	shapePrefix = "s#"
	quotePrefix = "q#"
)

// shapeHash hashes what it is written (FNV-1a), so that a shape is
// hashed as the replacer writes it, without building the string.
type shapeHash uint32

func (h *shapeHash) WriteString(s string) (int, error) {
	v := *h
	for k := 0; k < len(s); k++ {
		v ^= shapeHash(s[k])
		v *= 16777619
	}
	*h = v
	return len(s), nil
}

func (h *shapeHash) Write(p []byte) (int, error) { return h.WriteString(string(p)) }

// shapeReplacer replaces every name of a person, place or thing of the
// cast, and every way of calling a person by role, with one mark.
func shapeReplacer(c *Cast, x *castIndex) *strings.Replacer {
	var pairs []string
	add := func(s string) {
		if s != "" {
			pairs = append(pairs, s, "\x00")
		}
	}
	for _, id := range x.ids {
		n := x.names[id]
		add(n[0])
		add(n[1])
		add(n[2])
		for _, r := range c.People[id].Refs {
			add("the " + r)
			add("The " + r)
		}
	}
	for _, n := range c.Places {
		add(n)
	}
	for _, n := range c.Items {
		add(n)
	}
	// Longest first, so that a full name is replaced before its first
	// name (strings.Replacer tries the pairs in order at each place).
	type pair struct{ from, to string }
	ps := make([]pair, 0, len(pairs)/2)
	for k := 0; k < len(pairs); k += 2 {
		ps = append(ps, pair{pairs[k], pairs[k+1]})
	}
	slices.SortFunc(ps, func(a, b pair) int {
		if c := cmp.Compare(len(b.from), len(a.from)); c != 0 {
			return c
		}
		return strings.Compare(a.from, b.from)
	})
	flat := make([]string, 0, len(pairs))
	for _, p := range ps {
		flat = append(flat, p.from, p.to)
	}
	return strings.NewReplacer(flat...)
}

// shapeOf hashes a sentence's shape.
func (t *teller) shapeOf(sentence string) uint32 {
	x := t.ix()
	if x.shapes == nil {
		x.shapes = shapeReplacer(t.cast, x)
	}
	// A sentence told is most often the last one tried, whose shape
	// was just worked out: the last answer is kept.
	if sentence == t.shapeOfLast && t.shapeOfKnown {
		return uint32(t.shapeH)
	}
	// The hash lives in the teller: a local would escape through the
	// writer interface, one allocation a sentence.
	t.shapeH = 2166136261
	x.shapes.WriteString(&t.shapeH, sentence)
	t.shapeOfLast, t.shapeOfKnown = sentence, true
	return uint32(t.shapeH)
}

// shapeTold reports whether the story has told a sentence of this
// shape: in an earlier turn (the shapes entry of the chronicler's
// memory, eight hex digits a shape) or in this one.
func (t *teller) shapeTold(sentence string) bool {
	h := t.shapeOf(sentence)
	if slices.Contains(t.newShapes, h) {
		return true
	}
	var hb [8]byte
	hexShape(hb[:], h)
	// Eight hex digits compared as one word: the story's shapes are
	// looked through for every wording tried.
	want := word8(string(hb[:]), 0)
	for k := 0; k+8 <= len(t.oldShapes); k += 8 {
		if word8(t.oldShapes, k) == want {
			return true
		}
	}
	return false
}

// word8 is the eight bytes of s from k as one number.
func word8(s string, k int) uint64 {
	s = s[k : k+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// noteShape remembers the shape of a sentence told.
func (t *teller) noteShape(sentence string) {
	if h := t.shapeOf(sentence); !slices.Contains(t.newShapes, h) {
		t.newShapes = append(t.newShapes, h)
	}
}

func hexShape(b []byte, h uint32) {
	const digits = "0123456789abcdef"
	for k := 7; k >= 0; k-- {
		b[k] = digits[h&15]
		h >>= 4
	}
}

// shapesEntry is the memory entry of every shape told, the oldest
// dropped beyond shapeMemory; "" if this turn told none new.
func (t *teller) shapesEntry() string {
	if len(t.newShapes) == 0 {
		return ""
	}
	old := t.oldShapes
	if over := len(old)/8 + len(t.newShapes) - shapeMemory; over > 0 {
		old = old[min(len(old), over*8):]
	}
	b := make([]byte, 0, len(shapePrefix)+len(old)+8*len(t.newShapes))
	b = append(append(b, shapePrefix...), old...)
	for _, h := range t.newShapes {
		var hb [8]byte
		hexShape(hb[:], h)
		b = append(b, hb[:]...)
	}
	return string(b)
}

// keepProse trims the chronicler's memory: the last proseMemory
// template keys, every quoted line (a character does not say the same
// words twice in a story) and the newest shapes entry, in order.
func keepProse(p []string) []string {
	tpl, shp := 0, 0
	for _, k := range p {
		switch {
		case strings.HasPrefix(k, quotePrefix):
		case strings.HasPrefix(k, shapePrefix):
			shp++
		default:
			tpl++
		}
	}
	dropT, dropS := max(0, tpl-proseMemory), max(0, shp-1)
	if dropT == 0 && dropS == 0 {
		return p
	}
	out := make([]string, 0, len(p)-dropT-dropS)
	for _, k := range p {
		switch {
		case strings.HasPrefix(k, quotePrefix):
		case strings.HasPrefix(k, shapePrefix):
			if dropS > 0 {
				dropS--
				continue
			}
		default:
			if dropT > 0 {
				dropT--
				continue
			}
		}
		out = append(out, k)
	}
	return out
}
