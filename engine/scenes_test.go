package engine

import (
	"math"
	"strings"
	"testing"
)

// sceneStats are the figures of "scenes, not commutes" for one or many
// stories.
type sceneStats struct {
	stories, resolved     int
	endings               map[string]int
	turns, idle           int
	moves, bounces        int
	carrierMoves, away    int
	told, stakes          int
	fightsAfterVerdict    int
	moveTold, moveSkipped int
}

// idleTurn: every deed a move, a wait or a failure, and nothing scripted.
func idleTurn(evs []Event) bool {
	for _, e := range evs {
		if e.Source == SourceScript && e.Kind != "tip" {
			return false
		}
		if e.Source == SourceScript {
			continue
		}
		if e.Kind != ActMove && e.Kind != ActWait && e.Outcome != OutcomeFailure {
			return false
		}
	}
	return true
}

// carrierDestination is where an active deliver goal of character i on
// an item it holds takes it, "" if none.
func carrierDestination(s *Sim, i int) string {
	c := s.w.Chars[i]
	for j, g := range s.sc.Characters[i].Goals {
		if g.Kind != GoalDeliver || c.Goals[j].Status != GoalActive || !c.holds(g.Item) || !goalAfterWon(s, i, g) {
			continue
		}
		// Where the one it goes to was last seen, as the carrier knows.
		if loc := c.Met[g.Target]; g.Target != "" && loc != "" {
			return loc
		}
		return g.Location
	}
	return ""
}

func (st *sceneStats) add(o sceneStats) {
	if st.endings == nil {
		st.endings = map[string]int{}
	}
	for k, v := range o.endings {
		st.endings[k] += v
	}
	st.stories += o.stories
	st.resolved += o.resolved
	st.turns += o.turns
	st.idle += o.idle
	st.moves += o.moves
	st.bounces += o.bounces
	st.carrierMoves += o.carrierMoves
	st.away += o.away
	st.told += o.told
	st.stakes += o.stakes
	st.fightsAfterVerdict += o.fightsAfterVerdict
}

func measureScenes(tb testing.TB, sc *Scenario, seed int64) sceneStats {
	tb.Helper()
	s := startSim(tb, sc, seed, Options{})
	st := sceneStats{stories: 1}
	n := len(s.w.Chars)
	// locs[k] holds where each character stood after turn k.
	var locs [][]string
	snapLocs := func() []string {
		l := make([]string, n)
		for i, c := range s.w.Chars {
			l[i] = c.Loc
		}
		return l
	}
	carrierDests := func() []string {
		d := make([]string, n)
		for i := range s.w.Chars {
			d[i] = carrierDestination(s, i)
		}
		return d
	}
	// What stood before the turn being measured.
	locs = append(locs, snapLocs())
	prev, decided, dests := s.Snapshot(), false, carrierDests()
	playEach(tb, s, 300, nil, func(tr Turn) {
		st.turns++
		if idleTurn(tr.Events) {
			st.idle++
		}
		now := s.Snapshot()
		if strings.TrimSpace(tr.Narrative) != "" {
			st.told++
			if sc.Changed(&prev, &now) {
				st.stakes++
			}
		}
		l := snapLocs()
		k := len(locs)
		for i := range n {
			if l[i] == locs[k-1][i] {
				continue
			}
			st.moves++
			if k >= 2 && l[i] == locs[k-2][i] {
				st.bounces++
			}
			if d := dests[i]; d != "" {
				st.carrierMoves++
				a, b, x := s.geo.locIndex[locs[k-1][i]], s.geo.locIndex[l[i]], s.geo.locIndex[d]
				if s.geo.dist[b][x] > s.geo.dist[a][x] {
					st.away++
				}
			}
		}
		locs = append(locs, l)
		if decided {
			for _, e := range tr.Events {
				if e.Kind == ActAttack {
					st.fightsAfterVerdict++
				}
			}
		}
		prev, decided, dests = now, s.w.Decided != 0, carrierDests()
	})
	st.endings = map[string]int{endingSide(sc, s.w.Ending): 1}
	if s.w.Ending != "cap" && s.w.Ending != "last-standing" {
		st.resolved++
	}
	return st
}

