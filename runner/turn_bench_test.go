package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/novel-engine/novel-engine/engine"
	"github.com/novel-engine/novel-engine/store"
)

// messenger is a Publisher that builds each turn's message once, as the
// server's publisher does before handing it to the hub, and keeps the
// last one so the work is not optimised away.
type messenger struct{ last []byte }

func (p *messenger) PublishTurn(ctx context.Context, sim string, seq int64, body []byte) error {
	b := make([]byte, 0, len(body)+len(sim)+64)
	b = append(b, `{"type":"turn","sim":`...)
	b = strconv.AppendQuote(b, sim)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, `,"turn":`...)
	b = append(b, body...)
	p.last = append(b, '}')
	return nil
}

func (p *messenger) PublishStatus(ctx context.Context, sim, status string, seq int64) error {
	return nil
}

func (p *messenger) PublishVote(ctx context.Context, sim string, msg []byte) error { return nil }

// turnStories makes one story of each built-in scenario, without its end
// and with a long planned length (as loadtest/ does), on the memory store,
// loaded into r but with no actor: the benchmark plays their turns itself.
func turnStories(b *testing.B, r *Runner, mem *store.Memory, seed int64) []*story {
	b.Helper()
	var out []*story
	for _, sc := range engine.Builtins() {
		endless := *sc
		endless.End, endless.Length = nil, 10000
		raw, err := json.Marshal(&endless)
		if err != nil {
			b.Fatal(err)
		}
		parsed, err := engine.ParseScenario(raw)
		if err != nil {
			b.Fatal(err)
		}
		sim, err := engine.NewSim(parsed, seed, engine.Options{})
		if err != nil {
			b.Fatal(err)
		}
		state, err := sim.State()
		if err != nil {
			b.Fatal(err)
		}
		rec := &store.Simulation{ID: fmt.Sprintf("%s-%d", sc.ID, seed), Title: "t", ScenarioID: endless.ID,
			Scenario: raw, Status: store.StatusRunning, Seed: seed, MaxTurns: 100000, TurnIntervalMS: 1000}
		ctx := context.Background()
		if err := mem.CreateSimulation(ctx, rec, state); err != nil {
			b.Fatal(err)
		}
		st, err := r.load(store.Resume{Sim: rec, State: state})
		if err != nil {
			b.Fatal(err)
		}
		st.seatsAt = time.Now()
		out = append(out, st)
	}
	return out
}

// BenchmarkTurn is a story's whole turn on a node with the memory store,
// as workload A of loadtest/cmd/compare plays it: the actor's step and
// state encoding, the turn's encoding, storing it, building the message
// the hub fans out, and the actor taking the outcome in. The stories are
// the built-in scenarios without their ends, played to turn 60 (a
// minute at one turn a second) and then started again with a new seed.
func BenchmarkTurn(b *testing.B) { benchTurn(b, false) }

// BenchmarkTurnInline is BenchmarkTurn with InlineTurns: the actor
// stores and publishes the turn itself, without a job.
func BenchmarkTurnInline(b *testing.B) { benchTurn(b, true) }

func benchTurn(b *testing.B, inline bool) {
	mem := store.NewMemory()
	r := New(Config{Store: mem, Publisher: &messenger{}, Node: "bench", InlineTurns: inline})
	defer r.Shutdown(context.Background())
	seed := int64(1)
	stories := turnStories(b, r, mem, seed)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		st := stories[i%len(stories)]
		if st.head >= 60 {
			b.StopTimer()
			seed++
			stories = turnStories(b, r, mem, seed)
			st = stories[i%len(stories)]
			b.StartTimer()
		}
		i++
		if !st.startTurn(time.Now()) {
			fn := <-st.results
			st.jobs--
			fn()
		}
		if st.ended || st.stopping {
			b.Fatalf("story %s stopped at turn %d", st.id, st.head)
		}
	}
}

// BenchmarkTurnsInterleaved3 and BenchmarkTurnsInterleaved99 play the same
// turns (99 stories, the built-in scenarios with 33 seeds, 16 turns each),
// three stories round robin at a time or all 99 round robin, as a node
// running 100 stories plays them. Their ns/turn differ by what a turn
// costs when its story's data has left the processor's caches since its
// last turn; the allocations are the same.
func BenchmarkTurnsInterleaved3(b *testing.B)  { benchTurnsInterleaved(b, 3) }
func BenchmarkTurnsInterleaved99(b *testing.B) { benchTurnsInterleaved(b, 99) }

func benchTurnsInterleaved(b *testing.B, group int) {
	const seeds, turns = 33, 16
	played := 0
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		mem := store.NewMemory()
		r := New(Config{Store: mem, Publisher: &messenger{}, Node: "bench", InlineTurns: true})
		var stories []*story
		for seed := int64(1); seed <= seeds; seed++ {
			stories = append(stories, turnStories(b, r, mem, seed)...)
		}
		b.StartTimer()
		for g := 0; g < len(stories); g += group {
			some := stories[g:min(g+group, len(stories))]
			for range turns {
				for _, st := range some {
					if !st.startTurn(time.Now()) {
						fn := <-st.results
						st.jobs--
						fn()
					}
					played++
				}
			}
		}
		b.StopTimer()
		r.Shutdown(context.Background())
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(played), "ns/turn")
}
