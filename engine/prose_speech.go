// Telling speech: quoted lines, whereabouts and facts passed on, refusals
// and requests granted or denied.

package engine

import "strings"

func (t *teller) tellSpeak(r *Record, v slots) {
	quoted := r.Text != "" && !t.recent[quoteKey(r.Text)] && !t.misaddressed(r.Text, r.Target)
	if r.Source == SourcePlayer && r.Text != "" {
		quoted = true
	}
	if quoted && r.Detail != "fact" {
		t.used = append(t.used, quoteKey(r.Text))
		t.recent[quoteKey(r.Text)] = true
	}
	switch r.Detail {
	case "whereabouts":
		v.place = t.placeName(r.From)
		if r.CauseRef != "" {
			t.claim(Claim{Kind: ClaimNews, Who: r.Target, Other: r.CauseRef, Item: r.Item})
		}
		if r.CauseRef == "" {
			t.say("speak.where.loose", v, []string{
				"{A} told {t} where to look: {item} lay in {place}.",
				"From {a}, {T} learned that {item} was lying in {place}.",
			})
			return
		}
		holder := "{@" + r.CauseRef + "}"
		if r.CauseRef == r.Actor {
			holder = pronoun(t.cast.People[r.Actor].Pronoun, "obj") + "self"
			if holder == "themself" {
				holder = "themselves"
			}
		}
		t.say("speak.where", v, []string{
			"{A} drew {t} aside: " + strings.Replace(holder, "}", ".sub}", 1) + " had {item}, last seen at {place}.",
			"{A} told {t} where {item} had gone: to " + holder + ", at {place}.",
			"It was {A} who put {t} on the trail: {item} was with " + holder + ", at {place}.",
		})
	case "fact":
		t.claim(Claim{Kind: ClaimNews, Who: r.Target, Fact: r.CauseRef})
		t.say("speak.fact", v, []string{
			"{A} told {t} what {a.sub} knew: {text}.",
			"{A} drew {t} aside and told {t.obj} that {text}.",
			"From {a}, {T} learned that {text}.",
			"{A} let it slip to {t} that {text}.",
			"It was {A} who told {t} that {text}.",
		})
	case "refuse":
		if r.Callback != nil {
			v.extra = ", not forgetting " + t.placeName(r.Callback.Place)
		}
		t.say("speak.refuse", v, []string{
			"{A} tried to speak to {t}, but {T} turned away{extra}.",
			"{T} would not hear a word from {a}{extra}.",
			"{A} opened {a.pos} mouth; {T} walked off before the first word.",
			"{A} called after {t}, and got only a cold back{extra}.",
		})
	case "persuade":
		t.say("speak.persuade", v, []string{
			"{A} talked {t} round, and {T} handed over {item}.",
			"{T} listened to {a}, sighed, and gave up {item}.",
			"{A} asked for {item}, and {T}, to everyone's surprise, let {a.obj} have it.",
		})
	case "denied":
		t.say("speak.denied", v, []string{
			"{A} asked {t} for {item}; {T} only shook {t.pos} head.",
			"{A} tried to talk {t} out of {item} and got nowhere.",
			"{T} heard {a} out and kept a tight hold on {item}.",
			"{A} asked {t} for {item}, and {T} refused outright.",
		})
	case "address":
		if !quoted {
			t.say("speak.address.q", v, []string{
				"{A} muttered something nobody caught.",
				"{A} said what {a.sub} always said, and nobody answered.",
			})
			return
		}
		t.say("speak.address", v, []string{
			"\"{qtext}\" {A} said to nobody in particular.",
			"{A} spoke up in {place}: \"{text}\"",
			"\"{qtext}\" {A} told the room.",
		})
	default:
		if !quoted {
			t.say("speak.talk.q", v, []string{
				"{A} and {T} talked in low voices.",
				"{A} passed the time with {t}.",
				"{A} kept {t} company for a while.",
				"{A} traded a few words with {t}.",
				"{A} sat with {t} and talked of small things.",
				"{T} let {a} talk, and listened.",
				"{A} and {T} spoke quietly for a while, and nobody else heard what was said.",
				"{A} had a word with {t}, and then another.",
			})
			return
		}
		t.say("speak.talk", v, []string{
			"\"{qtext}\" {A} said to {t}.",
			"{A} turned to {t}. \"{text}\"",
			"\"{qtext}\" {A} told {t}.",
			"{A} leaned close to {t}: \"{text}\"",
			"To {t}, {A} said only: \"{text}\"",
		})
	}
}

// misaddressed reports whether a character's stock line would be wrong
// said to this listener: it speaks of the listener's own role in the
// third person ("Reeve's business" to the reeve), or calls the listener
// by someone else's role (", clerk." to the bailiff). Such a line is
// not quoted.
func (t *teller) misaddressed(line, listener string) bool {
	if listener == "" {
		return false
	}
	low := strings.ToLower(line)
	x := t.ix()
	for _, id := range x.ids {
		if x.theLast[id] == "" {
			continue
		}
		if id == listener {
			if strings.Contains(low, x.lastPos[id]) || strings.Contains(low, x.theLast[id]) {
				return true
			}
			continue
		}
		for _, v := range x.vocatives[id] {
			if strings.Contains(low, v) {
				return true
			}
		}
	}
	return false
}
