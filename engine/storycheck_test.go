package engine

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"testing"
)

// The checks of STORY.md ("Checks worth automating") that the storycheck
// package does not measure (lengths, who wins, the arc's peak, callbacks,
// relationship crossings, causes, movement), over many seeds of every
// built-in scenario. Each figure is logged; the assertions are the
// thresholds the built-ins meet, so a change that makes stories worse
// fails here. Contradictions, idle turns, repetition, turns that changed
// something and the rest of the table are in engine/storycheck.

// recorder keeps what the chronicler was given and what it told.
type recorder struct {
	turns []toldTurn
}

type toldTurn struct {
	scene Scene
	keep  []bool
	text  string
	used  []string
	// told: the records a sentence was written for.
	told map[int]bool
}

func (r *recorder) Narrate(ctx context.Context, sc Scene) (Narration, error) {
	cp := sc
	cp.Records = slices.Clone(sc.Records)
	keep := chooseRecords(&cp)
	n, err := defaultChronicler.Narrate(ctx, sc)
	told := map[int]bool{}
	for _, s := range n.Sentences {
		told[s.Record] = true
	}
	r.turns = append(r.turns, toldTurn{scene: cp, keep: keep, text: n.Text, used: n.Used, told: told})
	return n, err
}

// runStats are one story's figures.
type runStats struct {
	length    int
	ending    string
	peakPos   float64
	callbacks int
	bonds     int
	bondsTold int
	deeds     int
	caused    int
	sentences int
	moveSents int
}

// callbackAge is how old a memory must be to count as a callback.
const callbackAge = 5

func runStory(tb testing.TB, sc *Scenario, seed int64, maxTurns int) runStats {
	tb.Helper()
	rec := &recorder{}
	s := startSim(tb, sc, seed, Options{Chronicler: rec})
	var st runStats
	play(tb, s, maxTurns, nil)
	st.length = int(s.Seq())
	st.ending = s.w.Ending
	// The peak is where tension is highest; a plateau at the top (tension
	// is capped at 1) counts at its middle.
	peak := 0.0
	for _, t := range rec.turns {
		peak = max(peak, t.scene.Tension)
	}
	at, tops := 0, 0
	for k, t := range rec.turns {
		if t.scene.Tension >= peak-0.02 {
			at += k + 1
			tops++
		}
		bondKeys := 0
		for _, u := range t.used {
			if strings.HasPrefix(u, "bond.") {
				bondKeys++
			}
		}
		bondsHere := 0
		for k, r := range t.scene.Records {
			if r.Kind == "bond" && r.Detail != "mutual-skip" {
				st.bonds++
				if t.keep[k] {
					bondsHere++
				}
			}
			if !t.keep[k] {
				continue
			}
			// A callback counts only if its sentence was written.
			if r.Callback != nil && t.scene.Seq-r.Callback.Turn >= callbackAge && t.told[k] {
				st.callbacks++
			}
			switch r.Source {
			case SourceAI, SourcePlayer, SourceLLM:
				if r.Kind == ActWait {
					continue
				}
				st.deeds++
				if r.Cause != "" && r.Cause != "wander" {
					st.caused++
				}
			}
		}
		// A bond counts as told only if its sentence was written.
		st.bondsTold += min(bondsHere, bondKeys)
		for _, u := range t.used {
			if strings.HasPrefix(u, "move.") {
				st.moveSents++
			}
		}
		st.sentences += len(sentences(t.text))
	}
	st.peakPos = float64(at) / float64(max(tops, 1)) / float64(max(st.length, 1))
	return st
}

