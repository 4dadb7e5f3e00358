package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestCanonicalEncodingIsJSON checks the hand-written encoder against
// encoding/json on every state of many stories, and on odd values.
func TestCanonicalEncodingIsJSON(t *testing.T) {
	var e canonEncoder
	check := func(what string, w *world) {
		t.Helper()
		want, err := json.Marshal(w)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.world(w); !bytes.Equal(got, want) {
			t.Fatalf("%s:\n got %s\nwant %s", what, got, want)
		}
	}
	states := 0
	for _, sc := range Builtins() {
		for seed := int64(0); seed < 6; seed++ {
			s := startSim(t, sc, seed, Options{})
			check(fmt.Sprintf("%s/%d start", sc.ID, seed), s.w)
			for !s.Finished() && s.Seq() < 120 {
				play(t, s, 1, nil)
				check(fmt.Sprintf("%s/%d turn %d", sc.ID, seed, s.Seq()), s.w)
				states++
			}
		}
	}
	odd := &world{Ending: "a<b>&\"c\"\n", Phase: "ünïcode", Tension: 1e-9, Climax: 3}
	odd.Chars = []*charState{{ID: "x", Rel: map[string]float64{"b": -2.5e-7, "a": 1e22, "c": 0.1 + 0.2}, Seen: map[string]string{"z": "\u2028", "y": "@q"}, Goals: []goalState{{ID: "g", Status: GoalWon, Turn: 4}}, Memory: []memory{{Turn: 1, Kind: "k", Loc: "l", Imp: 0.7}}}, nil}
	odd.Items = []*itemState{{ID: "i", Hidden: true, Fixed: true}, nil}
	check("odd values", odd)
	check("empty world", &world{})
	t.Logf("%d states agree", states)
}

// TestStateHashGolden pins the state hashes of a few stories: a change
// of encoding or of the simulation shows up here, and is accepted by
// running the test with -update.
func TestStateHashGolden(t *testing.T) {
	var b strings.Builder
	for _, sc := range Builtins() {
		s := startSim(t, sc, 7, Options{})
		sum := sha256.Sum256(mustJSON(t, s.w))
		fmt.Fprintf(&b, "%s seed 7 start %s\n", sc.ID, hex.EncodeToString(sum[:]))
		for _, tr := range play(t, s, 200, someInput) {
			if tr.Seq%10 == 0 || tr.Finished {
				fmt.Fprintf(&b, "%s seed 7 turn %d %s\n", sc.ID, tr.Seq, tr.StateHash)
			}
		}
	}
	golden(t, "state_hashes.golden", b.String())
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	out, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if string(want) != got {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Fatalf("%s differs at line %d:\n got %s\nwant %s\n(if the change is deliberate, run with -update)", path, i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("%s differs in length: %d lines, want %d (if deliberate, run with -update)", path, len(gl), len(wl))
	}
}

// TestStoryGolden pins the told story of each built-in for one seed, so
// that any change to what happens or how it is told is seen and accepted
// on purpose (run with -update).
func TestStoryGolden(t *testing.T) {
	for _, sc := range Builtins() {
		turns := play(t, startSim(t, sc, 7, Options{}), 200, nil)
		golden(t, sc.ID+"_seed7.md", RenderMarkdown(sc.Title, sc.Premise, turns))
	}
}

// TestStateIsJSONAndOwned checks that State, which hands out the
// encoding the state hash was made of, is what encoding/json makes of the
// world at every point (new, after each step, after a restore), and that
// a returned state is not overwritten by later turns.
func TestStateIsJSONAndOwned(t *testing.T) {
	sc := mustBuiltin(t, "heronsalt")
	s := startSim(t, sc, 3, Options{})
	check := func(what string, s *Sim) []byte {
		t.Helper()
		got, err := s.State()
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(s.w)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: State differs from encoding/json:\n got %s\nwant %s", what, got, want)
		}
		return got
	}
	first := check("new", s)
	firstCopy := bytes.Clone(first)
	var kept, keptCopy []byte
	for !s.Finished() && s.Seq() < 30 {
		play(t, s, 1, nil)
		st := check(fmt.Sprintf("turn %d", s.Seq()), s)
		if s.Seq() == 5 {
			kept, keptCopy = st, bytes.Clone(st)
			r, err := RestoreSim(sc, 3, st, Options{})
			if err != nil {
				t.Fatal(err)
			}
			check("restored", r)
		}
	}
	if !bytes.Equal(first, firstCopy) || !bytes.Equal(kept, keptCopy) {
		t.Fatal("a state returned earlier was overwritten by later turns")
	}
}

// BenchmarkStepState is a turn as the runner plays it: a step, then the
// state to store.
func BenchmarkStepState(b *testing.B) {
	sc := tenCharacters(b)
	ctx := context.Background()
	seed := int64(1)
	s := startSim(b, sc, seed, Options{})
	b.ReportAllocs()
	for b.Loop() {
		if s.Finished() || s.Seq() >= 200 {
			seed++
			s = startSim(b, sc, seed, Options{})
		}
		if _, err := s.Step(ctx, nil); err != nil {
			b.Fatal(err)
		}
		if _, err := s.State(); err != nil {
			b.Fatal(err)
		}
	}
}

// The hand-written string escape must agree with encoding/json on every
// kind of character, since prose lines with quotes and dashes are hashed.
func TestCanonStringIsJSON(t *testing.T) {
	cases := []string{
		"", "plain", `she said "no"`, `back\slash`, "a <b> & c", "tab\there\nnew\rret\bb\ff",
		"\x00\x01\x1f\x7f", "em — dash, ‘curly’ “quotes”", "line\u2028sep\u2029para",
		"bad \xff utf8 \xc3", "é", "\U0001F600 emoji", "trunc \xe2\x80",
	}
	for b := 0; b < 256; b++ {
		cases = append(cases, string([]byte{'x', byte(b), 'y'}))
		// Every byte at every place of the words read eight at a time.
		for at := range 17 {
			s := []byte("abcdefghijklmnopq")
			s[at] = byte(b)
			cases = append(cases, string(s))
		}
	}
	for _, r := range []string{"\u2028", "é", "\U0001F600", "\xff", "\xe2\x80"} {
		for at := range 9 {
			cases = append(cases, "abcdefghi"[:at]+r+"jklmnopqrstuvwxyz")
		}
	}
	var e canonEncoder
	for _, s := range cases {
		e.b = e.b[:0]
		e.str(s)
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if string(e.b) != string(want) {
			t.Errorf("str(%q) = %s, want %s", s, e.b, want)
		}
	}
}
