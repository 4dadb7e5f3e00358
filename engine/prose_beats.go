// Middle beats: when a quarrel comes to a head, the people in it speak in
// their own voices before the deed is told: a demand and a refusal over
// the thing one of them holds, a threat before a blow, an offer instead
// of a fight. The words come from the scenario's lines where it has
// them.

package engine

// beatTension is the tension from which a hostile deed is a scene worth
// voices, whatever the phase.
const beatTension = 0.5

// beat tells the exchange that comes before a hostile deed at a peak, if
// the deed is one and nobody has spoken yet this turn. Both speakers
// stand in one place: the deeds it answers need that.
func (t *teller) beat(r *Record) {
	if t.beatTold || r.Target == "" || r.Actor == r.Target || r.Source == SourcePlayer || r.Source == SourceLLM {
		return
	}
	if t.sc.Phase != PhasePeak && t.sc.Tension < beatTension {
		return
	}
	a, b := r.Actor, r.Target
	var first, reply string // line kinds
	item := ""
	switch {
	case r.Kind == ActTake && r.Detail == "caught",
		r.Kind == ActSpeak && r.Detail == "denied":
		// b holds the thing a wants, and keeps it.
		first, reply, item = LineDemand, LineRefuse, r.Item
	case r.Kind == ActAttack && r.Detail == "wrest":
		first, item = LineDemand, r.Item
	case r.Kind == ActAttack && r.Detail != "gone":
		first, reply = LineThreat, LineRefuse
	case r.Kind == ActSpeak && r.Detail == "persuade":
		first, item = LineBargain, r.Item
	default:
		return
	}
	l1, ok := t.line(a, b, first, item)
	if !ok {
		return
	}
	t.beatTold = true
	t.sayLine(first, a, b, l1, item)
	if reply == "" {
		return
	}
	if l2, ok := t.line(b, a, reply, item); ok {
		t.sayLine(reply, b, a, l2, item)
	}
}

// line chooses what speaker says to listener: one of the speaker's lines
// of that kind, for that listener or anyone, about that item or any
// (a line about an item is said only over it), and not said lately.
func (t *teller) line(speaker, listener, kind, item string) (string, bool) {
	var opts []string
	for _, l := range t.cast.People[speaker].Lines {
		if l.Kind != kind || l.To != "" && l.To != listener || l.Item != "" && l.Item != item {
			continue
		}
		if t.recent[quoteKey(l.Text)] || t.misaddressed(l.Text, listener) || !t.allIntroduced(l.Text) {
			continue
		}
		opts = append(opts, l.Text)
	}
	if len(opts) == 0 {
		return "", false
	}
	return opts[t.rng.IntN(len(opts))], true
}

// sayLine tells one line of an exchange, quoted, with who says it to
// whom; the two stand face to face.
func (t *teller) sayLine(kind, speaker, listener, text, item string) {
	t.used = append(t.used, quoteKey(text))
	t.recent[quoteKey(text)] = true
	v := slots{a: speaker, t: listener, text: text, item: t.itemName(item)}
	switch kind {
	case LineDemand:
		t.say("beat.demand", v, []string{
			"\"{qtext}\" {A} said to {t}.",
			"{A} held out a hand to {t}. \"{text}\"",
			"{A} planted {a.pos} feet in front of {t}. \"{text}\"",
		})
	case LineRefuse:
		t.say("beat.refuse", v, []string{
			"\"{qtext}\" {A} answered.",
			"{A} did not give an inch. \"{text}\"",
			"\"{qtext}\" said {A}, and meant it.",
		})
	case LineThreat:
		t.say("beat.threat", v, []string{
			"\"{qtext}\" {A} told {t}.",
			"{A} squared up to {t}. \"{text}\"",
			"\"{qtext}\" {A} said, low and flat.",
		})
	default:
		t.say("beat.bargain", v, []string{
			"{A} tried another way with {t}. \"{text}\"",
			"\"{qtext}\" {A} offered.",
		})
	}
}

// allIntroduced reports whether everyone a line calls by role has been
// introduced: a quotation is the speaker's, and is never rewritten to
// introduce them.
func (t *teller) allIntroduced(text string) bool {
	for _, m := range t.roleMentions(text) {
		if !t.intro[m.id] {
			return false
		}
	}
	return true
}
