// The built-in decider: a seeded utility AI that scores every action open
// to a persona by its traits, goals, relationships and memory, and draws
// among the best.

package engine

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
)

// UtilityDecider is the built-in seeded utility AI. It scores every action
// open to the persona by its traits, goals, relationships and memory, and
// picks among the best by weighted chance.
type UtilityDecider struct{}

// Decide implements Decider.
func (UtilityDecider) Decide(_ context.Context, p Perception) (Action, error) {
	return decideUtility(&p), nil
}

type option struct {
	a      Action
	score  float64
	bucket int // 2 emergency, 1 goals and people, 0 idle
}

type chooser struct {
	p    *Perception
	opts []option
	// dest is where the thing the persona carries for a goal must go, ""
	// if it carries nothing anywhere.
	dest string
	// back is the best score a step straight back to where the persona
	// came from was offered for, before its penalty.
	back float64
}

func (c *chooser) add(bucket int, score float64, kind, target, text string) {
	if score <= 0 || math.IsNaN(score) {
		return
	}
	if c.p.scene && (kind == ActMove || kind == ActWait || kind == ActSearch) {
		return
	}
	if kind == ActAttack && c.p.Decided {
		// The outcome is decided: what is left is the aftermath.
		return
	}
	if kind == ActMove && c.dest != "" && c.p.farther(target, c.dest) {
		// A carrier heads for where the thing goes, or holds its ground.
		return
	}
	if kind == ActMove && target == c.p.CameFrom && bucket < 2 {
		// Straight back where it came from undoes the last turn's
		// journey: only fear is reason enough without a word said.
		if bucket == 0 {
			return
		}
		c.back = max(c.back, score)
		score *= 0.25
	}
	// Recent holds "kind:target" keys, matched without building one.
	if kind != ActMove {
		// A penalty for doing the same thing again within a few turns.
		for _, r := range c.p.Recent {
			if isActionKey(r, kind, target) {
				score *= 0.7
			}
		}
	} else if len(c.p.Recent) > 0 && slices.ContainsFunc(c.p.Recent[max(0, len(c.p.Recent)-2):], func(r string) bool { return isActionKey(r, kind, target) }) && bucket == 0 {
		score *= 0.5
	}
	c.opts = append(c.opts, option{a: Action{Kind: kind, Target: target, Text: text}, score: score, bucket: bucket})
}

// utility is one persona's decision in the making: what it perceives,
// its traits, the seeded chance it draws on and the options scored so
// far. Options are scored in a fixed order (emergencies, goals, the
// side's needs, people, curiosity, idling), which the draws depend on.
type utility struct {
	p   *Perception
	rng *rand.Rand
	// c is held by pointer: a chooser inside utility would make the
	// escape analysis move the random source to the heap with it.
	c *chooser

	aggr, caution, courage      float64
	empathy, curiosity, loyalty float64
	cunning, greed              float64
	hp                          float64 // health on 0..1
}

// decideUtility scores every option open to the persona and draws one.
func decideUtility(p *Perception) Action {
	a, _ := decideUtilityWith(p, make([]option, 0, 24), nil)
	return a
}

// decideUtilityWith is decideUtility scoring into opts, which it returns
// grown, and drawing from src reseeded (a new source if src is nil), so
// that the built-in decider reuses one slice and source turn after turn.
func decideUtilityWith(p *Perception, opts []option, src *rand.PCG) (Action, []option) {
	const seed2 = 0x9e3779b97f4a7c15
	if src == nil {
		src = rand.NewPCG(p.Seed, seed2)
	} else {
		src.Seed(p.Seed, seed2) // the state NewPCG(p.Seed, seed2) starts in
	}
	c := chooser{p: p, opts: opts[:0]}
	u := utility{p: p, rng: rand.New(src), c: &c}
	u.traits(p.Self.Traits)
	u.hp = float64(p.Self.Health) / 100

	c.dest = p.carrying()
	u.scoreEmergencies()
	for gi, g := range p.Self.Goals {
		u.scoreGoal(gi, g)
	}
	u.scoreSideNeeds()
	u.scorePeople()
	u.scoreCuriosity()
	u.scoreIdle()
	if c.back > 0 {
		// Rather than undo the last journey, hold on where it led and
		// see what comes.
		u.c.add(1, 0.35*c.back, ActWait, "", "")
	}
	return u.c.choose(u.rng), c.opts
}

