// Package storycheck measures built-in stories the way a reader would
// judge them: it plays many seeds of a scenario with the built-in decider
// and chronicler, checks every told sentence against the world it tells
// (who holds what, who is where, who did what this turn, which side won)
// and computes the table of STORY.md's checks: contradictions by class,
// idle turns, moves straight back, sentence shapes, repeated sentences,
// turns that changed something, the most used template family,
// relationship lines with a cause, introductions, endings and
// determinism.
package storycheck

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/novel-engine/novel-engine/engine"
)

// Contradiction classes: each is a kind of told sentence that says what
// did not happen.
const (
	// A scenario's line for a goal won, told while the thing is not in
	// the hands it says.
	ClassWonNotHeld = "won line, thing not held"
	// A scenario's line for a goal won that names someone who did not do
	// it (handed over, carried there, stood over).
	ClassWonWrongActor = "won line, names who did not act"
	// "X had lost it" about someone who never held it.
	ClassLostNeverHeld = "lost it, never held it"
	// Face to face (a reaction, "to his face") between people apart.
	ClassFaceApart = "face to face, apart"
	// A glad reaction that cites a hostile memory.
	ClassGladHostile = "glad, citing harm"
	// "Failed" said of someone whose own side won the thing.
	ClassFailedWon = "failed, own side won"
	// Telling someone the news of what they did or have themselves.
	ClassNewsToDoer = "news told to its doer"
	// A spoken line that misaddresses its listener ("Reeve's business"
	// said to the reeve, "clerk" to someone who is not).
	ClassMisaddressed = "line misaddressed"
	// Machinery in the prose: ids, placeholder causes, unfilled slots.
	ClassMachinery = "machinery in prose"
)

// ExampleUnintroduced keys, in Figures.Examples, sentences that name a
// person by role before the story introduced them.
const ExampleUnintroduced = "role before introduction"

// Classes lists the contradiction classes in table order.
var Classes = []string{ClassWonNotHeld, ClassWonWrongActor, ClassLostNeverHeld, ClassFaceApart, ClassGladHostile,
	ClassFailedWon, ClassNewsToDoer, ClassMisaddressed, ClassMachinery}

// Options say what to measure.
type Options struct {
	Seeds     int   // runs per scenario; default 50
	FirstSeed int64 // seed of the first run
	MaxTurns  int   // cap on turns per run; default 300
	// Replays is how many of the runs are played a second time to check
	// that the same seed tells the same story; default 3.
	Replays int
	// Progress, if set, is called after each run.
	Progress func(scenario string, done, total int)
}

// Figures are the measured values of one scenario over its runs.
type Figures struct {
	Scenario string
	Runs     int
	Turns    int
	// Contradictions counts each class; Examples keeps a few of each.
	Contradictions map[string]int
	Examples       map[string][]string
	// Percentages of turns, moves, told turns, relationship lines and runs.
	IdlePct, BackPct, StakesPct, BondCausePct, ResolvedPct float64
	// Mean per story: distinct shapes ÷ sentences, sentences repeated
	// word for word, share of the most used template family.
	ShapeRatio, RepeatsPerStory, TopFamilyPct float64
	// TopFamily is the family most often on top.
	TopFamily string
	// Uninitiated counts stories with a role reference before the person
	// was introduced by name and role.
	Uninitiated int
	// Deterministic: every replayed run told the same story.
	Deterministic bool
}

// Row is one line of the table.
type Row struct {
	Measure, Value, Aim string
	OK                  bool
}

// Aims of the table (STORY.md, "Checks worth automating").
const (
	AimIdlePct      = 10.0
	AimBackPct      = 10.0
	AimShapeRatio   = 0.93
	AimRepeats      = 0.5
	AimStakesPct    = 80.0
	AimTopFamilyPct = 10.0
	AimBondCausePct = 90.0
	AimResolvedPct  = 100.0
)

