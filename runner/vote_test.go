package runner

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/novel-engine/novel-engine/engine"
	"github.com/novel-engine/novel-engine/internal/poll"
	"github.com/novel-engine/novel-engine/internal/votetest"
	"github.com/novel-engine/novel-engine/store"
	"github.com/novel-engine/novel-engine/timeline"
)

// newVotedSim stores a running story with audience votes open for window.
func newVotedSim(t *testing.T, st store.Store, id string, window time.Duration) *store.Simulation {
	t.Helper()
	data := votetest.Scenario(t, id)
	sc, err := engine.ParseScenario(data)
	if err != nil {
		t.Fatal(err)
	}
	sim, err := engine.NewSim(sc, 3, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	state, _ := sim.State()
	rec := &store.Simulation{ID: id, Title: "t", ScenarioID: sc.ID, Scenario: data, Status: store.StatusRunning,
		Seed: 3, MaxTurns: 40, TurnIntervalMS: 10, AudienceVotes: true, VoteWindowMS: int(window / time.Millisecond)}
	if err := st.CreateSimulation(context.Background(), rec, state); err != nil {
		t.Fatal(err)
	}
	return rec
}

// turnBody reads stored turn seq.
func turnBody(t *testing.T, st store.Store, id string, seq int64) storedTurn {
	t.Helper()
	turns, err := st.ListTurns(context.Background(), id, seq-1, 1)
	if err != nil || len(turns) != 1 {
		t.Fatalf("turn %d: %v (%d turns)", seq, err, len(turns))
	}
	var body storedTurn
	if err := json.Unmarshal(turns[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	return body
}

// A vote is announced and recorded before the turn; ballots are counted
// (the last of a voter's counts), bad ones refused; the turn plays the
// winner, records it among its inputs, and replays to the same world. A
// vote nobody answers plays the director's choice, recorded as well.
func TestAudienceVote(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	r, pub := newRunner(t, st, "n1", Config{})
	rec := newVotedSim(t, st, "voted", 3*time.Second)
	if err := r.Start(ctx, rec); err != nil {
		t.Fatal(err)
	}
	var v VoteMessage
	poll.Until(t, 10*time.Second, "a vote", func() (ok bool) { v, ok = pub.vote(0); return ok })
	if v.Type != "vote" || v.Sim != "voted" || len(v.Options) < 2 || !v.ClosesAt.After(time.Now().Add(-time.Minute)) {
		t.Fatalf("vote %+v", v)
	}
	if h := head(t, st, "voted"); h != v.Turn-1 {
		t.Fatalf("vote for turn %d at head %d", v.Turn, h)
	}
	last := v.Options[len(v.Options)-1].ID
	for _, b := range []struct {
		voter, option string
		replaced      bool
	}{{"ann", last, false}, {"bo", v.Options[0].ID, false}, {"bo", last, true}} {
		acc, err := r.Ballot(ctx, "voted", v.Turn, b.voter, b.option)
		if err != nil || acc.Turn != v.Turn || acc.Replaced != b.replaced {
			t.Fatalf("ballot %+v: %+v, %v", b, acc, err)
		}
	}
	if _, err := r.Ballot(ctx, "voted", v.Turn, "cy", "no-such-option"); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown option: %v, want ErrInvalid", err)
	}
	if _, err := r.Ballot(ctx, "voted", v.Turn+1, "cy", last); !errors.Is(err, ErrVoteClosed) {
		t.Errorf("ballot for a turn with no vote: %v, want ErrVoteClosed", err)
	}
	got, err := st.GetSimulation(ctx, "voted")
	if err != nil {
		t.Fatal(err)
	}
	var recorded VoteMessage
	if err := json.Unmarshal(got.Vote, &recorded); err != nil || recorded.Turn != v.Turn {
		t.Errorf("recorded vote %s (%v), want turn %d's", got.Vote, err, v.Turn)
	}

	poll.Until(t, 20*time.Second, "the voted turn", func() bool { return head(t, st, "voted") >= v.Turn })
	body := turnBody(t, st, "voted", v.Turn)
	if body.Vote == nil || body.Vote.Chosen != last || body.Vote.Counts[last] != 2 || body.Vote.Ballots != 2 || body.Vote.Director {
		t.Fatalf("turn %d's vote %+v, want %s chosen by 2 ballots", v.Turn, body.Vote, last)
	}
	if in := body.Inputs[engine.DirectorInput]; in.Kind != engine.ActTwist || in.Target != last {
		t.Errorf("turn %d's inputs %+v, want the twist %s", v.Turn, body.Inputs, last)
	}
	if _, err := r.Ballot(ctx, "voted", v.Turn, "ann", last); !errors.Is(err, ErrVoteClosed) {
		t.Errorf("ballot after the close: %v, want ErrVoteClosed", err)
	}

	// The next vote gets no ballots: the director's choice.
	var v2 VoteMessage
	poll.Until(t, 20*time.Second, "a second vote", func() (ok bool) { v2, ok = pub.vote(1); return ok })
	poll.Until(t, 20*time.Second, "the second voted turn", func() bool { return head(t, st, "voted") >= v2.Turn })
	body = turnBody(t, st, "voted", v2.Turn)
	if body.Vote == nil || !body.Vote.Director || body.Vote.Chosen != v2.Options[0].ID || body.Vote.Ballots != 0 {
		t.Fatalf("turn %d's vote %+v, want the director's %s", v2.Turn, body.Vote, v2.Options[0].ID)
	}
	if in := body.Inputs[engine.DirectorInput]; in.Target != v2.Options[0].ID {
		t.Errorf("turn %d's inputs %+v, want the director's twist recorded", v2.Turn, body.Inputs)
	}

	// Replaying the story with its recorded inputs gives the same worlds.
	rec, err = st.GetSimulation(ctx, "voted")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := timeline.New(st, timeline.Config{}).At(ctx, rec, rec.Head); err != nil {
		t.Fatalf("replay: %v", err)
	}
}

// A story without audience votes opens none.
func TestNoVotesWithoutAudienceVotes(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	r, pub := newRunner(t, st, "n1", Config{})
	rec := newVotedSim(t, st, "plain", time.Hour)
	rec.AudienceVotes = false
	if err := r.Start(ctx, rec); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 20*time.Second, "five turns", func() bool { return head(t, st, "plain") >= 5 })
	if _, ok := pub.vote(0); ok {
		t.Error("a story without audience votes opened a vote")
	}
	for seq := int64(1); seq <= 5; seq++ {
		if b := turnBody(t, st, "plain", seq); b.Vote != nil || b.Inputs[engine.DirectorInput].Kind != "" {
			t.Errorf("turn %d records a vote: %+v", seq, b.Vote)
		}
	}
}