// carrying is where the thing the persona carries for an active deliver
// goal must go (its destination, or where the one it goes to was last
// seen), "" if it carries nothing anywhere.
func (p *Perception) carrying() string {
	for _, g := range p.Self.Goals {
		// A goal that must come after another is not yet the plan.
		if g.Kind != GoalDeliver || g.Status != GoalActive || !slices.Contains(p.Self.Inventory, g.Item) || !p.prerequisiteWon(g) {
			continue
		}
		if loc := p.PeopleSeen[g.Target]; g.Target != "" && loc != "" {
			return loc
		}
		if g.Location != "" {
			return g.Location
		}
	}
	return ""
}

// farther reports whether a step to next leads farther from dest than
// standing here.
func (p *Perception) farther(next, dest string) bool {
	if p.geo == nil {
		return false
	}
	a, ok1 := p.geo.locIndex[p.Place.ID]
	b, ok2 := p.geo.locIndex[next]
	d, ok3 := p.geo.locIndex[dest]
	if !ok1 || !ok2 || !ok3 || p.geo.dist[b][d] < 0 || p.geo.dist[a][d] < 0 {
		return false
	}
	return p.geo.dist[b][d] > p.geo.dist[a][d]
}

// rel is the persona's affinity towards id.
func (u *utility) rel(id string) float64 { return u.p.Self.Relationships[id] }

// randomExit draws one of the ways out, "" if there is none. The way
// the persona came in is left for last: turning straight back is not a
// plan.
func (u *utility) randomExit() string {
	ex := u.p.Place.Exits
	if len(ex) == 0 {
		return ""
	}
	e := ex[u.rng.IntN(len(ex))]
	if e == u.p.CameFrom && len(ex) > 1 {
		e = ex[(slices.Index(ex, e)+1+u.rng.IntN(len(ex)-1))%len(ex)]
	}
	return e
}

// moveTowards offers the first step towards dest; it reports whether
// there was one.
func (u *utility) moveTowards(bucket int, score float64, dest string) bool {
	if hop := u.p.NextHop(dest); hop != "" {
		u.c.add(bucket, score, ActMove, hop, "")
		return true
	}
	return false
}

// explore offers a search here and a walk to somewhere next door.
func (u *utility) explore(score float64) {
	if !u.p.Place.Searched {
		u.c.add(1, score*(0.6+0.6*u.curiosity), ActSearch, "", "")
	}
	if e := u.randomExit(); e != "" {
		u.c.add(1, score*(0.5+0.5*u.curiosity), ActMove, e, "")
	}
}

// scoreEmergencies: hurt, with an enemy in the room, flee or fight.
func (u *utility) scoreEmergencies() {
	for _, o := range u.p.Present {
		if !o.Alive {
			continue
		}
		g := u.p.grudge(o.ID)
		if u.rel(o.ID) > -0.3 && g == 0 {
			continue
		}
		if u.hp < 0.5 {
			fear := (1 - u.hp) * (0.4 + 0.6*u.caution) * (1.3 - 0.7*u.courage)
			if e := u.randomExit(); e != "" {
				u.c.add(2, fear, ActMove, e, "")
			}
			u.c.add(2, (0.2+0.8*u.courage)*(0.2+0.8*u.aggr)*u.hp*1.4, ActAttack, o.ID, "")
		}
	}
}