// Rows is the table of the figures: measure, value, aim and whether it
// is met.
func (f *Figures) Rows() []Row {
	var rows []Row
	for _, c := range Classes {
		n := f.Contradictions[c]
		rows = append(rows, Row{"contradictions: " + c, fmt.Sprint(n), "0", n == 0})
	}
	pct := func(v float64) string { return fmt.Sprintf("%.1f%%", v) }
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	rows = append(rows,
		Row{"idle turns", pct(f.IdlePct), "≤ 10%", f.IdlePct <= AimIdlePct},
		Row{"moves back to where the character stood two turns earlier", pct(f.BackPct), "≤ 10%", f.BackPct <= AimBackPct},
		Row{"distinct sentence shapes ÷ sentences", fmt.Sprintf("%.3f", f.ShapeRatio), "≥ 0.93", f.ShapeRatio >= AimShapeRatio},
		Row{"sentences repeated word for word, per story", fmt.Sprintf("%.2f", f.RepeatsPerStory), "≤ 0.5", f.RepeatsPerStory <= AimRepeats},
		Row{"told turns that changed something", pct(f.StakesPct), "≥ 80%", f.StakesPct >= AimStakesPct},
		Row{"most used template family (" + f.TopFamily + "), whole story", pct(f.TopFamilyPct), "≤ 10%", f.TopFamilyPct <= AimTopFamilyPct},
		Row{"relationship lines with a cause told the same turn", pct(f.BondCausePct), "≥ 90%", f.BondCausePct >= AimBondCausePct},
		Row{"every role reference introduced first", fmt.Sprintf("%s (%d of %d stories not)", yes(f.Uninitiated == 0), f.Uninitiated, f.Runs), "yes", f.Uninitiated == 0},
		Row{"stories ending by resolution", pct(f.ResolvedPct), "100%", f.ResolvedPct >= AimResolvedPct},
		Row{"same seed, same story", yes(f.Deterministic), "yes", f.Deterministic},
	)
	return rows
}

// WriteTable prints the table of the figures.
func (f *Figures) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "%s: %d runs, %d turns\n", f.Scenario, f.Runs, f.Turns)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "measure\tvalue\taim\tok")
	for _, r := range f.Rows() {
		ok := "ok"
		if !r.OK {
			ok = "NO"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Measure, r.Value, r.Aim, ok)
	}
	return tw.Flush()
}

// Measure plays opt.Seeds runs of sc and measures them.
func Measure(ctx context.Context, sc *engine.Scenario, opt Options) (*Figures, error) {
	if opt.Seeds <= 0 {
		opt.Seeds = 50
	}
	if opt.MaxTurns <= 0 {
		opt.MaxTurns = 300
	}
	if opt.Replays <= 0 {
		opt.Replays = 3
	}
	f := &Figures{Scenario: sc.ID, Runs: opt.Seeds, Contradictions: map[string]int{}, Examples: map[string][]string{}, Deterministic: true}
	for _, c := range Classes {
		f.Contradictions[c] = 0
	}
	var (
		idle, turns, moves, back, told, stakes, bonds, bondsCaused, resolved int
		shapes, repeats, top                                                 float64
		tops                                                                 = map[string]int{}
	)
	for k := range opt.Seeds {
		seed := opt.FirstSeed + int64(k)
		st, err := playStory(ctx, sc, seed, opt.MaxTurns)
		if err != nil {
			return nil, err
		}
		if k < opt.Replays {
			again, err := playStory(ctx, sc, seed, opt.MaxTurns)
			if err != nil {
				return nil, err
			}
			if !sameStory(st, again) {
				f.Deterministic = false
			}
		}
		m := measureStory(sc, st)
		for c, n := range m.contradictions {
			f.Contradictions[c] += n
		}
		for c, ex := range m.examples {
			for _, e := range ex {
				if len(f.Examples[c]) < 5 {
					f.Examples[c] = append(f.Examples[c], fmt.Sprintf("seed %d %s", seed, e))
				}
			}
		}
		turns += len(st.turns)
		idle += m.idle
		moves += m.moves
		back += m.back
		told += m.told
		stakes += m.stakes
		bonds += m.bonds
		bondsCaused += m.bondsCaused
		shapes += m.shapeRatio
		repeats += float64(m.repeats)
		top += m.topShare
		tops[m.topFamily]++
		if m.uninitiated {
			f.Uninitiated++
		}
		if st.ending != "cap" && st.ending != "last-standing" {
			resolved++
		}
		if opt.Progress != nil {
			opt.Progress(sc.ID, k+1, opt.Seeds)
		}
	}
	n := float64(opt.Seeds)
	f.Turns = turns
	f.IdlePct = pct(idle, turns)
	f.BackPct = pct(back, moves)
	f.StakesPct = pct(stakes, told)
	f.BondCausePct = pct(bondsCaused, bonds)
	if bonds == 0 {
		f.BondCausePct = 100
	}
	f.ResolvedPct = pct(resolved, opt.Seeds)
	f.ShapeRatio = shapes / n
	f.RepeatsPerStory = repeats / n
	f.TopFamilyPct = 100 * top / n
	for _, fam := range slices.Sorted(maps.Keys(tops)) {
		if tops[fam] > tops[f.TopFamily] {
			f.TopFamily = fam
		}
	}
	return f, nil
}