func TestStoryChecks(t *testing.T) {
	seeds := int64(24)
	if testing.Short() {
		seeds = 8
	}
	for _, sc := range Builtins() {
		t.Run(sc.ID, func(t *testing.T) {
			var all []runStats
			for seed := range seeds {
				all = append(all, runStory(t, sc, seed, 200))
			}
			var lengths []int
			resolved, inRange, peakOK := 0, 0, 0
			callbacks, turns, bonds, bondsTold, minBonds := 0, 0, 0, 0, math.MaxInt
			deeds, caused, sents, moveSents := 0, 0, 0, 0
			for _, st := range all {
				lengths = append(lengths, st.length)
				if st.ending != "cap" && st.ending != "last-standing" {
					resolved++
				}
				if st.length >= 35 && st.length <= 90 {
					inRange++
				}
				if st.peakPos >= 0.55 && st.peakPos <= 0.9 {
					peakOK++
				}
				callbacks += st.callbacks
				turns += st.length
				bonds += st.bonds
				bondsTold += st.bondsTold
				minBonds = min(minBonds, st.bonds)
				deeds += st.deeds
				caused += st.caused
				sents += st.sentences
				moveSents += st.moveSents
			}
			sort.Ints(lengths)
			n := len(all)
			endings := map[string]int{}
			for _, st := range all {
				endings[st.ending]++
			}
			// Who wins: the side each ending favours.
			sides := map[string]int{}
			for _, e := range sc.End {
				if f := endingSide(sc, e.ID); f != "" {
					sides[f] += 0
				}
			}
			for _, st := range all {
				if f := endingSide(sc, st.ending); f != "" {
					sides[f]++
				}
			}
			var wins []string
			for _, f := range slices.Sorted(maps.Keys(sides)) {
				wins = append(wins, fmt.Sprintf("%s %d", f, sides[f]))
			}
			topEnding := 0
			var ends []string
			for _, k := range slices.Sorted(maps.Keys(endings)) {
				ends = append(ends, fmt.Sprintf("%s %d", k, endings[k]))
				topEnding = max(topEnding, endings[k])
			}
			pct := func(a, b int) float64 { return 100 * float64(a) / float64(max(b, 1)) }
			t.Logf("lengths: min %d, p10 %d, median %d, p90 %d, max %d; %.0f%% within 35..90 turns",
				lengths[0], lengths[n/10], lengths[n/2], lengths[n*9/10], lengths[n-1], pct(inRange, n))
			t.Logf("endings: %s; wins by side: %s", strings.Join(ends, ", "), strings.Join(wins, ", "))
			t.Logf("ending by resolution %.0f%%; peak tension within 55..90%% of the story in %.0f%% of runs",
				pct(resolved, n), pct(peakOK, n))
			t.Logf("callbacks to memories %d+ turns old: %.2f per 10 turns", callbackAge, 10*float64(callbacks)/float64(turns))
			t.Logf("relationship crossings: %.1f per run (fewest %d), %.0f%% narrated", float64(bonds)/float64(n), minBonds, pct(bondsTold, bonds))
			t.Logf("told deeds with a recorded cause %.1f%%; movement sentences %.1f%% of %d",
				pct(caused, deeds), pct(moveSents, sents), sents)

			// The thresholds the built-ins meet today (STORY.md's aims in
			// brackets where they are not met yet).
			fail := func(ok bool, format string, args ...any) {
				if !ok {
					t.Errorf(format, args...)
				}
			}
			fail(pct(inRange, n) >= 80, "only %.0f%% of stories last 35..90 turns", pct(inRange, n))
			fail(pct(topEnding, n) <= 60 || testing.Short(), "one ending in %.0f%% of runs (%s)", pct(topEnding, n), strings.Join(ends, ", "))
			// Open outcomes (aim: each side 35..65%).
			// A third party (coldwater's salvage captain) may win less.
			least := 35.0
			if len(sides) > 2 {
				least = 15
			}
			for f, k := range sides {
				if testing.Short() {
					break // eight seeds are too few to measure shares
				}
				fail(pct(k, n) <= 65, "the %s side wins %.0f%% of runs (%s)", f, pct(k, n), strings.Join(wins, ", "))
				fail(pct(k, n) >= least, "the %s side wins only %.0f%% of runs (%s)", f, pct(k, n), strings.Join(wins, ", "))
			}
			fail(pct(resolved, n) >= 90, "only %.0f%% end by resolution", pct(resolved, n))
			fail(pct(peakOK, n) >= 60, "peak tension within 55..90%% of the story in only %.0f%% of runs", pct(peakOK, n))
			fail(10*float64(callbacks)/float64(turns) >= 0.9, "%.2f callbacks per 10 turns (aim 1)", 10*float64(callbacks)/float64(turns))
			fail(minBonds >= 2, "a story with %d relationship crossings", minBonds)
			fail(pct(bondsTold, bonds) >= 95, "only %.0f%% of relationship crossings narrated", pct(bondsTold, bonds))
			fail(pct(caused, deeds) >= 70, "only %.1f%% of told deeds have a recorded cause", pct(caused, deeds))
			fail(pct(moveSents, sents) <= 45, "movement is %.1f%% of all sentences", pct(moveSents, sents))
		})
	}
}

