package storetest

import (
	"bytes"
	"errors"
	"testing"

	"github.com/novel-engine/novel-engine/store"
)

// testVotes: a story's vote settings are kept from its creation (and a
// fork's), and the vote opened last is kept and replaced.
func testVotes(t *testing.T, s store.Store) {
	c := ctx(t)
	sim := NewSim("voted")
	sim.AudienceVotes, sim.AnonymousVotes, sim.VoteWindowMS = true, true, 2500
	if err := s.CreateSimulation(c, sim, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetSimulation(c, "voted")
	if err != nil {
		t.Fatal(err)
	}
	if !got.AudienceVotes || !got.AnonymousVotes || got.VoteWindowMS != 2500 || got.Vote != nil {
		t.Fatalf("got votes %v, anonymous %v, window %d, vote %q; want true, true, 2500, none",
			got.AudienceVotes, got.AnonymousVotes, got.VoteWindowMS, got.Vote)
	}
	for _, v := range []string{`{"turn":2}`, `{"turn":5}`} {
		if err := s.SetVote(c, "voted", []byte(v)); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetSimulation(c, "voted")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Vote, []byte(v)) {
			t.Errorf("vote %q, want %q", got.Vote, v)
		}
	}
	if err := s.SetVote(c, "missing", []byte(`{}`)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("vote of a missing story: %v, want not found", err)
	}
	plain := NewSim("plain")
	if err := s.CreateSimulation(c, plain, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetSimulation(c, "plain"); err != nil || got.AudienceVotes || got.AnonymousVotes || got.VoteWindowMS != 0 {
		t.Errorf("a story without votes reads back as %+v, %v", got, err)
	}
	fork := NewSim("voted-fork")
	fork.Head, fork.Parent, fork.ForkedAt, fork.AudienceVotes, fork.VoteWindowMS = 0, "plain", 0, true, 900
	if err := s.CreateFork(c, fork, nil, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetSimulation(c, "voted-fork"); err != nil || !got.AudienceVotes || got.VoteWindowMS != 900 {
		t.Errorf("a fork with votes reads back as %+v, %v", got, err)
	}
}