func pct(a, b int) float64 { return 100 * float64(a) / float64(max(b, 1)) }

// story is one played run: every turn with what was told and the world
// before and after it.
type story struct {
	turns  []playedTurn
	ending string
}

type playedTurn struct {
	turn          engine.Turn
	scene         engine.Scene
	narration     engine.Narration
	before, after engine.Snapshot
}

// recorder tells turns with the built-in chronicler and keeps what it
// was given and what it told.
type recorder struct {
	inner engine.Chronicler
	scene engine.Scene
	nar   engine.Narration
}

func (r *recorder) Narrate(ctx context.Context, sc engine.Scene) (engine.Narration, error) {
	n, err := r.inner.Narrate(ctx, sc)
	sc.Records = slices.Clone(sc.Records)
	r.scene, r.nar = sc, n
	return n, err
}

func playStory(ctx context.Context, sc *engine.Scenario, seed int64, maxTurns int) (*story, error) {
	rec := &recorder{inner: engine.NewChronicler()}
	sim, err := engine.NewSim(sc, seed, engine.Options{Chronicler: rec})
	if err != nil {
		return nil, err
	}
	st := &story{}
	before := sim.Snapshot()
	for !sim.Finished() && int(sim.Seq()) < maxTurns {
		tr, err := sim.Step(ctx, nil)
		if err != nil {
			return nil, fmt.Errorf("%s seed %d turn %d: %w", sc.ID, seed, sim.Seq()+1, err)
		}
		after := sim.Snapshot()
		st.turns = append(st.turns, playedTurn{turn: tr, scene: rec.scene, narration: rec.nar, before: before, after: after})
		before = after
	}
	st.ending = before.Ending
	if st.ending == "" {
		st.ending = "cap"
	}
	return st, nil
}

func sameStory(a, b *story) bool {
	if len(a.turns) != len(b.turns) {
		return false
	}
	for k := range a.turns {
		if a.turns[k].turn.Narrative != b.turns[k].turn.Narrative || a.turns[k].turn.StateHash != b.turns[k].turn.StateHash {
			return false
		}
	}
	return true
}

// storyFigures are one run's counts.
type storyFigures struct {
	contradictions map[string]int
	examples       map[string][]string
	idle           int
	moves, back    int
	told, stakes   int
	bonds          int
	bondsCaused    int
	shapeRatio     float64
	repeats        int
	topFamily      string
	topShare       float64
	uninitiated    bool
}

func (m *storyFigures) contradiction(class string, seq int64, text string) {
	m.contradictions[class]++
	if len(m.examples[class]) < 2 {
		m.examples[class] = append(m.examples[class], fmt.Sprintf("turn %d: %s", seq, text))
	}
}