// scoreGoal offers what serves the persona's goal gi, weighted by its
// rank.
func (u *utility) scoreGoal(gi int, g GoalView) {
	if g.Status != GoalActive {
		return
	}
	w := 1.0 - 0.15*float64(gi)
	if !u.p.prerequisiteWon(g) {
		// Not yet: but a thing to be delivered later is worth
		// getting hold of now, before the other side does.
		if g.Kind != GoalDeliver || slices.Contains(u.p.Self.Inventory, g.Item) {
			return
		}
		w *= 0.75
	}
	switch g.Kind {
	case GoalObtain, GoalDeliver:
		if slices.Contains(u.p.Self.Inventory, g.Item) {
			u.scoreCarrying(g, w)
			return
		}
		u.scoreSeeking(g, w)
	case GoalReach:
		u.moveTowards(1, 0.8*w, g.Location)
	case GoalDefeat:
		u.scoreDefeat(g, w)
	case GoalProtect:
		u.scoreProtect(g, w)
	case GoalBefriend:
		u.scoreBefriend(g, w)
	case GoalLearn:
		u.scoreLearn(g, w)
	}
}

// scoreCarrying: the persona holds the thing its goal is on. It keeps it
// from those who might want it, and a deliverer takes it where it goes.
func (u *utility) scoreCarrying(g GoalView, w float64) {
	p := u.p
	// Keep it away from anyone who might want it.
	for _, o := range p.Present {
		if o.Alive && (u.rel(o.ID) < -0.2 || p.grudge(o.ID) > 0) {
			if e := u.randomExit(); e != "" {
				u.c.add(1, w*(0.3+0.5*u.caution), ActMove, e, "")
			}
			break
		}
	}
	if g.Kind != GoalDeliver {
		return
	}
	if g.Target == "" {
		if !u.moveTowards(1, 0.9*w, g.Location) && g.Waiting {
			// There, but the moment has not come: hold on to it.
			u.c.add(1, 0.45*w, ActWait, "", "")
		}
		return
	}
	if o := p.presentAlive(g.Target); o != nil {
		u.c.add(1, 0.97*w, ActGive, o.ID, g.Item)
	} else if loc := p.PeopleSeen[g.Target]; loc != "" && loc != p.Place.ID {
		u.moveTowards(1, 0.85*w, loc)
	} else if g.Location != "" && g.Location != p.Place.ID {
		u.moveTowards(1, 0.8*w, g.Location)
	} else {
		u.c.add(1, 0.4*w, ActWait, "", "")
	}
}

// scoreSeeking: the persona's goal is on a thing it does not hold. It
// picks it up, keeps an ally who carries it company, goes for whoever
// else holds it here, or goes where it was last seen.
func (u *utility) scoreSeeking(g GoalView, w float64) {
	p := u.p
	if slices.Contains(p.Place.Items, g.Item) {
		u.c.add(1, 0.95*w, ActTake, g.Item, "")
		return
	}
	if holder := holderHere(p, g.Item); holder != nil {
		u.scoreHolderHere(g, w, holder)
		return
	}
	where := p.ItemsSeen[g.Item]
	switch {
	case where == "@"+p.Place.ID:
		// Said to be here, out of sight.
		u.c.add(1, 0.9*w, ActSearch, "", "")
	case strings.HasPrefix(where, "@") && where[1:] != p.Place.ID:
		u.moveTowards(1, 0.75*w, where[1:])
	case where != "" && !strings.HasPrefix(where, "@"):
		if loc := p.PeopleSeen[where]; loc != "" && loc != p.Place.ID {
			// The other side has it: go after it, once fit to.
			u.moveTowards(1, 0.9*w*min(1, 0.2+1.6*u.hp*u.hp), loc)
		} else {
			u.explore(0.45 * w)
		}
	default:
		u.explore(0.5 * w)
	}
}

