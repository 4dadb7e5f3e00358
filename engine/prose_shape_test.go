package engine

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// TestPackedShapes: a shape packed into five digits reads back as
// itself, at both ends of its range, and the digits are ones a JSON
// string holds unescaped.
func TestPackedShapes(t *testing.T) {
	hs := []uint32{0, 1, 84, 85, 0xdeadbeef, math.MaxUint32 - 1, math.MaxUint32}
	b := []byte(shapesPrefix)
	for _, h := range hs {
		b = packShape(b, h)
	}
	if len(b) != len(shapesPrefix)+5*len(hs) {
		t.Fatalf("%d bytes for %d shapes", len(b), len(hs))
	}
	if got := unpack(string(b)); !slices.Equal(got, hs) {
		t.Fatalf("read back %v, want %v", got, hs)
	}
	q, err := json.Marshal(string(b))
	if err != nil || string(q) != `"`+string(b)+`"` {
		t.Fatalf("the packed shapes are escaped in JSON: %s", q)
	}
	if len(shapeDigits) != 85 {
		t.Fatalf("%d digits", len(shapeDigits))
	}
}

// TestHexShapesStillRead: a state written before shapes were packed
// (eight hex digits a shape) continues as a packed one does, and its
// next shapes entry is packed.
func TestHexShapesStillRead(t *testing.T) {
	sc := mustBuiltin(t, "heronsalt")
	orig := startSim(t, sc, 5, Options{})
	play(t, orig, 12, someInput)
	state, err := orig.State()
	if err != nil {
		t.Fatal(err)
	}
	var w world
	if err := json.Unmarshal(state, &w); err != nil {
		t.Fatal(err)
	}
	found := false
	for k, e := range w.Prose {
		if strings.HasPrefix(e, shapesPrefix) {
			var hex strings.Builder
			hex.WriteString(hexPrefix)
			for _, h := range unpack(e) {
				fmt.Fprintf(&hex, "%08x", h)
			}
			w.Prose[k], found = hex.String(), true
		}
	}
	if !found {
		t.Fatal("no shapes entry after 12 turns")
	}
	old, err := json.Marshal(&w)
	if err != nil {
		t.Fatal(err)
	}
	restored, err := RestoreSim(sc, 5, old, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, b := play(t, orig, 30, someInput), play(t, restored, 30, someInput)
	if len(a) != len(b) {
		t.Fatalf("%d turns, restored from hex %d", len(a), len(b))
	}
	for k := range a {
		if a[k].Narrative != b[k].Narrative {
			t.Fatalf("turn %d told otherwise from a state with hex shapes:\n%s\n%s", a[k].Seq, a[k].Narrative, b[k].Narrative)
		}
	}
	if slices.ContainsFunc(restored.w.Prose, func(e string) bool { return strings.HasPrefix(e, hexPrefix) }) {
		t.Error("the hex shapes entry is still kept after 30 turns")
	}
}

// unpack reads the shapes of a packed entry.
func unpack(entry string) []uint32 {
	digits := packedShapes(entry)
	var hs []uint32
	for k := 0; k+5 <= len(digits); k += 5 {
		h := uint64(0)
		for _, c := range []byte(digits[k : k+5]) {
			h = h*85 + uint64(strings.IndexByte(shapeDigits, c))
		}
		hs = append(hs, uint32(h))
	}
	return hs
}