// TestScenes measures "scenes, not commutes" over 50 seeds of every
// built-in scenario: idle turns, moves straight back, carriers walking
// away from where the thing goes, fights after the verdict, endings.
func TestScenes(t *testing.T) {
	seeds := int64(50)
	if testing.Short() {
		seeds = 12
	}
	pct := func(a, b int) float64 { return 100 * float64(a) / float64(max(b, 1)) }
	for _, sc := range Builtins() {
		t.Run(sc.ID, func(t *testing.T) {
			var all sceneStats
			for seed := range seeds {
				all.add(measureScenes(t, sc, seed))
			}
			idle, back, stakes := pct(all.idle, all.turns), pct(all.bounces, all.moves), pct(all.stakes, all.told)
			t.Logf("idle turns %.1f%%; moves straight back %.1f%% of %d; carriers walking away %d of %d moves; "+
				"told turns that changed something %.1f%%; fights after the verdict %d; ending by resolution %.0f%%; %.1f turns a story; wins by side %v",
				idle, back, all.moves, all.away, all.carrierMoves, stakes, all.fightsAfterVerdict,
				pct(all.resolved, all.stories), float64(all.turns)/float64(all.stories), all.endings)
			if idle > 10 {
				t.Errorf("idle turns %.1f%% (aim at most 10%%)", idle)
			}
			if back > 10 {
				t.Errorf("moves straight back %.1f%% (aim at most 10%%)", back)
			}
			if all.away > 0 {
				t.Errorf("a carrier walked away from where the thing goes %d times", all.away)
			}
			if all.fightsAfterVerdict > 0 {
				t.Errorf("%d fights after the verdict", all.fightsAfterVerdict)
			}
			if all.resolved != all.stories {
				t.Errorf("%d of %d stories did not end by resolution", all.stories-all.resolved, all.stories)
			}
		})
	}
}

// goalAfterWon reports whether the goal g of character i must come after
// another that is not won yet.
func goalAfterWon(s *Sim, i int, g Goal) bool {
	if g.After == "" {
		return true
	}
	for j, o := range s.sc.Characters[i].Goals {
		if o.ID == g.After {
			st := s.w.Chars[i].Goals[j].Status
			return st == GoalWon || st == GoalReconciled
		}
	}
	return true
}

// TestMovesTold checks over many seeds which journeys are told: the
// move that wins a goal by arriving always, one that carries what a goal is on
// unless the turn is crowded, and a journey that meets nobody never
// beside anything better.
func TestMovesTold(t *testing.T) {
	seeds := int64(30)
	if testing.Short() {
		seeds = 8
	}
	for _, sc := range Builtins() {
		decisive, decisiveTold, carried, carriedTold := 0, 0, 0, 0
		for seed := range seeds {
			rec := &recorder{}
			s := startSim(t, sc, seed, Options{Chronicler: rec})
			play(t, s, 200, nil)
			for _, tt := range rec.turns {
				told := 0
				for k := range tt.scene.Records {
					if tt.keep[k] {
						told++
					}
				}
				for k, r := range tt.scene.Records {
					if r.Kind != ActMove || r.Outcome != OutcomeSuccess {
						continue
					}
					won := false
					for _, g := range tt.scene.Records {
						if g.Kind == "goal" && g.Actor == r.Actor && g.Detail == GoalWon && g.Place == r.Place {
							won = true
						}
					}
					if won {
						decisive++
						if tt.keep[k] {
							decisiveTold++
						} else {
							t.Errorf("%s seed %d turn %d: the move that won %s's goal is not told: %s", sc.ID, seed, tt.scene.Seq, r.Actor, tt.text)
						}
					}
					if r.Detail == "carry" || r.Detail == "bearing" {
						carried++
						if tt.keep[k] || told >= maxSentences {
							carriedTold++
						}
					}
					if tt.keep[k] && isRoutine(&r) && len(r.With) == 0 && !won {
						for j, o := range tt.scene.Records {
							if j != k && tt.keep[j] && (o.Kind != ActMove || len(o.With) > 0) && o.Kind != "outcome" {
								t.Errorf("%s seed %d turn %d: a journey that met nobody is told beside %s %s: %s", sc.ID, seed, tt.scene.Seq, o.Kind, o.Detail, tt.text)
								break
							}
						}
					}
				}
			}
		}
		t.Logf("%s: decisive moves told %d of %d; moves carrying what a goal is on told %d of %d", sc.ID, decisiveTold, decisive, carriedTold, carried)
		if carriedTold < carried {
			t.Errorf("%s: only %d of %d moves carrying what a goal is on told", sc.ID, carriedTold, carried)
		}
	}
}

// TestVerdictFollowsTheWorld: once decided, a verdict whose ending no
// longer holds gives way to the ending that does (heronsalt seed 107:
// the magistrate holds the ledger on turn 44, the reeve burns it on 45).
func TestVerdictFollowsTheWorld(t *testing.T) {
	for _, sc := range Builtins() {
		for seed := range int64(30) {
			s := startSim(t, sc, seed+100, Options{})
			playEach(t, s, math.MaxInt, nil, func(Turn) {
				if s.w.Decided == 0 {
					return
				}
				if _, id := s.endingThatHolds(s.w.Seq); id != "" && id != "cap" && id != "last-standing" && id != s.w.Verdict {
					t.Fatalf("%s seed %d turn %d: the verdict is %s, but %s holds", sc.ID, seed+100, s.w.Seq, s.w.Verdict, id)
				}
			})
		}
	}
}
