// Sentence shapes: a sentence with its people, places and things
// replaced. A story that says the same shape twice reads as a machine
// repeating itself, so the teller remembers the shapes it has told for
// the whole story (not only the last templates) and prefers a wording
// whose shape is new.

package engine

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// shapeMemory bounds how many told shapes the world keeps; a story of
// ordinary length tells fewer.
const shapeMemory = 240

// shapesPrefix marks the entry of the chronicler's memory that holds
// the shapes told, five characters a shape (see packShape); hexPrefix
// the same in eight hex digits a shape, as states written before hold
// it; quotePrefix a quoted line's key.
const (
	shapesPrefix = "S#"
	hexPrefix    = "s#"
	quotePrefix  = "q#"
)

// isShapesEntry reports whether a memory entry holds the shapes told.
func isShapesEntry(k string) bool {
	return strings.HasPrefix(k, shapesPrefix) || strings.HasPrefix(k, hexPrefix)
}

// shapeDigits are the digits of a packed shape: 85 printable ASCII
// characters that a JSON string holds as they are (no quote, backslash
// or HTML character), so that the state spends five bytes on a shape
// rather than eight hex digits, and its encoder writes them unchanged.
const shapeDigits = "!#$%'()*+,-./0123456789:;=?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz"

// packShape writes h as five digits, most significant first (85^5 >
// 2^32).
func packShape(b []byte, h uint32) []byte {
	var d [5]byte
	for k := 4; k >= 0; k-- {
		d[k] = shapeDigits[h%85]
		h /= 85
	}
	return append(b, d[:]...)
}

// packedShapes is the digits of the shapes a memory entry holds, five a
// shape; an entry in hex digits is packed.
func packedShapes(entry string) string {
	if s, ok := strings.CutPrefix(entry, shapesPrefix); ok {
		return s
	}
	s, ok := strings.CutPrefix(entry, hexPrefix)
	if !ok {
		return ""
	}
	b := make([]byte, 0, len(s)/8*5)
	for k := 0; k+8 <= len(s); k += 8 {
		if h, err := strconv.ParseUint(s[k:k+8], 16, 32); err == nil {
			b = packShape(b, uint32(h))
		}
	}
	return string(b)
}

// shapeNames is every name of a person, place or thing of a cast, and
// every way of calling a person by role, indexed by first byte, longest
// first: what a shape replaces with one mark.
type shapeNames [256][]shapeName

// shapeName is a name with its first eight bytes (fewer if it is
// shorter) as a number and a mask of them, so that most names that do
// not fit are told apart by one comparison: many share a first byte
// ("the reeve", "the tide-clerk", and every "the" of the prose).
type shapeName struct {
	s            string
	prefix, mask uint64
}

// word8At is up to eight bytes of s from k as a number, zero beyond
// its end (no name holds a zero byte, so a name running past the end
// cannot match).
func word8At(s string, k int) uint64 {
	if k+8 <= len(s) {
		return word8(s, k)
	}
	var w uint64
	for j := len(s) - 1; j >= k; j-- {
		w = w<<8 | uint64(s[j])
	}
	return w
}

func newShapeNames(c *Cast, x *castIndex) *shapeNames {
	var all []string
	add := func(s string) {
		if s != "" {
			all = append(all, s)
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
	slices.SortFunc(all, func(a, b string) int {
		if c := cmp.Compare(len(b), len(a)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	sn := &shapeNames{}
	for _, n := range all {
		mask := ^uint64(0)
		if len(n) < 8 {
			mask = 1<<(8*len(n)) - 1
		}
		sn[n[0]] = append(sn[n[0]], shapeName{s: n, prefix: word8At(n, 0), mask: mask})
	}
	return sn
}

// shapeOf hashes a sentence's shape (FNV-1a over the sentence with each
// name, the longest that fits, written as one mark), without building
// the string.
func (t *teller) shapeOf(sentence string) uint32 {
	x := t.ix()
	if x.shapes == nil {
		x.shapes = newShapeNames(t.cast, x)
	}
	// A sentence told is most often the last one tried, whose shape
	// was just worked out: the last answer is kept.
	if sentence == t.shapeOfLast && t.shapeOfKnown {
		return t.shapeLast
	}
	h := uint32(2166136261)
	for k := 0; k < len(sentence); {
		b := sentence[k]
		n := 1
		if names := x.shapes[b]; len(names) > 0 {
			w := word8At(sentence, k)
			for _, name := range names {
				if w&name.mask == name.prefix && (len(name.s) <= 8 || strings.HasPrefix(sentence[k+8:], name.s[8:])) {
					b, n = 0, len(name.s)
					break
				}
			}
		}
		h = (h ^ uint32(b)) * 16777619
		k += n
	}
	t.shapeOfLast, t.shapeLast, t.shapeOfKnown = sentence, h, true
	return h
}

// shapeTold reports whether the story has told a sentence of this
// shape: in an earlier turn (the shapes entry of the chronicler's
// memory) or in this one.
func (t *teller) shapeTold(sentence string) bool {
	h := t.shapeOf(sentence)
	if slices.Contains(t.newShapes, h) {
		return true
	}
	var hb [5]byte
	packShape(hb[:0], h)
	// Five digits compared as one number: the story's shapes are
	// looked through for every wording tried.
	want := word5(string(hb[:]), 0)
	for k := 0; k+5 <= len(t.oldShapes); k += 5 {
		if word5(t.oldShapes, k) == want {
			return true
		}
	}
	return false
}

// word5 is the five bytes of s from k as one number.
func word5(s string, k int) uint64 {
	s = s[k : k+5]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 | uint64(s[4])<<32
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

// shapesEntry is the memory entry of every shape told, the oldest
// dropped beyond shapeMemory; "" if this turn told none new.
func (t *teller) shapesEntry() string {
	if len(t.newShapes) == 0 {
		return ""
	}
	old := t.oldShapes
	if over := len(old)/5 + len(t.newShapes) - shapeMemory; over > 0 {
		old = old[min(len(old), over*5):]
	}
	var b strings.Builder
	b.Grow(len(shapesPrefix) + len(old) + 5*len(t.newShapes))
	b.WriteString(shapesPrefix)
	b.WriteString(old)
	for _, h := range t.newShapes {
		var hb [5]byte
		b.Write(packShape(hb[:0], h))
	}
	return b.String()
}

// keepProse trims the chronicler's memory: the last proseMemory
// template keys, every quoted line (a character does not say the same
// words twice in a story) and the newest shapes entry, in order.
func keepProse(p []string) []string {
	tpl, shp := 0, 0
	for _, k := range p {
		switch {
		case strings.HasPrefix(k, quotePrefix):
		case isShapesEntry(k):
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
		case isShapesEntry(k):
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
