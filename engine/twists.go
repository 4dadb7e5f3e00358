// Twists: the scripted events the director could fire next, offered for
// an audience to choose from, and the choice played as an input of the
// turn, so that a replay with the same inputs plays the same twist.

package engine

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// DirectorInput is the key, among Step's inputs, of the choice of twist
// for the turn: an Action of kind ActTwist whose Target is the option's
// id. It can name no character (character ids start with a letter or a
// digit), so it travels and is recorded beside the players' actions.
const DirectorInput = "@director"

// ActTwist is the kind of the action under DirectorInput.
const ActTwist = "twist"

// QuietTwist is the option of holding back, offered when a single event
// is ready: the story goes on without a twist this turn. Event ids cannot
// take it.
const QuietTwist = "_quiet"

// maxTwists bounds the options offered.
const maxTwists = 3

// Twist is one option the director offers for the next turn.
type Twist struct {
	ID      string  `json:"id"`
	Label   string  `json:"label"`
	Kind    string  `json:"kind"`
	Tension float64 `json:"tension"`
}

// Twists lists the twists the director could play on turn Seq()+1, best
// fit to its tension arc first (the first is its own choice), or none
// when there is no choice to make: no event is ready, or one the
// director does not choose (an event due on its turn, the climax) comes
// first. A single ready event is offered beside holding it back.
func (s *Sim) Twists() []Twist {
	if s.w.Finished {
		return nil
	}
	seq := s.w.Seq + 1
	target := s.arcTension(seq)
	type cand struct {
		k    int
		dist float64
	}
	var cands []cand
	for k, e := range s.sc.Events {
		if s.w.Fired[k] || int64(e.Trigger.Turn) > seq {
			continue
		}
		if e.Trigger.Climax {
			if s.climaxDue(seq) {
				return nil // the climax is the director's, and comes first
			}
			continue
		}
		if !s.triggerHolds(e.Trigger, seq) {
			continue
		}
		if len(e.Trigger.When) == 0 {
			return nil // due on its turn: no choice
		}
		if e.Effect.Tension > 0.1 && (s.w.Phase == PhaseFade || s.w.Phase == PhaseRelax) {
			continue
		}
		if s.favoursLeader(e, seq) {
			continue
		}
		cands = append(cands, cand{k, abs(s.w.Tension + e.Effect.Tension - target)})
	}
	if len(cands) == 0 {
		return nil
	}
	slices.SortStableFunc(cands, func(a, b cand) int {
		switch {
		case a.dist < b.dist:
			return -1
		case a.dist > b.dist:
			return 1
		}
		return 0
	})
	out := make([]Twist, 0, maxTwists)
	for _, c := range cands[:min(len(cands), maxTwists)] {
		e := s.sc.Events[c.k]
		out = append(out, Twist{ID: e.ID, Label: twistLabel(e.Effect.Text), Kind: e.Effect.Kind, Tension: e.Effect.Tension})
	}
	if len(out) == 1 {
		out = append(out, Twist{ID: QuietTwist, Label: "Nothing yet: let the story breathe", Kind: "quiet"})
	}
	return out
}

// twistLabel is an event's text cut to its first sentence, at most about
// a hundred characters, for a ballot.
func twistLabel(text string) string {
	if i := strings.IndexAny(text, ".!?"); i > 0 {
		text = text[:i+1]
	}
	if len(text) <= 100 {
		return text
	}
	cut := strings.LastIndexByte(text[:100], ' ')
	if cut < 40 {
		for cut = 100; !utf8.RuneStart(text[cut]); cut-- {
		}
	}
	return strings.TrimRight(text[:cut], " ,;:") + "…"
}

// chosenTwist applies the turn's choice of twist to the director's pick:
// the chosen event fires instead, if it still may (not fired yet, its
// trigger holding after the turn's deeds); holding back fires none. The
// climax is never held back nor replaced. It returns the event to fire,
// -1 for none.
func (s *Sim) chosenTwist(t *turnState, pick int, climax bool) int {
	if !t.voted || climax {
		return pick
	}
	if t.twist == QuietTwist {
		return -1
	}
	for k, e := range s.sc.Events {
		if e.ID == t.twist && !s.w.Fired[k] && !e.Trigger.Climax &&
			int64(e.Trigger.Turn) <= t.seq && s.triggerHolds(e.Trigger, t.seq) {
			return k
		}
	}
	return pick
}
