// Choosing what of a turn is told: priorities when a turn is crowded, and
// which routine comings and goings are left out.

package engine

import "slices"

// Priorities decide what to keep when a turn is crowded.
func tellPriority(r *Record) int {
	switch r.Kind {
	case "ending", "outcome":
		return 100
	case "death", "goal":
		return 90
	case EffectArrival, EffectDiscovery, EffectWeather, EffectMessage, "tip":
		return 80
	case ActAttack:
		if r.Outcome == OutcomeSuccess {
			return 75
		}
		return 55
	case ActTake:
		if r.Outcome == OutcomeSuccess {
			return 72
		}
		return 50
	case "bond":
		return 65
	case "reaction", "reversal":
		return 85
	case ActGive:
		return 62
	case ActSpeak:
		switch r.Detail {
		case "fact", "persuade", "whereabouts":
			return 64
		case "refuse", "denied":
			return 52
		}
		return 30
	case ActSearch:
		switch r.Detail {
		case "item", "fact":
			return 66
		}
		return 12
	case ActHelp:
		return 50
	case ActMove:
		if r.Cause == "fear" {
			return 58
		}
		if r.Detail == "bearing" || r.Detail == "carry" {
			return 60
		}
		if r.Cause == "goal" {
			return 40
		}
		return 15
	}
	return 5
}

// maxSentences bounds the records a turn tells, beyond those that must
// be told whatever the crowd.
const maxSentences = 7

// chooseRecords decides which of a turn's records are told: everything
// that matters, then the rest while there is room. A bond that changed
// both ways at once is marked to be told once, as mutual.
func chooseRecords(sc *Scene) []bool {
	// Choose what to tell: everything that matters, then the rest while
	// there is room, in the order it happened.
	keep := make([]bool, len(sc.Records))
	idx := make([]int, 0, len(sc.Records))
	for k := range sc.Records {
		r := &sc.Records[k]
		if r.Kind == ActWait && r.Cause != "wounds" {
			continue
		}
		// Reaching for someone who had already walked off changed
		// nothing: not worth a sentence.
		if r.Outcome == OutcomeFailure && r.Detail == "gone" {
			continue
		}
		// A request refused, a blow missed or a wound tended between
		// the same two, told lately, is not told again.
		if key := againKey(r); key != "" && slices.Contains(sc.Recent, key) {
			continue
		}
		idx = append(idx, k)
	}
	// The move that won a goal by arriving (a thing brought where it
	// goes, a place reached) is the decisive one: always told.
	decisive := func(r *Record) bool {
		if r.Kind != ActMove || r.Outcome != OutcomeSuccess {
			return false
		}
		for k := range sc.Records {
			g := &sc.Records[k]
			if g.Kind == "goal" && g.Actor == r.Actor && g.Detail == GoalWon && g.Place == r.Place {
				return true
			}
		}
		return false
	}
	routine := func(r *Record) bool { return isRoutine(r) && !decisive(r) }
	slices.SortStableFunc(idx, func(a, b int) int { return tellPriority(&sc.Records[b]) - tellPriority(&sc.Records[a]) })
	// Routine comings and goings make a turn read like a timetable. When
	// something that matters happened they are left out, save one meeting
	// on a quiet turn; otherwise at most two are told, purposeful and
	// meetings first.
	substantive := 0
	for _, k := range idx {
		if !routine(&sc.Records[k]) && tellPriority(&sc.Records[k]) >= 50 {
			substantive++
		}
	}
	if substantive == 0 {
		slices.SortStableFunc(idx, func(a, b int) int { return routineRank(&sc.Records[b]) - routineRank(&sc.Records[a]) })
	}
	routines, talks := 0, 0
	n := 0
	for _, k := range idx {
		r := &sc.Records[k]
		if routine(r) {
			routines++
			if r.Kind == ActSpeak {
				talks++
			}
			switch {
			case talks > 1 && r.Kind == ActSpeak:
				// One exchange of small talk is the scene's
				// colour; a second is a list of who chatted.
				continue
			case r.Kind == ActSpeak && n > 0 && !quotable(sc, r):
				// Words nobody hears add nothing beside a
				// meeting already told.
				continue
			case substantive >= 3:
				continue
			case substantive > 0 && (routines > 1 || len(r.With) == 0 || r.Kind != ActMove):
				continue
			case routines > 2:
				continue
			case n > 0 && r.Kind == ActMove && len(r.With) == 0:
				// A journey that meets nobody is told only when the
				// turn has nothing else to tell.
				continue
			}
		}
		if decisive(r) {
			keep[k] = true
			n++
			continue
		}
		if r.Kind == "outcome" || r.Kind == "ending" {
			keep[k] = true
			continue
		}
		if n < maxSentences || tellPriority(r) >= 80 {
			keep[k] = true
			n++
		}
	}
	// A changed feeling is told with what changed it.
	for k := range sc.Records {
		r := &sc.Records[k]
		if r.Kind == "bond" && keep[k] && r.CauseAt > 0 && r.CauseAt <= len(sc.Records) {
			keep[r.CauseAt-1] = true
		}
	}
	// A bond that changed both ways at once is told once, as mutual.
	for k := range sc.Records {
		r := &sc.Records[k]
		if r.Kind != "bond" || !keep[k] || r.Detail == "mutual-skip" {
			continue
		}
		for j := k + 1; j < len(sc.Records); j++ {
			o := &sc.Records[j]
			if o.Kind == "bond" && o.Actor == r.Target && o.Target == r.Actor && o.Amount == r.Amount {
				o.Detail = "mutual-skip"
				r.Detail = "mutual:" + r.Detail
			}
		}
	}
	return keep
}

