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
	rng    *rand.Rand
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
}

func (proseChronicler) Narrate(_ context.Context, sc Scene) (Narration, error) {
	n, _ := narrate(sc)
	return n, nil
}

// narrate writes a turn and says what it knows of each sentence.
func narrate(sc Scene) (Narration, []toldSentence) {
	t := &teller{
		sc: &sc, cast: sc.Cast,
		rng:    rand.New(rand.NewPCG(sc.Seed, 0x70726f7365)),
		recent: make(map[string]bool, len(sc.Recent)),
		named:  map[string]bool{},
		intro:  make(map[string]bool, len(sc.Introduced)),
		rec:    -1,
		// About a sentence a record: sized once, not grown by doubling.
		told: make([]toldSentence, 0, len(sc.Records)+4),
		out:  make([]string, 0, len(sc.Records)+4),
	}
	for _, id := range sc.Introduced {
		t.intro[id] = true
	}
	for _, k := range sc.Recent {
		if strings.HasPrefix(k, shapePrefix) {
			t.oldShapes = k[len(shapePrefix):]
			continue
		}
		t.recent[k] = true
	}
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