// scoreHolderHere: someone here holds the thing the persona's goal is
// on. An ally is kept company; anyone else is fought, robbed or talked
// round.
func (u *utility) scoreHolderHere(g GoalView, w float64, holder *PresentView) {
	a := u.rel(holder.ID)
	if a > 0.25 && holder.Faction != "" && holder.Faction == u.p.Self.Faction {
		// An ally carries it: keep them company on the way.
		if g.Kind == GoalDeliver && !u.moveTowards(1, 0.55*w, g.Location) {
			u.c.add(1, 0.3*w, ActWait, "", "")
		}
		u.c.add(1, 0.2*w*(0.5+u.loyalty), ActSpeak, holder.ID, "")
		return
	}
	// A guardian whose charge is in the other side's hands
	// goes after it with all the loyalty it has.
	zeal := 1.0
	if g.Kind == GoalObtain {
		zeal += 0.8 * u.loyalty
	}
	u.c.add(1, zeal*w*(0.1+0.8*u.aggr)*(0.4+0.6*u.courage)*(1-max(0, a))*(0.5+0.5*u.hp), ActAttack, holder.ID, "")
	u.c.add(1, zeal*w*(0.1+0.8*u.cunning)*(0.5+0.5*(1-u.empathy))*(1-0.5*max(0, a)), ActTake, g.Item, "")
	u.c.add(1, w*(0.1+0.6*u.empathy)*(0.6+0.4*a), ActSpeak, holder.ID, "")
}

// scoreDefeat: strike the target if here, else go where it was seen.
func (u *utility) scoreDefeat(g GoalView, w float64) {
	p := u.p
	if o := p.presentAlive(g.Target); o != nil {
		u.c.add(1, w*(0.35+0.6*u.aggr)*(0.5+0.5*u.courage)*(0.6+0.4*u.hp), ActAttack, o.ID, "")
	} else if loc := p.PeopleSeen[g.Target]; loc != "" {
		u.moveTowards(1, 0.6*w, loc)
	} else {
		u.explore(0.4 * w)
	}
}

// scoreProtect: tend and defend the charge if here; go to them when they
// are in danger.
func (u *utility) scoreProtect(g GoalView, w float64) {
	p := u.p
	if o := p.presentAlive(g.Target); o != nil {
		if o.Health < 70 {
			u.c.add(1, w*(0.4+0.5*u.loyalty)*(1.2-float64(o.Health)/100), ActHelp, o.ID, "")
		}
		for _, m := range p.Memories {
			if m.Target == g.Target && m.Kind == ActAttack && p.presentAlive(m.Actor) != nil && p.Turn-m.Turn <= 3 {
				u.c.add(1, w*(0.3+0.6*u.loyalty)*(0.4+0.6*u.courage), ActAttack, m.Actor, "")
				break
			}
		}
		u.c.add(1, 0.15*w, ActWait, "", "")
	} else if loc := p.PeopleSeen[g.Target]; loc != "" {
		// Go to them when they are in danger: last seen where
		// an enemy was, or lately attacked. Otherwise the
		// protector has better things to do than follow them.
		danger := 0.6
		for id, l := range p.PeopleSeen {
			if l == loc && id != g.Target && (u.rel(id) < -0.2 || p.grudge(id) > 0) {
				danger = 1
			}
		}
		for _, m := range p.Memories {
			if m.Target == g.Target && m.Kind == ActAttack && p.Turn-m.Turn <= 4 {
				danger = 1
			}
		}
		u.moveTowards(1, danger*w*(0.3+0.4*u.loyalty), loc)
	}
}

// scoreBefriend: talk to, give to and tend the one to befriend if here,
// else go and find them.
func (u *utility) scoreBefriend(g GoalView, w float64) {
	p := u.p
	if o := p.presentAlive(g.Target); o != nil {
		u.c.add(1, w*(0.45+0.4*u.empathy), ActSpeak, o.ID, "")
		for _, it := range p.Self.Inventory {
			if ally, _ := p.allyNeeding(it); !hasActiveGoalOn(p, it) && ally == "" {
				u.c.add(1, w*(0.2+0.5*u.empathy), ActGive, o.ID, it)
				break
			}
		}
		if o.Health < 70 {
			u.c.add(1, w*(0.5+0.4*u.empathy), ActHelp, o.ID, "")
		}
	} else if loc := p.PeopleSeen[g.Target]; loc != "" {
		u.moveTowards(1, 0.55*w, loc)
	} else {
		u.explore(0.35 * w)
	}
}

