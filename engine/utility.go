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
}

func (c *chooser) add(bucket int, score float64, kind, target, text string) {
	if score <= 0 || math.IsNaN(score) {
		return
	}
	key := kind + ":" + target
	if kind != ActMove {
		// A penalty for doing the same thing again within a few turns.
		for _, r := range c.p.Recent {
			if r == key {
				score *= 0.7
			}
		}
	} else if len(c.p.Recent) > 0 && slices.Contains(c.p.Recent[max(0, len(c.p.Recent)-2):], key) && bucket == 0 {
		score *= 0.5
	}
	c.opts = append(c.opts, option{a: Action{Kind: kind, Target: target, Text: text}, score: score, bucket: bucket})
}

func decideUtility(p *Perception) Action {
	r := rand.New(rand.NewPCG(p.Seed, 0x9e3779b97f4a7c15))
	c := chooser{p: p, opts: make([]option, 0, 24)}
	aggr, caution, courage := p.Trait("aggression"), p.Trait("caution"), p.Trait("courage")
	empathy, curiosity, loyalty := p.Trait("empathy"), p.Trait("curiosity"), p.Trait("loyalty")
	cunning, greed := p.Trait("cunning"), p.Trait("greed")
	hp := float64(p.Self.Health) / 100
	rel := func(id string) float64 { return p.Self.Relationships[id] }
	randomExit := func() string {
		if len(p.Place.Exits) == 0 {
			return ""
		}
		return p.Place.Exits[r.IntN(len(p.Place.Exits))]
	}
	moveTowards := func(bucket int, score float64, dest string) bool {
		if hop := p.NextHop(dest); hop != "" {
			c.add(bucket, score, ActMove, hop, "")
			return true
		}
		return false
	}
	explore := func(score float64) {
		if !p.Place.Searched {
			c.add(1, score*(0.6+0.6*curiosity), ActSearch, "", "")
		}
		if e := randomExit(); e != "" {
			c.add(1, score*(0.5+0.5*curiosity), ActMove, e, "")
		}
	}

	// Emergency: hurt, with an enemy in the room.
	for _, o := range p.Present {
		if !o.Alive {
			continue
		}
		g := p.grudge(o.ID)
		if rel(o.ID) > -0.3 && g == 0 {
			continue
		}
		if hp < 0.5 {
			fear := (1 - hp) * (0.4 + 0.6*caution) * (1.3 - 0.7*courage)
			if e := randomExit(); e != "" {
				c.add(2, fear, ActMove, e, "")
			}
			c.add(2, (0.2+0.8*courage)*(0.2+0.8*aggr)*hp*1.4, ActAttack, o.ID, "")
		}
	}

	// Goals.
	for gi, g := range p.Self.Goals {
		if g.Status != GoalActive {
			continue
		}
		w := 1.0 - 0.15*float64(gi)
		if !p.prerequisiteWon(g) {
			// Not yet: but a thing to be delivered later is worth
			// getting hold of now, before the other side does.
			if g.Kind != GoalDeliver || slices.Contains(p.Self.Inventory, g.Item) {
				continue
			}
			w *= 0.75
		}
		switch g.Kind {
		case GoalObtain, GoalDeliver:
			if slices.Contains(p.Self.Inventory, g.Item) {
				// Keep it away from anyone who might want it.
				for _, o := range p.Present {
					if o.Alive && (rel(o.ID) < -0.2 || p.grudge(o.ID) > 0) {
						if e := randomExit(); e != "" {
							c.add(1, w*(0.3+0.5*caution), ActMove, e, "")
						}
						break
					}
				}
				if g.Kind != GoalDeliver {
					continue
				}
				if g.Target == "" {
					if !moveTowards(1, 0.9*w, g.Location) && g.Waiting {
						// There, but the moment has not come: hold on to it.
						c.add(1, 0.45*w, ActWait, "", "")
					}
					continue
				}
				if o := p.presentAlive(g.Target); o != nil {
					c.add(1, 0.97*w, ActGive, o.ID, g.Item)
				} else if loc := p.PeopleSeen[g.Target]; loc != "" && loc != p.Place.ID {
					moveTowards(1, 0.85*w, loc)
				} else if g.Location != "" && g.Location != p.Place.ID {
					moveTowards(1, 0.8*w, g.Location)
				} else {
					c.add(1, 0.4*w, ActWait, "", "")
				}
				continue
			}
			if slices.Contains(p.Place.Items, g.Item) {
				c.add(1, 0.95*w, ActTake, g.Item, "")
				continue
			}
			if holder := holderHere(p, g.Item); holder != nil {
				a := rel(holder.ID)
				if a > 0.25 && holder.Faction != "" && holder.Faction == p.Self.Faction {
					// An ally carries it: keep them company on the way.
					if g.Kind == GoalDeliver && !moveTowards(1, 0.55*w, g.Location) {
						c.add(1, 0.3*w, ActWait, "", "")
					}
					c.add(1, 0.2*w*(0.5+loyalty), ActSpeak, holder.ID, "")
					continue
				}
				// A guardian whose charge is in the other side's hands
				// goes after it with all the loyalty it has.
				zeal := 1.0
				if g.Kind == GoalObtain {
					zeal += 0.8 * loyalty
				}
				c.add(1, zeal*w*(0.1+0.8*aggr)*(0.4+0.6*courage)*(1-max(0, a))*(0.5+0.5*hp), ActAttack, holder.ID, "")
				c.add(1, zeal*w*(0.1+0.8*cunning)*(0.5+0.5*(1-empathy))*(1-0.5*max(0, a)), ActTake, g.Item, "")
				c.add(1, w*(0.1+0.6*empathy)*(0.6+0.4*a), ActSpeak, holder.ID, "")
				continue
			}
			where := p.ItemsSeen[g.Item]
			switch {
			case where == "@"+p.Place.ID:
				// Said to be here, out of sight.
				c.add(1, 0.9*w, ActSearch, "", "")
			case strings.HasPrefix(where, "@") && where[1:] != p.Place.ID:
				moveTowards(1, 0.75*w, where[1:])
			case where != "" && !strings.HasPrefix(where, "@"):
				if loc := p.PeopleSeen[where]; loc != "" && loc != p.Place.ID {
					// The other side has it: go after it, once fit to.
					moveTowards(1, 0.9*w*min(1, 0.2+1.6*hp*hp), loc)
				} else {
					explore(0.45 * w)
				}
			default:
				explore(0.5 * w)
			}
		case GoalReach:
			moveTowards(1, 0.8*w, g.Location)
		case GoalDefeat:
			if o := p.presentAlive(g.Target); o != nil {
				c.add(1, w*(0.35+0.6*aggr)*(0.5+0.5*courage)*(0.6+0.4*hp), ActAttack, o.ID, "")
			} else if loc := p.PeopleSeen[g.Target]; loc != "" {
				moveTowards(1, 0.6*w, loc)
			} else {
				explore(0.4 * w)
			}
		case GoalProtect:
			if o := p.presentAlive(g.Target); o != nil {
				if o.Health < 70 {
					c.add(1, w*(0.4+0.5*loyalty)*(1.2-float64(o.Health)/100), ActHelp, o.ID, "")
				}
				for _, m := range p.Memories {
					if m.Target == g.Target && m.Kind == ActAttack && p.presentAlive(m.Actor) != nil && p.Turn-m.Turn <= 3 {
						c.add(1, w*(0.3+0.6*loyalty)*(0.4+0.6*courage), ActAttack, m.Actor, "")
						break
					}
				}
				c.add(1, 0.15*w, ActWait, "", "")
			} else if loc := p.PeopleSeen[g.Target]; loc != "" {
				// Go to them when they are in danger: last seen where
				// an enemy was, or lately attacked. Otherwise the
				// protector has better things to do than follow them.
				danger := 0.6
				for id, l := range p.PeopleSeen {
					if l == loc && id != g.Target && (rel(id) < -0.2 || p.grudge(id) > 0) {
						danger = 1
					}
				}
				for _, m := range p.Memories {
					if m.Target == g.Target && m.Kind == ActAttack && p.Turn-m.Turn <= 4 {
						danger = 1
					}
				}
				moveTowards(1, danger*w*(0.3+0.4*loyalty), loc)
			}
		case GoalBefriend:
			if o := p.presentAlive(g.Target); o != nil {
				c.add(1, w*(0.45+0.4*empathy), ActSpeak, o.ID, "")
				for _, it := range p.Self.Inventory {
					if ally, _ := p.allyNeeding(it); !hasActiveGoalOn(p, it) && ally == "" {
						c.add(1, w*(0.2+0.5*empathy), ActGive, o.ID, it)
						break
					}
				}
				if o.Health < 70 {
					c.add(1, w*(0.5+0.4*empathy), ActHelp, o.ID, "")
				}
			} else if loc := p.PeopleSeen[g.Target]; loc != "" {
				moveTowards(1, 0.55*w, loc)
			} else {
				explore(0.35 * w)
			}
		case GoalLearn:
			if g.Location != "" && g.Location != p.Place.ID {
				moveTowards(1, 0.7*w, g.Location)
				continue
			}
			if !p.Place.Searched {
				c.add(1, w*(0.4+0.4*curiosity), ActSearch, "", "")
			}
			for _, o := range p.Present {
				if o.Alive && rel(o.ID) > -0.3 {
					c.add(1, w*(0.25+0.3*empathy), ActSpeak, o.ID, "")
					break
				}
			}
			if e := randomExit(); e != "" {
				c.add(1, w*0.3*(0.5+curiosity), ActMove, e, "")
			}
		}
	}

	// What one's own side needs: bring it to whoever needs it, and tell
	// them where it went.
	for _, it := range p.Self.Inventory {
		if hasActiveGoalOn(p, it) {
			continue
		}
		ally, loc := p.allyNeeding(it)
		switch {
		case ally == "":
		case p.presentAlive(ally) != nil:
			c.add(1, 0.9, ActGive, ally, it)
		case loc != "" && loc != p.Place.ID:
			moveTowards(1, 0.7, loc)
		}
	}
	for _, o := range p.Present {
		if !o.Alive || o.Faction == "" || o.Faction != p.Self.Faction {
			continue
		}
		for it, where := range p.ItemsSeen {
			if where != "" && where != p.Self.ID && where != o.ID && !strings.HasPrefix(where, "@") && p.wantedBy(o.ID, it) {
				c.add(1, 0.3+0.4*loyalty, ActSpeak, o.ID, "")
				break
			}
		}
	}

	// People.
	for _, o := range p.Present {
		if !o.Alive {
			continue
		}
		a, g := rel(o.ID), p.grudge(o.ID)
		c.add(1, (0.1+0.4*empathy)*(0.55+0.45*a), ActSpeak, o.ID, "")
		if a < -0.15 || g > 0 {
			c.add(1, aggr*(0.2-a+0.35*g)*(0.4+0.6*courage)*(0.5+0.5*hp)*(1.1-0.5*caution), ActAttack, o.ID, "")
		} else if aggr > 0.6 && a < 0.2 {
			// A short temper needs little reason.
			c.add(1, 0.6*(aggr-0.5)*(1.2-caution), ActAttack, o.ID, "")
		}
		if o.Health < 70 && a > -0.2 {
			kin := 0.0
			if o.Faction != "" && o.Faction == p.Self.Faction {
				kin = 0.25 * loyalty
			}
			c.add(1, ((0.15+0.6*empathy)*(0.7+0.3*a)+kin)*(1.1-float64(o.Health)/100), ActHelp, o.ID, "")
		}
	}
	for _, it := range p.Place.Items {
		if !hasActiveGoalOn(p, it) {
			c.add(1, 0.1+0.45*greed, ActTake, it, "")
		}
	}
	// Curiosity: poke about, or go and see what is next door.
	if !p.Place.Searched && curiosity > 0.5 {
		c.add(1, 0.35*(curiosity-0.3), ActSearch, "", "")
	}
	if e := randomExit(); e != "" && curiosity > 0.6 {
		c.add(1, 0.3*(curiosity-0.4), ActMove, e, "")
	}

	// Idle.
	c.add(0, 0.08+0.25*(1-hp)+0.1*caution, ActWait, "", "")
	if !p.Place.Searched {
		c.add(0, 0.05+0.3*curiosity, ActSearch, "", "")
	}
	if e := randomExit(); e != "" {
		c.add(0, 0.04+0.25*curiosity, ActMove, e, "")
	}

	return c.choose(r)
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

// wantedBy reports whether character id's goals are on item.
func (p *Perception) wantedBy(id, item string) bool {
	if p.sc == nil {
		return false
	}
	for _, ch := range p.sc.Characters {
		if ch.ID != id {
			continue
		}
		for _, g := range ch.Goals {
			if g.Item == item && (g.Kind == GoalObtain || g.Kind == GoalDeliver) {
				return true
			}
		}
	}
	return false
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
