// The built-in chronicler: it writes each turn from the director's
// records. This file holds the entry point and the teller's state; the
// prose_*.go files hold what to tell (select), how to name people
// (naming), templates, causes, and the sentences for deeds, moves,
// speech and story-level beats.

package engine

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
)

var defaultChronicler = NewChronicler()

// NewChronicler returns the built-in chronicler: template grammars with
// rotating referring expressions, penalties for recently used templates
// and opening words, and causes told with the deed.
func NewChronicler() Chronicler { return proseChronicler{} }

type proseChronicler struct{}

var _ Chronicler = proseChronicler{}

// teller writes one turn.
type teller struct {
	sc     *Scene
	cast   *Cast
	rng    *rand.Rand // draws from pcg
	pcg    rand.PCG
	recent map[string]bool
	used   []string
	// Referring expressions: who has been named this turn, who the last
	// sentence was about, and the opening word of the last sentence.
	named       map[string]bool
	lastSubj    string
	lastFirst   string
	out         []string
	companyTold bool
	// beatTold: the turn has told an exchange of words at a peak.
	beatTold bool
	// intro: who the story has introduced by name and role; introduced,
	// who this turn introduced. lastPeople: whom the last sentence
	// mentioned.
	intro      map[string]bool
	introduced []string
	lastPeople []string
	// hintsV and hints: the people the texts of the last slots named,
	// and how (see sentencePeople).
	hintsV [5]string
	hints  map[string]byte
	// Buffers a rendering borrows.
	formsBuf     []personForm
	peopleBuf    []string
	dryPeopleBuf []string
	addedBuf     []string
	// trialNamed and trialIntro: whom the last trial rendering named
	// and introduced first, while that still stands (see say).
	trialNamed, trialIntro []string
	// told describes each sentence written, para the paragraph it is in.
	told []toldSentence
	para int
	// rec is the record being told (-1 for none); claims are the
	// claims the next sentence makes.
	rec    int
	claims []Claim
	// oldShapes: the shapes the story told before this turn;
	// newShapes, this turn's (see prose_shape.go).
	oldShapes    string
	newShapes    []uint32
	newShapesBuf [16]uint32
	// shapeOfLast: the sentence whose shape is shapeLast, if
	// shapeOfKnown.
	shapeOfLast  string
	shapeLast    uint32
	shapeOfKnown bool
	// withCause: the template being rendered with its cause written in
	// (see template).
	withCause tplCode
}

// tellers keeps tellers between turns: a turn's maps and lists come out
// about as large as the last turn's, and making them anew was a fifth of
// the bytes a turn allocated.
var tellers = sync.Pool{New: func() any { return new(teller) }}

func (proseChronicler) Narrate(_ context.Context, sc Scene) (Narration, error) {
	t := tellers.Get().(*teller)
	// What the narration holds is the turn's own (exportSentences
	// copies what it tells of each sentence), so the teller can go back.
	n, _ := t.narrate(sc)
	t.reset()
	tellers.Put(t)
	return n, nil
}

// narrate writes a turn and says what it knows of each sentence.
func narrate(sc Scene) (Narration, []toldSentence) { return new(teller).narrate(sc) }

// reset empties a teller for another turn, keeping its maps and the room
// in its lists.
func (t *teller) reset() {
	recent, named, intro := t.recent, t.named, t.intro
	clear(recent)
	clear(named)
	clear(intro)
	told, out := t.told[:cap(t.told)], t.out[:cap(t.out)]
	clear(told)
	clear(out)
	forms, people, dry, added := t.formsBuf[:0], t.peopleBuf[:0], t.dryPeopleBuf[:0], t.addedBuf[:0]
	trialNamed, trialIntro := t.trialNamed[:0], t.trialIntro[:0]
	withCause := tplCode{segs: t.withCause.segs[:0], at: t.withCause.at[:0]}
	*t = teller{
		rng: t.rng, recent: recent, named: named, intro: intro, told: told[:0], out: out[:0],
		formsBuf: forms, peopleBuf: people, dryPeopleBuf: dry, addedBuf: added,
		trialNamed: trialNamed, trialIntro: trialIntro, withCause: withCause,
	}
}

// narrate writes a turn with an empty teller.
func (t *teller) narrate(sc Scene) (Narration, []toldSentence) {
	t.sc, t.cast = &sc, sc.Cast
	t.pcg.Seed(sc.Seed, 0x70726f7365)
	if t.rng == nil {
		t.rng = rand.New(&t.pcg)
	}
	t.rec = -1
	if t.recent == nil {
		t.recent = make(map[string]bool, len(sc.Recent))
		t.named = map[string]bool{}
		t.intro = make(map[string]bool, len(sc.Introduced))
	}
	if t.told == nil {
		// About a sentence a record: sized once, not grown by doubling.
		t.told = make([]toldSentence, 0, len(sc.Records)+4)
		t.out = make([]string, 0, len(sc.Records)+4)
	}
	for _, id := range sc.Introduced {
		t.intro[id] = true
	}
	shapes := ""
	for _, k := range sc.Recent {
		if isShapesEntry(k) {
			shapes = k
			continue
		}
		t.recent[k] = true
	}
	t.oldShapes = packedShapes(shapes)
	t.newShapes = t.newShapesBuf[:0]
	keep := chooseRecords(&sc)
	if sc.PhaseChanged {
		t.phaseLead()
	}
	var outcomes []int
	for k := range sc.Records {
		r := &sc.Records[k]
		if !keep[k] {
			continue
		}
		if r.Kind == "outcome" {
			outcomes = append(outcomes, k)
			continue
		}
		t.rec, t.claims = k, nil
		t.beat(r)
		t.tell(r)
	}
	t.rec = -1
	t.out = slices.DeleteFunc(t.out, func(s string) bool { return strings.TrimSpace(s) == "" })
	text := strings.Join(t.out, " ")
	if len(outcomes) > 0 {
		t.named = map[string]bool{}
		t.out = nil
		t.lastSubj, t.lastFirst, t.lastPeople = "", "", nil
		t.para++
		t.epilogue(outcomes)
		text = strings.TrimSpace(text + "\n\n" + strings.Join(t.out, " "))
	}
	if e := t.shapesEntry(); e != "" {
		t.used = append(t.used, e)
	}
	return Narration{Text: text, Used: t.used, Introduced: t.introduced, Sentences: exportSentences(t.told)}, t.told
}
