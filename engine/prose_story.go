// Story-level lines: phase leads, goals won, lost or slipping, aftermath
// reactions, relationship bonds and the epilogue.

package engine

import (
	"strconv"
	"strings"
)

// goalPhrase turns "to carry the ledger home" into "carry the ledger home".
func goalPhrase(text string) string {
	return strings.TrimPrefix(strings.TrimSpace(text), "to ")
}

func (t *teller) phaseLead() {
	switch t.sc.Phase {
	case PhasePeak:
		t.say("lead.peak", slots{}, []string{
			"Then it all came to a head.",
			"Nobody could pretend any longer.",
			"What followed happened fast.",
			"After that, there was no going back.",
		})
	case PhaseRelax:
		t.say("lead.relax", slots{}, []string{
			"For a while, nobody raised a hand.",
			"The worst seemed, for the moment, to have passed.",
			"A lull followed, thin as ice.",
			"Quiet settled, of a kind.",
		})
	case PhaseBuildup:
		t.say("lead.build", slots{}, []string{
			"The quiet did not last.",
			"Old trouble stirred again.",
			"It was only a pause.",
		})
	}
}

func (t *teller) tellGoal(r *Record, v slots) {
	if r.Cause == "scripted" {
		t.scriptedGoalClaims(r)
		t.verbatim(r.Text, r.Actor)
		t.named[r.Actor] = true
		return
	}
	v.text, v.extra = goalPhrase(r.Text), r.Text
	switch {
	case r.Detail == GoalWon && r.Cause == "side" && r.Target != "" && t.cast.Goals[r.Actor][r.CauseRef].Kind == GoalObtain:
		// An ally has the thing: the line says who.
		t.say("goal.won.side", v, []string{
			"{item} was with {t} now, and {A} counted that as good as {a.pos} own.",
			"So {A's} side had {item}: {T} had it safe.",
		})
		return
	case r.Detail == GoalWon && r.Cause == "side" && r.Target != "":
		// An ally did it: the line says who.
		t.say("goal.won.side", v, []string{
			"{A} had wanted {extra}, and {T} had seen to it.",
			"{T} had done what {A} set out to do: {text}.",
		})
		return
	case r.Detail == GoalWon && r.Cause == "side":
		t.say("goal.won.side", v, []string{
			"{A} had wanted {extra}, and so it was, though not by {a.pos} own hand.",
			"It had come about as {A} wanted, {extra}, though others had done it.",
		})
		return
	}
	switch r.Detail {
	case GoalWon:
		t.say("goal.won", v, []string{
			"{A} had set out {extra}, and now it was done.",
			"It was done: {A} had managed to {text}.",
			"{A} got what {a.sub} had come for.",
		})
	case "slipped":
		v.place = ""
		if r.Callback != nil && r.Callback.Place != "" {
			v.place = ", for all it had cost at " + t.placeName(r.Callback.Place)
		}
		if len(r.With) > 0 {
			// It was an ally who lost it.
			v.with, v.group = t.listNames(r.With), r.With
			t.claim(Claim{Kind: ClaimHeld, Who: r.With[0], Item: r.Item})
			if r.Target == "" {
				t.say("goal.slip.ally.loose", v, []string{
					"{item} was out of {with}'s hands now, and {A} went looking for it.",
					"{With} no longer had {item}; {A} meant to find it.",
				})
				return
			}
			t.say("goal.slip.ally", v, []string{
				"{With} had lost {item} to {t}{place}, and {A} meant to have it back.",
				"Now {T} had {item}, not {with}, and {A} would not let that stand.",
				"{item} had passed from {with} to {t}{place}; {A} set {a.pos} jaw and went after it.",
				"{A} would not leave {item} with {t} for long.",
				"With {item} in {T's} hands{place}, {A} had work to do.",
			})
			return
		}
		t.claim(Claim{Kind: ClaimHeld, Who: r.Actor, Item: r.Item})
		if r.Target == "" {
			t.say("goal.slip.loose", v, []string{
				"{A} no longer had {item}, and went looking for it again.",
				"{item} had slipped out of {A's} keeping.",
			})
			return
		}
		t.say("goal.slip", v, []string{
			"{A} had lost {item} to {t}{place}, and meant to have it back.",
			"Now {T} had {item}, not {a}, and {A} would not let that stand.",
			"{item} was in {T's} hands now{place}; {A} set {a.pos} jaw and went after it.",
			"Losing {item} to {t}{place} only made {A} more stubborn.",
		})
	case "regained":
		t.say("goal.regain", v, []string{
			"{item} was back where {A} wanted it.",
			"{A} had {item} back in friendly hands.",
			"So {item} changed hands again, and {A} breathed easier.",
			"For now, {item} was where {A} wanted it.",
		})
	case GoalReconciled:
		t.say("goal.rec", v, []string{
			"{A} found {a.sub} had no anger left for {t}.",
			"Whatever {A} had meant to do to {t}, {a.sub} let it go.",
		})
	default:
		t.failedClaim(r)
		t.say("goal.lost", v, []string{
			"{A} would never {text} now.",
			"For {a}, the hope to {text} was gone.",
			"{A} had meant to {text}; that was finished.",
		})
	}
}