// scoreLearn: go where the fact is to be found, then search and ask.
func (u *utility) scoreLearn(g GoalView, w float64) {
	p := u.p
	if g.Location != "" && g.Location != p.Place.ID {
		u.moveTowards(1, 0.7*w, g.Location)
		return
	}
	if !p.Place.Searched {
		u.c.add(1, w*(0.4+0.4*u.curiosity), ActSearch, "", "")
	}
	for _, o := range p.Present {
		if o.Alive && u.rel(o.ID) > -0.3 {
			u.c.add(1, w*(0.25+0.3*u.empathy), ActSpeak, o.ID, "")
			break
		}
	}
	if e := u.randomExit(); e != "" {
		u.c.add(1, w*0.3*(0.5+u.curiosity), ActMove, e, "")
	}
}

// scoreSideNeeds: what one's own side needs. Bring it to whoever needs
// it, and tell them where it went.
func (u *utility) scoreSideNeeds() {
	p := u.p
	for _, it := range p.Self.Inventory {
		if hasActiveGoalOn(p, it) {
			continue
		}
		ally, loc := p.allyNeeding(it)
		switch {
		case ally == "":
		case p.presentAlive(ally) != nil:
			u.c.add(1, 0.9, ActGive, ally, it)
		case loc != "" && loc != p.Place.ID:
			u.moveTowards(1, 0.7, loc)
		}
	}
	for _, o := range p.Present {
		if !o.Alive || o.Faction == "" || o.Faction != p.Self.Faction {
			continue
		}
		goals := p.goalsOf(o.ID)
		for it, where := range p.ItemsSeen {
			if where != "" && where != p.Self.ID && where != o.ID && !strings.HasPrefix(where, "@") && wants(goals, it) {
				u.c.add(1, 0.3+0.4*u.loyalty, ActSpeak, o.ID, "")
				break
			}
		}
	}
}

// scorePeople: talk to, fight or tend those here, by affinity and temper.
func (u *utility) scorePeople() {
	p := u.p
	// One who has just come in has something to say to those it found:
	// a meeting is a scene, not a stop on the way.
	meet := 1.0
	if p.CameFrom != "" {
		meet = 2
	}
	for _, o := range p.Present {
		if !o.Alive {
			continue
		}
		a, g := u.rel(o.ID), p.grudge(o.ID)
		u.c.add(1, meet*(0.1+0.4*u.empathy)*(0.55+0.45*a), ActSpeak, o.ID, "")
		if a < -0.15 || g > 0 {
			u.c.add(1, u.aggr*(0.2-a+0.35*g)*(0.4+0.6*u.courage)*(0.5+0.5*u.hp)*(1.1-0.5*u.caution), ActAttack, o.ID, "")
		} else if u.aggr > 0.6 && a < 0.2 {
			// A short temper needs little reason.
			u.c.add(1, 0.6*(u.aggr-0.5)*(1.2-u.caution), ActAttack, o.ID, "")
		}
		if o.Health < 70 && a > -0.2 {
			kin := 0.0
			if o.Faction != "" && o.Faction == p.Self.Faction {
				kin = 0.25 * u.loyalty
			}
			u.c.add(1, ((0.15+0.6*u.empathy)*(0.7+0.3*a)+kin)*(1.1-float64(o.Health)/100), ActHelp, o.ID, "")
		}
	}
	for _, it := range p.Place.Items {
		if !hasActiveGoalOn(p, it) {
			u.c.add(1, 0.1+0.45*u.greed, ActTake, it, "")
		}
	}
}

// scoreCuriosity: poke about, or go and see what is next door.
func (u *utility) scoreCuriosity() {
	if !u.p.Place.Searched && u.curiosity > 0.5 {
		u.c.add(1, 0.35*(u.curiosity-0.3), ActSearch, "", "")
	}
	if e := u.randomExit(); e != "" && u.curiosity > 0.6 {
		u.c.add(1, 0.3*(u.curiosity-0.4), ActMove, e, "")
	}
}

