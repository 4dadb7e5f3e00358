// The scenario index the checks use: who is who, what the prose may
// name, and whether a told claim holds in the world after the turn.

package storycheck

import (
	"regexp"
	"slices"
	"strings"

	"github.com/novel-engine/novel-engine/engine"
)

// worldIndex is what the checks need to know of a scenario.
type worldIndex struct {
	sc    *engine.Scenario
	char  map[string]int
	items map[string]int
	facts map[string]*engine.Fact
	// ending: the scenario's own endings, whose verdict favours a side.
	ending map[string]bool
	// authored: word pairs of the scenario's own texts, where an id may
	// legitimately appear as a word.
	authored map[string]bool
	ids      map[string]bool
	// roleWords: each character's role as written, and its last word.
	roles []roleRef
	names *strings.Replacer
}

type roleRef struct {
	id, name, first string
	full, last      string // "harbour reeve", "reeve"
	refs            []*regexp.Regexp
	vocative        *regexp.Regexp // ", reeve." calling someone by the role
}

var wordRE = regexp.MustCompile(`[\p{L}'’_-]+`)

func newWorldIndex(sc *engine.Scenario) *worldIndex {
	w := &worldIndex{sc: sc, char: map[string]int{}, items: map[string]int{}, facts: map[string]*engine.Fact{}, authored: map[string]bool{}}
	for i, c := range sc.Characters {
		w.char[c.ID] = i
	}
	for i, it := range sc.Items {
		w.items[it.ID] = i
	}
	w.ending = map[string]bool{}
	for _, e := range sc.End {
		w.ending[e.ID] = true
	}
	for i := range sc.Facts {
		w.facts[sc.Facts[i].ID] = &sc.Facts[i]
	}
	// The scenario's own words.
	var texts []string
	texts = append(texts, sc.Title, sc.Premise)
	for _, l := range sc.Locations {
		texts = append(texts, l.Name, l.Description)
	}
	for _, it := range sc.Items {
		texts = append(texts, it.Name, it.Description)
	}
	for _, f := range sc.Facts {
		texts = append(texts, f.Text)
	}
	for _, c := range sc.Characters {
		texts = append(texts, c.Name, c.Role)
		texts = append(texts, c.Voice...)
		for _, l := range c.Lines {
			texts = append(texts, l.Text)
		}
		for _, g := range c.Goals {
			texts = append(texts, g.Text, g.Won, g.Lost)
		}
	}
	for _, e := range sc.Events {
		texts = append(texts, e.Effect.Text)
	}
	for _, e := range sc.End {
		texts = append(texts, e.Text)
	}
	for _, t := range texts {
		ws := wordRE.FindAllString(t, -1)
		for k, wd := range ws {
			prev := ""
			if k > 0 {
				prev = strings.ToLower(ws[k-1])
			}
			w.authored[prev+" "+wd] = true
		}
	}
	// Ids that must never reach the prose: characters' and factions'.
	idset := map[string]bool{}
	for _, c := range sc.Characters {
		idset[c.ID] = true
		if c.Faction != "" {
			idset[c.Faction] = true
		}
	}
	w.ids = idset
	var pairs []string
	for _, c := range sc.Characters {
		r := roleRef{id: c.ID, name: c.Name, first: strings.Fields(c.Name)[0], full: strings.ToLower(c.Role)}
		ws := strings.FieldsFunc(r.full, func(r rune) bool { return r == ' ' || r == '-' })
		r.last = ws[len(ws)-1]
		r.refs = append(r.refs, regexp.MustCompile(`(?i)\bthe `+regexp.QuoteMeta(r.full)+`\b`))
		if r.last != r.full {
			r.refs = append(r.refs, regexp.MustCompile(`(?i)\bthe `+regexp.QuoteMeta(r.last)+`\b`))
		}
		r.vocative = regexp.MustCompile(`,\s+(?i:` + regexp.QuoteMeta(r.last) + `)[.!?,]`)
		w.roles = append(w.roles, r)
		pairs = append(pairs, c.Name, "⟨P⟩", r.first, "⟨P⟩")
	}
	for _, l := range sc.Locations {
		pairs = append(pairs, l.Name, "⟨L⟩")
	}
	for _, it := range sc.Items {
		pairs = append(pairs, it.Name, "⟨I⟩")
	}
	for _, r := range w.roles {
		pairs = append(pairs, "the "+r.full, "⟨P⟩", "The "+r.full, "⟨P⟩")
	}
	// Longest first, so a full name goes before its first name.
	type pair struct{ from, to string }
	var ps []pair
	for k := 0; k < len(pairs); k += 2 {
		ps = append(ps, pair{pairs[k], pairs[k+1]})
	}
	slices.SortStableFunc(ps, func(a, b pair) int { return len(b.from) - len(a.from) })
	var flat []string
	for _, p := range ps {
		flat = append(flat, p.from, p.to)
	}
	w.names = strings.NewReplacer(flat...)
	return w
}

// shape is a sentence with its names, places and items replaced.
func (w *worldIndex) shape(s string) string { return w.names.Replace(s) }

func (w *worldIndex) faction(id string) string {
	if i, ok := w.char[id]; ok && w.sc.Characters[i].Faction != "" {
		return w.sc.Characters[i].Faction
	}
	return "@" + id
}

func (w *worldIndex) where(sn *engine.Snapshot, id string) (string, bool) {
	i, ok := w.char[id]
	if !ok || !sn.Characters[i].Onstage {
		return "", false
	}
	return sn.Characters[i].Location, true
}