// quotable reports whether a spoken line can be quoted: it has words
// the story has not quoted yet.
func quotable(sc *Scene, r *Record) bool {
	if r.Text == "" {
		return false
	}
	var kb [16]byte
	key := appendQuoteKey(kb[:0], r.Text)
	for _, k := range sc.Recent {
		if k == string(key) {
			return false
		}
	}
	return true
}

// isRoutine reports whether a record is an everyday coming, going or
// poking about, worth telling only on a quiet turn: a move that carries
// nothing anyone wants and flees nobody, a search that found nothing,
// small talk.
func isRoutine(r *Record) bool {
	switch r.Kind {
	case ActMove:
		// Carrying the thing a goal is on is never routine.
		return r.Outcome == OutcomeSuccess && r.Cause != "fear" && r.Detail != "bearing" && r.Detail != "carry"
	case ActSearch:
		return r.Detail != "item" && r.Detail != "fact"
	case ActWait:
		// Resting one's wounds is worth a line only on a quiet turn.
		return r.Source != SourcePlayer
	case ActSpeak:
		// Small talk that changed nothing; a player's words are always told.
		return (r.Detail == "talk" || r.Detail == "address") && r.Source != SourcePlayer
	}
	return false
}

// routineRank orders routine records on a quiet turn: a meeting first,
// then talk and searching, a journey that meets nobody last.
func routineRank(r *Record) int {
	if !isRoutine(r) {
		return 100 + tellPriority(r)
	}
	if r.Kind == ActMove && len(r.With) == 0 {
		// A journey that meets nobody comes last.
		return -1
	}
	rank := 0
	if r.Kind == ActSpeak {
		rank += 2
	}
	if len(r.With) > 0 {
		rank += 2
	}
	if r.Cause == "goal" {
		rank++
	}
	return rank
}

// againKey names a deed that recurs between the same two people and
// changes little each time (a request refused, a blow missed, a wound
// tended), so that the story tells it once in a while,
// not every time. "" for any other deed, and for a player's.
func againKey(r *Record) string {
	if r.Actor == "" || r.Target == "" || r.Source == SourcePlayer {
		return ""
	}
	switch {
	case r.Kind == ActSpeak && (r.Detail == "denied" || r.Detail == "refuse"),
		r.Kind == ActHelp && r.Outcome == OutcomeSuccess && r.Detail != "remedy",
		r.Kind == ActAttack && r.Outcome == OutcomeFailure:
		return "again:" + r.Kind + ":" + r.Actor + ">" + r.Target
	}
	return ""
}