// scoreIdle: waiting, searching or wandering when nothing else calls.
func (u *utility) scoreIdle() {
	u.c.add(0, 0.08+0.25*(1-u.hp)+0.1*u.caution, ActWait, "", "")
	if !u.p.Place.Searched {
		u.c.add(0, 0.05+0.3*u.curiosity, ActSearch, "", "")
	}
	if e := u.randomExit(); e != "" {
		u.c.add(0, 0.04+0.25*u.curiosity, ActMove, e, "")
	}
}

// choose picks the bucket (an emergency above a threshold first), drops
// options far below the best in it, and draws among the rest by weight.
func (c *chooser) choose(r *rand.Rand) Action {
	bucket := 0
	for b := 2; b >= 1; b-- {
		thresh := 0.12
		if b == 2 {
			thresh = 0.35
		}
		for _, o := range c.opts {
			if o.bucket == b && o.score >= thresh {
				bucket = b
				break
			}
		}
		if bucket > 0 {
			break
		}
	}
	best := 0.0
	for _, o := range c.opts {
		if o.bucket == bucket && o.score > best {
			best = o.score
		}
	}
	total := 0.0
	for _, o := range c.opts {
		if o.bucket == bucket && o.score >= 0.65*best {
			total += o.score * o.score
		}
	}
	if total == 0 {
		return Action{Kind: ActWait}
	}
	x := r.Float64() * total
	var last Action
	for _, o := range c.opts {
		if o.bucket != bucket || o.score < 0.65*best {
			continue
		}
		last = o.a
		x -= o.score * o.score
		if x < 0 {
			return o.a
		}
	}
	return last
}

func (p *Perception) presentAlive(id string) *PresentView {
	for i := range p.Present {
		if p.Present[i].ID == id && p.Present[i].Alive {
			return &p.Present[i]
		}
	}
	return nil
}

// prerequisiteWon reports whether the goal it must come after has been won.
func (p *Perception) prerequisiteWon(g GoalView) bool {
	if g.After == "" {
		return true
	}
	for _, o := range p.Self.Goals {
		if o.ID == g.After {
			return o.Status == GoalWon || o.Status == GoalReconciled
		}
	}
	return true
}

// grudge counts the harms the persona remembers from another character.
func (p *Perception) grudge(id string) float64 {
	g := 0.0
	for _, m := range p.Memories {
		if m.Actor == id && m.Target == p.Self.ID && (m.Kind == ActAttack || m.Kind == ActTake) {
			g += 1
		}
	}
	return g
}

func holderHere(p *Perception, item string) *PresentView {
	for i := range p.Present {
		if p.Present[i].Alive && slices.Contains(p.Present[i].Holding, item) {
			return &p.Present[i]
		}
	}
	return nil
}

// allyNeeding finds someone of the persona's own side whose goals are on
// item, and where the persona last saw them: one in the room first, then
// one who must carry it somewhere, then anyone.
func (p *Perception) allyNeeding(item string) (string, string) {
	if p.sc == nil || p.Self.Faction == "" {
		return "", ""
	}
	best, rank := "", -1
	for _, ch := range p.sc.Characters {
		if ch.ID == p.Self.ID || ch.Faction != p.Self.Faction {
			continue
		}
		for _, g := range ch.Goals {
			if g.Item != item || (g.Kind != GoalObtain && g.Kind != GoalDeliver) {
				continue
			}
			r := 0
			if g.Kind == GoalDeliver {
				r = 1
			}
			if p.PeopleSeen[ch.ID] != "" {
				r += 2
			}
			if p.presentAlive(ch.ID) != nil {
				r += 4
			}
			if r > rank {
				best, rank = ch.ID, r
			}
		}
	}
	return best, p.PeopleSeen[best]
}

func hasActiveGoalOn(p *Perception, item string) bool {
	for _, g := range p.Self.Goals {
		if g.Item == item && g.Status == GoalActive {
			return true
		}
	}
	return false
}