// checkClaim checks one claim against the world the turn left, and
// returns the class of contradiction it is, or "".
func (w *worldIndex) checkClaim(c engine.Claim, pt *playedTurn, rec *engine.Record, held map[[2]string]bool) string {
	sn := &pt.after
	item := func(id string) *engine.ItemSnapshot {
		if i, ok := w.items[id]; ok {
			return &sn.Items[i]
		}
		return &engine.ItemSnapshot{}
	}
	switch c.Kind {
	case engine.ClaimHolds:
		if item(c.Item).Holder != c.Who {
			return ClassWonNotHeld
		}
	case engine.ClaimHeld:
		if !held[[2]string{c.Who, c.Item}] {
			return ClassLostNeverHeld
		}
	case engine.ClaimHanded:
		if item(c.Item).Holder != c.Other {
			return ClassWonNotHeld
		}
		for _, r := range pt.scene.Records {
			if r.Outcome != engine.OutcomeSuccess || r.Item != c.Item {
				continue
			}
			if (r.Kind == engine.ActGive && r.Actor == c.Who && r.Target == c.Other) ||
				(r.Kind == engine.ActSpeak && r.Detail == "persuade" && r.Actor == c.Other && r.Target == c.Who) {
				return ""
			}
		}
		return ClassWonWrongActor
	case engine.ClaimDelivered:
		it := item(c.Item)
		if it.Location != c.Place || it.Holder != "" {
			return ClassWonNotHeld
		}
		if loc, ok := w.where(sn, c.Who); !ok || loc != c.Place {
			return ClassWonWrongActor
		}
	case engine.ClaimTogether:
		a, ok1 := w.where(sn, c.Who)
		b, ok2 := w.where(sn, c.Other)
		if !ok1 || !ok2 || a != b {
			if rec != nil && rec.Kind == "goal" {
				return ClassWonWrongActor
			}
			return ClassFaceApart
		}
	case engine.ClaimGladRecall:
		switch c.Detail {
		case engine.ActAttack, engine.ActTake, "death":
			return ClassGladHostile
		}
	case engine.ClaimFailed:
		side := w.faction(c.Who)
		if sn.Victor != "" && w.ending[sn.Verdict] && w.faction(sn.Victor) == side {
			return ClassFailedWon
		}
		for i, ch := range w.sc.Characters {
			if w.faction(ch.ID) != side {
				continue
			}
			for j, g := range ch.Goals {
				if g.Item == c.Item && (g.Kind == engine.GoalObtain || g.Kind == engine.GoalDeliver) && sn.Characters[i].Goals[j] == engine.GoalWon {
					return ClassFailedWon
				}
			}
		}
	case engine.ClaimNews:
		if c.Other == c.Who {
			return ClassNewsToDoer
		}
		if f := w.facts[c.Fact]; f != nil && (f.Holder == c.Who || f.About == c.Who) {
			return ClassNewsToDoer
		}
	}
	return ""
}

// misaddressed reports whether a spoken line does not fit its listener:
// it speaks of the listener's role in the third person ("Reeve's
// business" to the reeve), or calls the listener by someone else's role
// ("clerk" to the bailiff).
func (w *worldIndex) misaddressed(line, listener string) bool {
	low := strings.ToLower(line)
	for _, r := range w.roles {
		if r.id == listener {
			if strings.Contains(low, r.last+"'s") || strings.Contains(low, "the "+r.last) {
				return true
			}
			continue
		}
		if r.vocative.MatchString(line) {
			return true
		}
	}
	return false
}

// placeholder: the words a shape puts for names, places and items.
var placeholder = map[string]bool{"P": true, "L": true, "I": true}

// objectPronoun: the pronouns that stand where a name could.
var objectPronoun = map[string]bool{"him": true, "her": true, "them": true, "me": true, "us": true, "you": true}

var placeholders = []string{"for no reason anyone could name", "{", "}"}

// machinery returns what of the simulation's machinery a sentence lets
// through (an id, a placeholder), or "".
func (w *worldIndex) machinery(s string) string {
	for _, p := range placeholders {
		if strings.Contains(s, p) {
			return p
		}
	}
	// Names, roles, places and items are the scenario's words, whatever
	// ids they share.
	ws := wordRE.FindAllString(w.shape(s), -1)
	for k, wd := range ws {
		if !w.ids[wd] {
			continue
		}
		prev := ""
		if k > 0 {
			prev = strings.ToLower(ws[k-1])
		}
		// After a name, place or item, or a pronoun standing for one,
		// an id is a plain word ("kept the pilot company", "kept them
		// company").
		if k > 0 && (placeholder[ws[k-1]] || objectPronoun[prev]) {
			continue
		}
		if !w.authored[prev+" "+wd] {
			return strings.TrimSpace(prev + " " + wd)
		}
	}
	return ""
}

// firstUnintroduced returns the first sentence that refers to a person
// by role ("the bailiff") before any sentence tied their name to their
// role, "" if there is none.
func (w *worldIndex) firstUnintroduced(all []string) string {
	for _, r := range w.roles {
		introduced := false
		for _, s := range all {
			// Another's longer role is not this one's: "the reaver
			// captain" does not call the young reaver "the reaver".
			for _, o := range w.roles {
				if o.id != r.id && len(o.full) > len(r.last) && strings.Contains(o.full, r.last) {
					s = regexp.MustCompile(`(?i)\bthe `+regexp.QuoteMeta(o.full)+`\b`).ReplaceAllString(s, "⟨P⟩")
				}
			}
			low := strings.ToLower(s)
			if (strings.Contains(s, r.name) || strings.Contains(s, r.first)) && strings.Contains(low, r.full) {
				introduced = true
			}
			if introduced {
				break
			}
			for _, re := range r.refs {
				if re.MatchString(s) {
					return s
				}
			}
		}
	}
	return ""
}