func (t *teller) tellReaction(r *Record, v slots) {
	v.cause = t.memoryClause(r)
	if r.Detail == "glad" && v.cause != "" {
		t.claim(Claim{Kind: ClaimGladRecall, Who: r.Actor, Other: r.Target, Detail: r.Callback.Kind})
	}
	if r.From == "word" {
		// Apart: the news reaches them where they are.
		v.place = t.placeName(r.Place)
		if r.Detail == "glad" {
			t.say("react.glad.word", v, []string{
				"Word reached {A} at {place}, and {a.sub} was glad of {t}{cause}.",
				"When the news came to {place}, {A} blessed {T's} name{cause}.",
				"At {place}, {A} heard how it had gone and thought well of {t}{cause}.",
			})
			return
		}
		t.say("react.bitter.word", v, []string{
			"Word reached {A} at {place}, and {a.sub} cursed {T's} name{cause}.",
			"When the news came to {place}, {A} swore that {T} had not heard the last of it{cause}.",
			"At {place}, {A} heard how it had gone and said nothing for a long time{cause}.",
		})
		return
	}
	t.claim(Claim{Kind: ClaimTogether, Who: r.Actor, Other: r.Target})
	if r.Detail == "glad" {
		t.say("react.glad", v, []string{
			"{A} found {t} afterwards and gripped {t.pos} hand{cause}.",
			"When it was over, {A} sat down beside {t}{cause}, and neither of them needed to say much.",
			"{A} laughed for the first time in days and threw an arm round {t}{cause}.",
			"Afterwards {A} made a point of thanking {t}{cause}.",
		})
		return
	}
	t.say("react.bitter", v, []string{
		"{A} would not look at {t}{cause}.",
		"Afterwards {A} stood a long while apart from {t}{cause}, and said nothing.",
		"{A} spat at {T's} feet{cause}.",
		"{A} told {t} to {t.pos} face that it was not finished{cause}.",
	})
}

func (t *teller) tellBond(r *Record, v slots) {
	detail, mutual := strings.CutPrefix(r.Detail, "mutual:")
	was, _ := strconv.Atoi(detail)
	now := r.Amount
	if v.cause = t.bondWhy(r); v.cause != "" {
		// What changed the feeling was not a deed between the two:
		// the line says it.
		if now > was {
			t.say("bond.why.warm", v, []string{
				"{A} thought better of {t}{cause}.",
				"{A's} heart went out to {t}{cause}.",
				"{A} found {a.sub} could not help liking {t}{cause}.",
			})
			return
		}
		t.say("bond.why.cold", v, []string{
			"{A} turned cold towards {t}{cause}.",
			"{A} would not forgive {t}{cause}.",
			"{A} saw {t} for what {t.sub} was{cause}.",
		})
		return
	}
	switch {
	case mutual && now > 0:
		t.say("bond.mutual.warm", v, []string{
			"Something had changed between {a} and {t}, and both of them knew it.",
			"{A} and {T} were friends now, whatever came next.",
			"By then {A} and {T} trusted each other.",
		})
	case mutual && now < 0:
		t.say("bond.mutual.cold", v, []string{
			"{A} and {T} could no longer stand the sight of each other.",
			"There was bad blood now between {a} and {t}.",
		})
	case now == 2:
		t.say("bond.devoted", v, []string{
			"{A} would have followed {t} anywhere by now.",
			"Whatever else happened, {A} was {T's} to the end.",
			"There was nothing {A} would not have done for {t} now.",
			"{A} would have stood between {t} and any blade by then.",
			"By now {A} was {T's} friend through and through.",
		})
	case now == 1 && was < 1:
		t.say("bond.warm", v, []string{
			"Something warmed between {a} and {t}.",
			"{A} began, against all sense, to trust {t}.",
			"{A} looked at {t} differently after that.",
			"{A} trusted {t} a little more after that.",
			"{A} was glad, in the end, to have {t} near.",
			"A little of {A's} wariness of {t} went away.",
		})
	case now == -2:
		t.say("bond.enemy", v, []string{
			"From then on {A} counted {t} an enemy.",
			"{A} would not forgive {t}.",
			"Whatever had been between {a} and {t}, it was hate now.",
			"{A} swore that {T} would pay for it.",
		})
	case now < was:
		t.say("bond.cool", v, []string{
			"{A's} trust in {t} cooled.",
			"{A} no longer looked at {t} the way {a.sub} had.",
		})
	default:
		t.say("bond.thaw", v, []string{
			"{A's} hatred of {t} began to soften.",
			"{A} found it harder to hate {t} than before.",
		})
	}
}

