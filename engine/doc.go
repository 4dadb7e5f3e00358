// Package engine runs a story: a scenario, a seed and the players'
// actions go in; turns, each with its events, its prose and a state hash,
// come out. With the built-in decider, the same scenario, seed and
// actions always give the same turns.
//
// Where to look, in the order a turn is played (director.go, step):
//
//   - sim.go, world.go, rng.go: the simulation, its state and its seeded
//     random streams; canon.go: the canonical encoding behind the hash.
//   - perception.go: what each persona can know; decide.go: gathering one
//     action per character, and the director's nudge that turns a turn
//     of mere comings and goings into a scene; utility.go: the built-in
//     decider (plans kept, no turning straight back, carriers holding
//     their course); actions.go: checking a player's action.
//   - motive.go: why each deed was done; resolve.go and resolve_*.go:
//     what each deed does to the world.
//   - scripted.go: scripted events; contest.go: the contest over the
//     prize and the director's hand on the scale; conditions.go: the
//     conditions events, goals and endings test.
//   - goals.go, relations.go, pacing.go, ending.go: goals won and lost,
//     relationship bands, tension and phases, the verdict and its
//     aftermath.
//   - chronicle.go: what the chronicler is given; prose.go and
//     prose_*.go: the built-in chronicler (what to tell, naming,
//     templates, causes, and the sentences for each kind of record).
//   - scenario.go, scenario_validate*.go, builtin.go: scenarios, their
//     checks and the built-in ones.
package engine
