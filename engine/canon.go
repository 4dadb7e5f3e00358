package engine

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// The state hash is the sha256 of the world's canonical encoding. That
// encoding is byte for byte what encoding/json makes of the world (struct
// fields in declaration order, empty optional fields left out, map keys
// sorted, floats in json's shortest form), written by hand because
// reflection made the hash a fifth of the cost of a turn. A test checks
// the two agree on many states; a golden test pins the hashes.

type canonEncoder struct {
	b []byte
	// Each character's sections and the world's lists as last written
	// (canon_cache.go).
	cache                          []*charCache
	flags, prose, introduced, felt keptList
}

func (e *canonEncoder) world(w *world) []byte {
	e.b = e.b[:0]
	e.b = append(e.b, `{"seq":`...)
	e.b = strconv.AppendInt(e.b, w.Seq, 10)
	e.b = append(e.b, `,"finished":`...)
	e.b = strconv.AppendBool(e.b, w.Finished)
	if w.Ending != "" {
		e.b = append(e.b, `,"ending":`...)
		e.str(w.Ending)
	}
	e.b = append(e.b, `,"tension":`...)
	e.float(w.Tension)
	e.b = append(e.b, `,"phase":`...)
	e.str(w.Phase)
	e.b = append(e.b, `,"phase_turns":`...)
	e.b = strconv.AppendInt(e.b, int64(w.PhaseTurns), 10)
	if w.Climax != 0 {
		e.b = append(e.b, `,"climax":`...)
		e.b = strconv.AppendInt(e.b, w.Climax, 10)
	}
	if w.Decided != 0 {
		e.b = append(e.b, `,"decided":`...)
		e.b = strconv.AppendInt(e.b, w.Decided, 10)
	}
	if w.Verdict != "" {
		e.b = append(e.b, `,"verdict":`...)
		e.str(w.Verdict)
	}
	if w.Tip != 0 {
		e.b = append(e.b, `,"tip":`...)
		e.b = strconv.AppendInt(e.b, w.Tip, 10)
	}
	if w.HeldBy != "" {
		e.b = append(e.b, `,"held_by":`...)
		e.str(w.HeldBy)
	}
	if w.Held != 0 {
		e.b = append(e.b, `,"held":`...)
		e.b = strconv.AppendInt(e.b, w.Held, 10)
	}
	e.b = append(e.b, `,"chars":`...)
	if w.Chars == nil {
		e.b = append(e.b, "null"...)
	} else {
		e.b = append(e.b, '[')
		for k, c := range w.Chars {
			if k > 0 {
				e.b = append(e.b, ',')
			}
			e.char(c, e.cacheFor(k))
		}
		e.b = append(e.b, ']')
	}
	e.b = append(e.b, `,"items":`...)
	if w.Items == nil {
		e.b = append(e.b, "null"...)
	} else {
		e.b = append(e.b, '[')
		for k, it := range w.Items {
			if k > 0 {
				e.b = append(e.b, ',')
			}
			e.item(it)
		}
		e.b = append(e.b, ']')
	}
	e.b = append(e.b, `,"fired":`...)
	if w.Fired == nil {
		e.b = append(e.b, "null"...)
	} else {
		e.b = append(e.b, '[')
		for k, f := range w.Fired {
			if k > 0 {
				e.b = append(e.b, ',')
			}
			e.b = strconv.AppendBool(e.b, f)
		}
		e.b = append(e.b, ']')
	}
	if len(w.Flags) > 0 {
		e.b = append(e.b, `,"flags":`...)
		e.writeList(&e.flags, w.Flags)
	}
	if len(w.Prose) > 0 {
		e.b = append(e.b, `,"prose":`...)
		e.writeList(&e.prose, w.Prose)
	}
	if len(w.Introduced) > 0 {
		e.b = append(e.b, `,"introduced":`...)
		e.writeList(&e.introduced, w.Introduced)
	}
	if len(w.Felt) > 0 {
		e.b = append(e.b, `,"felt":`...)
		e.writeList(&e.felt, w.Felt)
	}
	e.b = append(e.b, '}')
	return e.b
}

