// Causes told with a deed: why someone acted, what a purposeful move was
// for, and the memory a reaction calls back.

package engine

// causeClause tells why, from the record's cause and callback.
func (t *teller) causeClause(r *Record) string {
	var opts []string
	switch r.Cause {
	case "prize":
		it := t.itemName(r.CauseRef)
		opts = []string{", wanting " + it, ", for the sake of " + it, ", with " + it + " within reach", ", eyes on " + it}
	case "revenge":
		where := ""
		if r.Callback != nil {
			where = " at " + t.placeName(r.Callback.Place)
		}
		opts = []string{", remembering what had happened" + where, ", paying back the harm done" + where, ", for old injury"}
	case "loyalty":
		n := "{@" + r.CauseRef
		opts = []string{", for " + n + "'s} sake", ", answering for what had been done to " + n + "}", ", in " + n + "'s} name"}
	case "hatred":
		opts = []string{", out of plain hatred", ", with no love lost between them", ", because old hate needs little reason"}
	case "temper":
		opts = []string{", on a flash of temper", ", in a black mood", ", spoiling for a fight"}
	case "greed":
		opts = []string{", because it was there for the taking", ", with a glance to see who watched", ""}
	case "fear":
		opts = []string{", afraid for {a.pos} life", ", not daring to stay", ", fear at {a.pos} heels"}
	case "debt":
		opts = []string{", repaying an old kindness", ", because one good turn deserved another", ", not forgetting who had helped {a.obj}"}
	case "kin":
		opts = []string{", as one of {a.pos} own", ", because one looks after one's own", ""}
	case "kindness":
		opts = []string{"", ", unasked", ", gently"}
	case "side":
		opts = []string{", because {@" + r.CauseRef + "} had more need of it", ", so that it stayed on the right side", ", for safekeeping"}
	case "curiosity":
		opts = []string{"", ", curious", ", on a hunch"}
	}
	if len(opts) == 0 {
		return ""
	}
	return opts[t.rng.IntN(len(opts))]
}

// moveCause tells what a purposeful move was for.
func (t *teller) moveCause(r *Record) string {
	if r.Cause != "goal" {
		return ""
	}
	g, ok := t.cast.Goals[r.Actor][r.CauseRef]
	if !ok {
		return ""
	}
	pos := "{a.pos}"
	var opts []string
	switch g.Kind {
	case GoalDeliver:
		it := t.itemName(g.Item)
		if r.Detail == "carry" && g.Target != "" {
			n := "{@" + g.Target
			opts = []string{", " + it + " held close for " + n + "}", ", carrying " + it + " to " + n + "}", ", keeping " + it + " for " + n + "'s} eyes alone"}
		} else if r.Detail == "carry" {
			opts = []string{", bound for " + t.placeName(g.Location) + " with " + it, ", " + it + " held close", ", carrying " + it + " towards " + t.placeName(g.Location)}
		} else {
			opts = []string{", on the trail of " + it, ", " + pos + " mind on " + it, ", looking for " + it}
		}
	case GoalObtain:
		it := t.itemName(g.Item)
		opts = []string{", on the trail of " + it, ", hunting for " + it, ", hoping to lay hands on " + it}
	case GoalReach:
		opts = []string{", with " + t.placeName(g.Location) + " in mind", ", where " + pos + " business lay"}
	case GoalDefeat:
		n := "{@" + g.Target + "}"
		opts = []string{", hunting " + n, ", looking for " + n + " with murder in " + pos + " eyes"}
	case GoalBefriend, GoalProtect:
		n := "{@" + g.Target + "}"
		opts = []string{", looking for " + n, ", hoping to find " + n, ", to be near " + n}
	}
	if len(opts) == 0 {
		return ""
	}
	return opts[t.rng.IntN(len(opts))]
}

// memoryClause calls back an older memory behind a reaction.
func (t *teller) memoryClause(r *Record) string {
	cb := r.Callback
	if cb == nil {
		return ""
	}
	at := " at " + t.placeName(cb.Place)
	switch {
	case cb.Kind == ActAttack && cb.Actor == r.Target && cb.Target == r.Actor:
		return ", remembering the blow {T} had dealt {a.obj}" + at
	case cb.Kind == ActAttack && cb.Actor == r.Target && cb.Target != "":
		return ", remembering what {T} had done to {@" + cb.Target + "}" + at
	case cb.Kind == ActAttack && cb.Target == r.Target:
		return ", remembering {t} bleeding" + at
	case cb.Kind == ActTake && cb.Actor == r.Target:
		return ", remembering {T's} quick hands" + at
	case (cb.Kind == ActHelp || cb.Kind == ActGive || cb.Kind == "told") && cb.Actor == r.Target:
		return ", remembering {T's} kindness" + at
	case cb.Kind == "death":
		return ", remembering the dead" + at
	}
	return ", thinking back to what had happened" + at
}