// TestCharactersDiffer measures STORY.md's "characters alike" check on
// the same states: each persona's choice of action, sampled over many
// seeds, against the choice the same persona would make in the same
// state with another character's traits. The mean total-variation
// distance between the two mixes must be clearly above zero.
func TestCharactersDiffer(t *testing.T) {
	for _, sc := range Builtins() {
		total, pairs := 0.0, 0
		for seed := int64(0); seed < 4; seed++ {
			s := startSim(t, sc, seed, Options{})
			for _, at := range []int{3, 12} {
				play(t, s, at-int(s.Seq()), nil)
				if s.Finished() {
					break
				}
				for i, c := range s.w.Chars {
					if !c.Onstage || !c.Alive {
						continue
					}
					base := s.perceive(i, s.Seq()+1)
					own := actionMix(base)
					for j := range s.sc.Characters {
						if j == i {
							continue
						}
						p := base
						p.Self.Traits = s.sc.Characters[j].Traits
						total += tvDistance(own, actionMix(p))
						pairs++
					}
				}
			}
		}
		mean := total / float64(max(pairs, 1))
		t.Logf("%s: mean divergence of action mixes on the same states %.3f over %d pairs", sc.ID, mean, pairs)
		if mean < 0.05 {
			t.Errorf("%s: characters choose too alike (divergence %.3f)", sc.ID, mean)
		}
	}
}

func actionMix(p Perception) map[string]float64 {
	mix := map[string]float64{}
	const draws = 64
	for k := range draws {
		p.Seed = uint64(k)*0x9e3779b97f4a7c15 + 1
		mix[decideUtility(&p).Kind] += 1.0 / draws
	}
	return mix
}

func tvDistance(a, b map[string]float64) float64 {
	d := 0.0
	for k, v := range a {
		d += math.Abs(v - b[k])
	}
	for k, v := range b {
		if _, ok := a[k]; !ok {
			d += v
		}
	}
	return d / 2
}

// endingSide is the side an ending of a scenario favours: the faction of
// the character its conditions name, or of whoever has a goal to bring
// the named item to the named place. "" if it names no side.
func endingSide(sc *Scenario, ending string) string {
	faction := func(id string) string {
		for _, c := range sc.Characters {
			if c.ID == id {
				if c.Faction != "" {
					return c.Faction
				}
				return "@" + c.ID
			}
		}
		return ""
	}
	for _, e := range sc.End {
		if e.ID != ending {
			continue
		}
		for _, c := range e.When {
			switch c.Kind {
			case "goal", "holds", "at":
				return faction(c.Character)
			case "item_at":
				for _, ch := range sc.Characters {
					for _, g := range ch.Goals {
						if g.Kind == GoalDeliver && g.Item == c.Item && g.Location == c.Location {
							return faction(ch.ID)
						}
					}
				}
			}
		}
	}
	return ""
}
