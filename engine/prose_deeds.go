// Telling deeds: the dispatch of each record by kind, and the sentences
// for takes, searches, attacks, deaths and help. Moves and speech have
// their own files.

package engine

// tell tells one record, by its kind.
func (t *teller) tell(r *Record) {
	if key := againKey(r); key != "" {
		t.used = append(t.used, key)
	}
	v := slots{a: r.Actor, t: r.Target, item: t.itemName(r.Item), place: t.placeName(r.Place), from: t.placeName(r.From), text: r.Text}
	if r.Outcome == OutcomeFailure && (r.Detail == "gone" || r.Detail == "dead") && (r.Kind == ActSpeak || r.Kind == ActGive || r.Kind == ActHelp) {
		t.tellTargetGone(r, v)
		return
	}
	switch r.Kind {
	case ActMove:
		t.tellMove(r, v)
	case ActTake:
		t.tellTake(r, v)
	case ActSpeak:
		t.tellSpeak(r, v)
	case ActGive:
		t.tellGive(r, v)
	case ActSearch:
		t.tellSearch(r, v)
	case ActAttack:
		t.tellAttack(r, v)
	case "death":
		t.tellDeath(r, v)
	case ActHelp:
		t.tellHelp(r, v)
	case ActWait:
		t.say("wait", v, []string{
			"{A} rested, nursing {a.pos} hurts.",
			"{A} kept still and let {a.pos} wounds close.",
			"{A} sat a while to get {a.pos} breath back.",
			"Hurt, {A} stayed where {a.sub} was.",
			"{A} sat down at {place} and waited for the shaking to stop.",
			"{A} could do nothing for a while but breathe.",
		})
	case EffectArrival, EffectDiscovery, EffectWeather, EffectMessage:
		t.verbatim(r.Text, r.Actor)
		if r.Actor != "" {
			t.named[r.Actor] = false
		}
		if r.Kind == EffectArrival {
			t.bindArrival(r, v)
		}
	case "reaction":
		t.tellReaction(r, v)
	case "reversal":
		t.say("reversal", v, []string{
			"And just like that, what had seemed settled was not settled at all.",
			"It was not over after all.",
		})
	case "tip":
		for _, id := range r.With {
			t.claim(Claim{Kind: ClaimNews, Who: id, Other: r.Actor, Item: r.Item})
		}
		v.with, v.group = t.listNames(r.With), r.With
		t.say("tip", v, []string{
			"Word got about, as word does: {With} heard that {A} had {item}, and was at {place}.",
			"Somebody always talks, and before long {With} knew that {item} was with {a}, at {place}.",
			"News came sideways, the way it does, and {With} learned that {A} had {item} at {place}.",
			"A rumour reached {with}: {item} was at {place}, and {A} had it.",
			"Soon {With} had it from a dozen mouths that {A} was carrying {item} about {place}.",
		})
	case "goal":
		t.tellGoal(r, v)
	case "bond":
		if r.Detail == "mutual-skip" {
			return
		}
		t.tellBond(r, v)
	case "ending":
		t.tellEnding(r, v)
	}
}

// tellTargetGone tells a deed done to someone who had gone or fallen
// before it could be done.
func (t *teller) tellTargetGone(r *Record, v slots) {
	if r.Detail == "dead" {
		t.say("gone.dead", v, []string{"{A} turned to {t}, but {T} was past hearing anything.", "{A} knelt by {t}, too late for anything but grief."})
		return
	}
	if r.Kind == ActSpeak && r.Text != "" {
		t.say("gone.call", v, []string{"\"{qtext}\" {A} called, but {T} had already gone to {place}.", "{A} turned to speak to {t} and found {t.obj} gone."})
		return
	}
	t.say("gone", v, []string{"{A} looked for {t}, who had slipped away to {place}.", "{A} turned to {t}, but {T} had already gone.", "By the time {A} turned round, {T} was gone."})
}

// tellGive tells a gift, or a giver who found nothing left to give.
func (t *teller) tellGive(r *Record, v slots) {
	if r.Outcome == OutcomeFailure {
		// Nothing changed hands: the giver had nothing left to give,
		// having lost it or given it already.
		t.say("give.empty", v, []string{
			"{A} turned to give {t} what {a.sub} carried, and found {a.pos} hands empty.",
			"{A} had nothing left to give {t}.",
		})
		return
	}
	if r.Detail == "wanted" {
		v.cause = ", exactly what {t.sub} needed"
	}
	t.say("give", v, []string{
		"{A} gave {item} to {t}{cause}.",
		"{A} pressed {item} into {T's} hands{cause}.",
		"Without a word, {A} handed {item} to {t}{cause}.",
		"{A} made {t} a gift of {item}{cause}.",
	})
}