func measureStory(sc *engine.Scenario, st *story) storyFigures {
	m := storyFigures{contradictions: map[string]int{}, examples: map[string][]string{}}
	w := newWorldIndex(sc)
	held := map[[2]string]bool{} // (character, item) that has held the item
	noteHolders := func(sn *engine.Snapshot) {
		for _, it := range sn.Items {
			if it.Holder != "" {
				held[[2]string{it.Holder, it.ID}] = true
			}
		}
	}
	if len(st.turns) > 0 {
		noteHolders(&st.turns[0].before)
	}
	// Where each character stood on each of the last two turns.
	var locs [][]string
	if len(st.turns) > 0 {
		locs = append(locs, locations(&st.turns[0].before))
	}
	families := map[string]int{}
	templated := 0
	var all []string
	for k := range st.turns {
		pt := &st.turns[k]
		noteHolders(&pt.after)
		noteRecordHolders(pt.scene.Records, held)
		now := locations(&pt.after)
		// Idle turns and moves straight back.
		if isIdle(pt.turn.Events) {
			m.idle++
		}
		for _, ev := range pt.turn.Events {
			if ev.Kind != engine.ActMove || ev.Outcome != engine.OutcomeSuccess {
				continue
			}
			m.moves++
			ci := w.char[ev.Actor]
			n := len(locs)
			if n >= 2 && now[ci] == locs[n-2][ci] && locs[n-1][ci] != locs[n-2][ci] {
				m.back++
			}
		}
		locs = append(locs, now)
		// Turns that changed something.
		if strings.TrimSpace(pt.turn.Narrative) != "" {
			m.told++
			if sc.Changed(&pt.before, &pt.after) {
				m.stakes++
			}
		}
		// Sentences: claims, bonds, families, shapes.
		for si, s := range pt.narration.Sentences {
			all = append(all, s.Text)
			if s.Family != engine.FamilyVerbatim && s.Family != "" {
				families[familyOf(s.Key)]++
				templated++
			}
			var rec *engine.Record
			if s.Record >= 0 && s.Record < len(pt.scene.Records) {
				rec = &pt.scene.Records[s.Record]
			}
			for _, c := range s.Claims {
				if class := w.checkClaim(c, pt, rec, held); class != "" {
					m.contradiction(class, pt.turn.Seq, s.Text)
				}
			}
			if s.Record >= 0 && s.Record < len(pt.scene.Records) {
				r := &pt.scene.Records[s.Record]
				if r.Kind == "bond" {
					m.bonds++
					if s.Cause || causedElsewhere(pt.narration.Sentences, si, r) {
						m.bondsCaused++
					}
				}
				if r.Kind == engine.ActSpeak && r.Target != "" && r.Text != "" && strings.Contains(s.Text, strings.TrimRight(r.Text, ".!?")) {
					if w.misaddressed(r.Text, r.Target) {
						m.contradiction(ClassMisaddressed, pt.turn.Seq, s.Text)
					}
				}
			}
			if leak := w.machinery(s.Text); leak != "" {
				m.contradiction(ClassMachinery, pt.turn.Seq, leak+": "+s.Text)
			}
		}
	}
	// Shapes and repeats over the whole story.
	seen, shapes := map[string]bool{}, map[string]bool{}
	for _, s := range all {
		if seen[s] {
			m.repeats++
		}
		seen[s] = true
		shapes[w.shape(s)] = true
	}
	m.shapeRatio = 1
	if len(all) > 0 {
		m.shapeRatio = float64(len(shapes)) / float64(len(all))
	}
	for _, fam := range slices.Sorted(maps.Keys(families)) {
		if families[fam] > families[m.topFamily] {
			m.topFamily = fam
		}
	}
	if templated > 0 {
		m.topShare = float64(families[m.topFamily]) / float64(templated)
	}
	if bad := w.firstUnintroduced(all); bad != "" {
		m.uninitiated = true
		m.examples[ExampleUnintroduced] = []string{bad}
	}
	return m
}

// familyOf is a template key's family: the key before its variant
// number, cut to two dot-separated parts, so that variants and
// synonyms of one kind of sentence count together ("move.goal#3" and
// "move.goal.far#1" are both "move.goal").
func familyOf(key string) string {
	key, _, _ = strings.Cut(key, "#")
	parts := strings.SplitN(key, ".", 3)
	if len(parts) > 2 {
		parts = parts[:2]
	}
	return strings.Join(parts, ".")
}

func locations(sn *engine.Snapshot) []string {
	out := make([]string, len(sn.Characters))
	for i, c := range sn.Characters {
		out[i] = c.Location
	}
	return out
}

// isIdle reports whether a turn's deeds are all moves, waits or
// failures, with no scripted event.
func isIdle(evs []engine.Event) bool {
	for _, ev := range evs {
		switch ev.Source {
		case engine.SourceScript:
			if ev.Kind != "tip" {
				return false
			}
			continue
		}
		if ev.Kind != engine.ActMove && ev.Kind != engine.ActWait && ev.Outcome != engine.OutcomeFailure {
			return false
		}
	}
	return true
}

// noteRecordHolders notes who held a thing during the turn, however
// briefly: takers, finders, receivers.
func noteRecordHolders(rs []engine.Record, held map[[2]string]bool) {
	for _, r := range rs {
		if r.Item == "" || r.Outcome != engine.OutcomeSuccess {
			continue
		}
		switch {
		case r.Kind == engine.ActTake, r.Kind == engine.ActSearch && r.Detail == "item",
			r.Kind == engine.ActAttack && r.Detail == "wrest", r.Kind == engine.ActSpeak && r.Detail == "persuade":
			held[[2]string{r.Actor, r.Item}] = true
		case r.Kind == engine.ActGive:
			held[[2]string{r.Actor, r.Item}] = true
			held[[2]string{r.Target, r.Item}] = true
		}
	}
}

// causedElsewhere reports whether another told sentence of the turn,
// not itself a relationship line, tells something between the two
// people of a bond.
func causedElsewhere(ss []engine.Sentence, self int, bond *engine.Record) bool {
	for k, s := range ss {
		if k == self || strings.HasPrefix(s.Family, "bond") {
			continue
		}
		if slices.Contains(s.People, bond.Actor) && slices.Contains(s.People, bond.Target) {
			return true
		}
	}
	return false
}
