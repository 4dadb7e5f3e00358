// Telling moves: departures by cause, and whom the mover found on arrival.

package engine

import "strings"

func (t *teller) tellMove(r *Record, v slots) {
	switch r.Cause {
	case "fear":
		v.t = r.CauseRef
		t.say("move.fear", v, []string{
			"{A} fled {from} for {place}, away from {t}.",
			"{A} got out of {from} before {T} could strike again.",
			"{A} limped out of {from}, afraid for {a.pos} life.",
			"Not daring to stay near {t}, {A} slipped away to {place}.",
			"{A} ran from {t}, and did not stop until {place}.",
			"{A} backed away from {t} and made for {place}.",
		})
	case "side":
		v.t = r.CauseRef
		t.say("move.side", v, []string{
			"{A} took {item} to {place}, looking for {t}.",
			"{A} carried {item} off to {place}, meaning to put it in {T's} hands.",
			"With {item} hidden about {a.obj}, {A} went to find {t} at {place}.",
		})
	case "goal":
		v.cause = t.moveCause(r)
		if r.Detail == "bearing" {
			t.say("move.bearing", v, []string{
				"{A} took {item} to {place}{cause}.",
				"{A} carried {item} off to {place}{cause}.",
				"With {item} in {a.pos} keeping, {A} went on to {place}{cause}.",
			})
			break
		}
		if r.Detail == "carry" && v.cause != "" {
			// The cause names the thing carried and where it goes.
			t.say("move.carry", v, []string{
				"{A} pressed on to {place}{cause}.",
				"{A} came to {place}{cause}.",
				"{A} kept moving and reached {place}{cause}.",
				"{A} carried on to {place}{cause}.",
			})
			break
		}
		t.say("move.goal", v, []string{
			"{A} set off for {place}{cause}.",
			"{A} made for {place}{cause}.",
			"{A} went on to {place}{cause}.",
			"{A} hurried across to {place}{cause}.",
			"{A} took the way from {from} to {place}{cause}.",
			"Leaving {from} behind, {A} headed for {place}{cause}.",
			"{A} was next seen at {place}{cause}.",
		})
	case "wander":
		if r.Detail == "bearing" {
			t.say("move.bearing", v, []string{
				"{A} took {item} to {place}.",
				"{A} carried {item} off to {place}.",
				"With {item} still in {a.pos} keeping, {A} went to {place}.",
			})
			break
		}
		fallthrough
	default:
		t.say("move.wander", v, []string{
			"{A} wandered over to {place}.",
			"{A} drifted out to {place}.",
			"{A} walked to {place}, for want of anything better to do.",
			"Restless, {A} went to {place}.",
			"{A} looked in at {place}.",
			"{A} left {from} for {place}.",
		})
	}
	if len(r.With) > 0 && r.Cause != "wander" && !t.companyTold {
		t.companyTold = true
		company := t.listNames(r.With)
		verb := "was"
		if len(r.With) > 1 {
			verb = "were"
		}
		cv := slots{a: r.Actor, company: company, group: r.With, extra: verb, place: v.place}
		// "There" is where the sentence before took the mover, if it
		// said; one that told only what was left names the place.
		if n := len(t.told); n > 0 && t.told[n-1].subject == r.Actor && strings.Contains(t.told[n-1].text, v.place) {
			t.say("move.company", cv, []string{
				"{Company} {extra} already there.",
				"There {a.sub} found {company}.",
				"{Company} looked up as {a.sub} came in.",
				"{A} was not alone there: {company} {extra} waiting.",
				"{Company} {extra} there before {a.obj}.",
				"{A} came in on {company}.",
			})
		} else {
			t.say("move.company.at", cv, []string{
				"{Company} {extra} already at {place}.",
				"At {place} {a.sub} found {company}.",
				"{A} was not alone at {place}: {company} {extra} waiting.",
			})
		}
		if n := len(t.told); n > 0 {
			t.told[n-1].company = r.Place
		}
	}
}