// tellEnding tells how the story ended: the scenario's closing passage,
// or a line for the kind of ending.
func (t *teller) tellEnding(r *Record, v slots) {
	if r.Text != "" {
		t.verbatim(r.Text)
		return
	}
	switch r.Detail {
	case "last-standing":
		t.say("end.last", v, []string{"In the end only one was left standing, and the story had no one else to follow.", "And then there was no one left to stand against anyone."})
	case "cap":
		t.say("end.cap", v, []string{"Time ran out on all of them before anything was settled.", "The days ran on, and nothing was ever settled."})
	default:
		t.say("end.res", v, []string{"And so it was settled, one way or another.", "That was how it ended.", "Nothing was left to fight over."})
	}
}

func (t *teller) tellTake(r *Record, v slots) {
	switch {
	case r.Outcome == OutcomeSuccess && r.Detail == "steal":
		t.say("take.steal", v, []string{
			"{A} slipped {item} out of {T's} keeping.",
			"Quick fingers: {A} lifted {item} from {t} without a sound.",
			"{A} stole {item} from under {T's} nose.",
			"{T} looked away for a moment, and {A} had {item}.",
		})
	case r.Outcome == OutcomeSuccess && r.Detail == "strip":
		t.say("take.strip", v, []string{
			"{A} took {item} from {T's} body.",
			"{A} knelt by {t} and took {item} from the still hands.",
		})
	case r.Outcome == OutcomeSuccess:
		v.cause = t.causeClause(r)
		t.say("take", v, []string{
			"{A} snatched up {item}{cause}.",
			"{A} took {item}{cause}.",
			"{A} scooped up {item} from {place}{cause}.",
			"{A} pocketed {item}{cause}.",
			"Before anyone else could, {A} had {item}.",
		})
	case r.Detail == "caught":
		t.say("take.caught", v, []string{
			"{A} reached for {item}, but {T} caught {a.obj} by the wrist.",
			"{T} felt {A's} hand reach for {item} and knocked it away.",
			"{A} tried to lift {item} from {t}, and got caught at it.",
			"{A} went for {item}; {T} was quicker.",
		})
	default:
		if r.Target != "" {
			t.say("take.gone.held", v, []string{
				"{A} came for {item}, but {T} had it first.",
				"{A} found {item} already in {T's} hands.",
			})
			return
		}
		t.say("take.gone", v, []string{
			"{A} came for {item}, but it was already gone.",
			"{A} found only the mark where {item} had lain.",
		})
	}
}

func (t *teller) tellSearch(r *Record, v slots) {
	switch r.Detail {
	case "item":
		t.say("search.item", v, []string{
			"{A} searched {place} and turned up {item}.",
			"Under a loose board in {place}, {A} found {item}.",
			"{A's} search of {place} paid off: {item}.",
			"{A} went through {place} inch by inch and came up with {item}.",
		})
	case "fact":
		t.say("search.fact", v, []string{
			"Searching {place}, {A} learned that {text}.",
			"In {place} {A} found proof that {text}.",
			"{A} pieced it together in {place}: {text}.",
		})
	case "nothing":
		t.say("search.nothing", v, []string{
			"{A} searched {place} and found nothing.",
			"{A} turned {place} over, for nothing.",
			"{A's} search of {place} came up empty.",
		})
	default:
		t.say("search.not", v, []string{
			"{A} searched {place}, without luck so far.",
			"{A} poked about {place} but found nothing yet.",
			"{A} started going through {place}.",
		})
	}
}