// epilogue sums up how each character's goals came out.
func (t *teller) epilogue(idx []int) {
	for _, k := range idx {
		r := &t.sc.Records[k]
		t.rec, t.claims = k, nil
		v := slots{a: r.Actor, t: r.Target, text: goalPhrase(r.Text), extra: r.Text}
		switch r.Detail {
		case GoalWon, GoalReconciled:
			t.say("epi.won", v, []string{
				"{A} had set out {extra}, and did.",
				"{A} had managed {a.pos} part, which was {extra}.",
				"As for {a}, {a.sub} had wanted {extra}, and got it.",
				"{A} could say {a.sub} had done what {a.sub} came for: {extra}.",
			})
		case GoalLost:
			if r.Cause == "side" && r.Target != "" {
				// The side won what this goal wanted, by another's hand.
				t.say("epi.side", v, []string{
					"{A} had wanted {extra}; in the end it was {T} who won it for {a.pos} side.",
					"As for {a}, {a.sub} had wanted {extra}, and {A's} side had it, by {T's} hand.",
				})
				break
			}
			fallthrough
		default:
			t.failedClaim(r)
			t.say("epi.lost", v, []string{
				"{A} had wanted {extra}, and never did.",
				"{A} never managed {extra}.",
				"As for {a}, the wish {extra} came to nothing.",
				"{A} had set out {extra}, and failed.",
			})
		}
	}
}

// scriptedGoalClaims notes what a scenario's line for a goal won claims:
// that the goal's own character did it.
func (t *teller) scriptedGoalClaims(r *Record) {
	if r.Detail != GoalWon {
		return
	}
	g, ok := t.cast.Goals[r.Actor][r.CauseRef]
	if !ok {
		return
	}
	switch {
	case g.Kind == GoalObtain:
		t.claim(Claim{Kind: ClaimHolds, Who: r.Actor, Item: g.Item})
	case g.Kind == GoalDeliver && g.Target != "":
		t.claim(Claim{Kind: ClaimHanded, Who: r.Actor, Other: g.Target, Item: g.Item})
	case g.Kind == GoalDeliver:
		t.claim(Claim{Kind: ClaimDelivered, Who: r.Actor, Item: g.Item, Place: g.Location})
	case g.Kind == GoalDefeat || g.Kind == GoalBefriend:
		t.claim(Claim{Kind: ClaimTogether, Who: r.Actor, Other: g.Target})
	}
}

// failedClaim notes that a line says a goal about a thing failed.
func (t *teller) failedClaim(r *Record) {
	if g, ok := t.cast.Goals[r.Actor][r.CauseRef]; ok && (g.Kind == GoalObtain || g.Kind == GoalDeliver) {
		t.claim(Claim{Kind: ClaimFailed, Who: r.Actor, Other: g.ID, Item: g.Item})
	}
}

// bondWhy says why a feeling changed, when the deed that changed it was
// not one between the two (told in a sentence naming them both): a deed
// of the other's that the one saw, something the one learned, or a
// scripted turn of events. "" when the deed speaks for itself.
func (t *teller) bondWhy(r *Record) string {
	if r.CauseAt <= 0 || r.CauseAt > len(t.sc.Records) {
		return ""
	}
	c := &t.sc.Records[r.CauseAt-1]
	switch {
	case c.Actor == r.Target && c.Target == r.Actor, c.Actor == r.Actor && c.Target == r.Target:
		return ""
	case c.Actor == r.Target && c.Target != "" && c.Kind == ActAttack:
		return ", having seen what {T} did to {@" + c.Target + "}"
	case c.Actor == r.Target && c.Target != "" && (c.Kind == ActHelp || c.Kind == ActGive):
		return ", having seen {T} look after {@" + c.Target + ".obj}"
	case c.Actor == r.Target && c.Target != "":
		return ", having seen how {T} dealt with {@" + c.Target + ".obj}"
	case c.Detail == "fact":
		return ", after what {a.sub} had learned"
	}
	return ", after what had happened"
}
