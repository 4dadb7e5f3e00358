package postgres_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/novel-engine/novel-engine/store"
	"github.com/novel-engine/novel-engine/store/postgres"
	"github.com/novel-engine/novel-engine/store/postgres/pgtest"
	"github.com/novel-engine/novel-engine/store/storetest"
)

// TestForkOutlivesParent: a fork holds copies of the turns it inherited,
// so deleting its parent (its turns go with it) leaves the fork whole.
func TestForkOutlivesParent(t *testing.T) {
	s := pgtest.Store(t, postgres.Options{})
	c := ctx(t)
	if err := s.CreateSimulation(c, storetest.NewSim("p"), []byte("s0")); err != nil {
		t.Fatal(err)
	}
	var turns []store.Turn
	for seq := int64(1); seq <= 2; seq++ {
		tu := store.Turn{Seq: seq, At: time.Now().UTC().Truncate(time.Microsecond), Body: storetest.TurnBody("p", seq)}
		if err := s.AppendTurn(c, "p", tu, []byte("s"), "", nil); err != nil {
			t.Fatal(err)
		}
		turns = append(turns, tu)
	}
	fork := storetest.NewSim("f")
	fork.Head, fork.Parent, fork.ForkedAt = 2, "p", 2
	if err := s.CreateFork(c, fork, turns, []byte("s2")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool().Exec(c, `delete from simulations where id = 'p'`); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListTurns(c, "f", 0, 10)
	if err != nil || len(got) != 2 || !bytes.Equal(got[1].Body, turns[1].Body) {
		t.Fatalf("fork's turns after its parent is gone: %v %v", got, err)
	}
	if rec, err := s.GetSimulation(c, "f"); err != nil || rec.Parent != "p" {
		t.Fatalf("fork after its parent is gone: %+v %v", rec, err)
	}
}