func (t *teller) tellAttack(r *Record, v slots) {
	if r.Outcome == OutcomeFailure && r.Detail == "gone" {
		t.say("attack.gone", v, []string{
			"{A} turned on {t}, but {T} had already gone.",
			"{A} looked round, but {T} had slipped away.",
		})
		return
	}
	v.cause = t.causeClause(r)
	if r.Outcome == OutcomeFailure {
		missed := "{A} went for {t} and missed."
		if v.cause != "" {
			// The cause is a parenthesis: close it before going on.
			missed = "{A} went for {t}{cause}, and missed."
		}
		t.say("attack.miss", v, []string{
			"{A} swung at {t}{cause}, but {T} twisted clear.",
			missed,
			"{A} lunged at {t}{cause}; the blow found only air.",
			"{T} saw {a} coming and stepped aside.",
		})
		return
	}
	if r.Item != "" && r.Detail != "wrest" {
		v.with = " with " + t.itemName(r.Item)
	}
	if r.Detail == "wrest" {
		t.say("attack.wrest", v, []string{
			"{A} struck {t} and tore {item} from {t.pos} grip.",
			"{A's} blow sent {item} flying from {T's} hands, and {A} snatched it up.",
			"{A} hit {t} hard enough to loosen {t.pos} hold, and came away with {item}.",
			"{A} wrenched {item} out of {T's} hands with a blow.",
			"{T} reeled from {A's} blow, and {item} went with {a}.",
		})
		return
	}
	t.say("attack.hit", v, []string{
		"{A} struck {t}{with}{cause}.",
		"{A} went for {t}{with}{cause}, and drew blood.",
		"{A} hit {t} hard{with}{cause}.",
		"{A} lashed out at {t}{with}{cause}.",
		"{A} caught {t} with a blow{with}{cause}.",
		"{T} took a blow from {a}{with}{cause}.",
		"{A} came at {t}{with}{cause}, and {T} went down on one knee.",
		"There was a scuffle, short and ugly, and {T} came out of it bleeding; {A} had struck{with}{cause}.",
		"{A} knocked {t} off {t.pos} feet{with}{cause}.",
		"{T} never saw the blow coming: {A} struck{with}{cause}.",
	})
}

func (t *teller) tellDeath(r *Record, v slots) {
	if r.Detail == "wrest" && r.Item != "" {
		v.extra = ", and took " + t.itemName(r.Item) + " from the body"
	}
	t.say("death", v, []string{
		"{A} fell at {T's} hands in {place}, and did not rise.",
		"{T} struck once more, and {A} lay still{extra}.",
		"{A} died there in {place}, {T} standing over {a.obj}.",
		"That blow was the last: {A} was dead{extra}.",
	})
	if v.extra != "" {
		return
	}
}

func (t *teller) tellHelp(r *Record, v slots) {
	if r.Outcome == OutcomeFailure {
		t.say("help.gone", v, []string{
			"{A} looked for {t} to help, but {T} had gone.",
			"{A} came to help {t}, too late to find {t.obj}.",
		})
		return
	}
	if r.Detail == "unhurt" {
		t.say("help.unhurt", v, []string{"{A} fussed over {t}, who needed no tending.", "{A} checked {t} for hurts and found none."})
		return
	}
	v.cause = t.causeClause(r)
	if r.Detail == "remedy" {
		t.say("help.remedy", v, []string{
			"{A} gave {t} {item}{cause}, and the colour came back into {t.pos} face.",
			"{A} made {t} drink {item}{cause}.",
		})
		return
	}
	t.say("help", v, []string{
		"{A} bound {T's} wounds{cause}.",
		"{A} tended to {t}{cause}.",
		"{A} knelt by {t} and saw to {t.pos} hurts{cause}.",
		"{A} patched {t} up as well as {a.sub} could{cause}.",
		"{A} tore a strip from {a.pos} own sleeve to bind {T's} cuts{cause}.",
		"{A} washed the blood from {T's} face{cause}.",
		"{T} let {a} look at the wound{cause}.",
		"{A} sat {t} down and cleaned the worst of the damage{cause}.",
	})
}

// bindArrival ties a newcomer, whom a scripted arrival describes
// without naming ("a tall man in a grey coat"), to their name and role.
func (t *teller) bindArrival(r *Record, v slots) {
	p, ok := t.cast.People[r.Actor]
	if !ok || hasWord(r.Text, p.Name) || t.intro[r.Actor] {
		return
	}
	v = slots{a: r.Actor, extra: p.Name}
	if p.Role != "" {
		v.extra += ", " + article(t, r.Actor) + p.Role
	}
	t.say("arrive.name", v, []string{
		"The newcomer gave {a.pos} name as {extra}.",
		"Asked, the stranger gave {a.pos} name as {extra}.",
	})
	t.markIntro(r.Actor)
	t.named[r.Actor] = true
}