func (e *canonEncoder) char(c *charState, cc *charCache) {
	if c == nil {
		e.b = append(e.b, "null"...)
		return
	}
	e.b = append(e.b, `{"id":`...)
	e.str(c.ID)
	e.b = append(e.b, `,"loc":`...)
	e.str(c.Loc)
	e.b = append(e.b, `,"health":`...)
	e.b = strconv.AppendInt(e.b, int64(c.Health), 10)
	e.b = append(e.b, `,"alive":`...)
	e.b = strconv.AppendBool(e.b, c.Alive)
	e.b = append(e.b, `,"onstage":`...)
	e.b = strconv.AppendBool(e.b, c.Onstage)
	if len(c.Inv) > 0 {
		e.b = append(e.b, `,"inv":`...)
		e.strs(c.Inv)
	}
	if len(c.Knows) > 0 {
		e.b = append(e.b, `,"knows":`...)
		e.writeList(&cc.knows, c.Knows)
	}
	if len(c.Rel) > 0 {
		e.b = append(e.b, `,"rel":`...)
		writeMap(e, &cc.rel, c.Rel, sameBits, (*canonEncoder).float)
	}
	if len(c.Goals) > 0 {
		e.b = append(e.b, `,"goals":[`...)
		for n, g := range c.Goals {
			if n > 0 {
				e.b = append(e.b, ',')
			}
			e.b = append(e.b, `{"id":`...)
			e.str(g.ID)
			e.b = append(e.b, `,"status":`...)
			e.str(g.Status)
			if g.Turn != 0 {
				e.b = append(e.b, `,"turn":`...)
				e.b = strconv.AppendInt(e.b, g.Turn, 10)
			}
			if g.Slipped != 0 {
				e.b = append(e.b, `,"slipped":`...)
				e.b = strconv.AppendInt(e.b, int64(g.Slipped), 10)
			}
			e.b = append(e.b, '}')
		}
		e.b = append(e.b, ']')
	}
	if len(c.Memory) > 0 {
		e.b = append(e.b, `,"memory":`...)
		e.memoryArray(cc, c.Memory)
	}
	if len(c.Seen) > 0 {
		e.b = append(e.b, `,"seen":`...)
		writeMap(e, &cc.seen, c.Seen, sameString, (*canonEncoder).str)
	}
	if len(c.Met) > 0 {
		e.b = append(e.b, `,"met":`...)
		writeMap(e, &cc.met, c.Met, sameString, (*canonEncoder).str)
	}
	if len(c.Searched) > 0 {
		e.b = append(e.b, `,"searched":`...)
		e.writeList(&cc.searched, c.Searched)
	}
	if len(c.Last) > 0 {
		e.b = append(e.b, `,"last":`...)
		e.strs(c.Last)
	}
	if c.Came != "" {
		e.b = append(e.b, `,"came":`...)
		e.str(c.Came)
	}
	e.b = append(e.b, '}')
}

func (e *canonEncoder) memory(m *memory) {
	e.b = append(e.b, `{"turn":`...)
	e.b = strconv.AppendInt(e.b, m.Turn, 10)
	e.b = append(e.b, `,"kind":`...)
	e.str(m.Kind)
	if m.Actor != "" {
		e.b = append(e.b, `,"actor":`...)
		e.str(m.Actor)
	}
	if m.Target != "" {
		e.b = append(e.b, `,"target":`...)
		e.str(m.Target)
	}
	if m.Item != "" {
		e.b = append(e.b, `,"item":`...)
		e.str(m.Item)
	}
	e.b = append(e.b, `,"loc":`...)
	e.str(m.Loc)
	e.b = append(e.b, `,"imp":`...)
	e.float(m.Imp)
	e.b = append(e.b, '}')
}

func (e *canonEncoder) item(it *itemState) {
	if it == nil {
		e.b = append(e.b, "null"...)
		return
	}
	e.b = append(e.b, `{"id":`...)
	e.str(it.ID)
	if it.Loc != "" {
		e.b = append(e.b, `,"loc":`...)
		e.str(it.Loc)
	}
	if it.Holder != "" {
		e.b = append(e.b, `,"holder":`...)
		e.str(it.Holder)
	}
	if it.Hidden {
		e.b = append(e.b, `,"hidden":true`...)
	}
	if it.Fixed {
		e.b = append(e.b, `,"fixed":true`...)
	}
	e.b = append(e.b, '}')
}

func (e *canonEncoder) strs(ss []string) {
	e.b = append(e.b, '[')
	for n, s := range ss {
		if n > 0 {
			e.b = append(e.b, ',')
		}
		e.str(s)
	}
	e.b = append(e.b, ']')
}

// canonPlain marks the ASCII bytes a JSON string holds as they are.
var canonPlain = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// str writes a JSON string escaped exactly as encoding/json does.
func (e *canonEncoder) str(s string) { e.b = AppendJSONString(e.b, s) }

// AppendJSONString appends s as a JSON string escaped exactly as
// encoding/json does (HTML characters, U+2028/U+2029 and invalid UTF-8
// included), without the allocation a json.Marshal call costs: prose
// lines are hashed and turns encoded every turn.
func AppendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if i = plainRun(s, i); i >= len(s) {
			break
		}
		if c := s[i]; c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// plainRun returns the place of the first byte from i on that a JSON
// string does not hold as it is (canonPlain), or len(s). Most bytes
// written are plain, so it goes eight at a time by word arithmetic: a
// byte below 0x20 or equal to one of the five escaped ('"' and '&', '<'
// and '>' are told apart by one bit each) sets the top bit of its byte
// in m, as does a byte from 0x80.
func plainRun(s string, i int) int {
	const ones, tops = 0x0101010101010101, 0x8080808080808080
	for ; i+8 <= len(s); i += 8 {
		w := s[i : i+8]
		x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
			uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
		q := x | ones*0x04 ^ ones*'&' // zero where '"' or '&'
		a := x | ones*0x02 ^ ones*'>' // zero where '<' or '>'
		r := x ^ ones*'\\'
		if (x|(x-ones*0x20)&^x|(q-ones)&^q|(a-ones)&^a|(r-ones)&^r)&tops != 0 {
			break
		}
	}
	for i < len(s) && s[i] < utf8.RuneSelf && canonPlain[s[i]] {
		i++
	}
	return i
}

// float writes a float64 as encoding/json does.
func (e *canonEncoder) float(f float64) {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	e.b = strconv.AppendFloat(e.b, f, format, -1, 64)
	if format == 'e' {
		// e-09 becomes e-9, as encoding/json writes it.
		n := len(e.b)
		if n >= 4 && e.b[n-4] == 'e' && e.b[n-3] == '-' && e.b[n-2] == '0' {
			e.b[n-2] = e.b[n-1]
			e.b = e.b[:n-1]
		}
	}
}
