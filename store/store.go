// Package store persists simulations, their turns, seats and pending actions.
//
// Two implementations pass one conformance suite (package storetest): the
// in-memory store, the embedded default, and PostgreSQL (store/postgres).
package store

import (
	"context"
	"errors"
	"time"

	"github.com/novel-engine/novel-engine/engine"
)

// Errors every implementation translates its failures into, so callers can
// map them to protocol codes without knowing the backend.
var (
	ErrNotFound    = errors.New("not found")
	ErrConflict    = errors.New("conflict")
	ErrUnavailable = errors.New("store unavailable")
	// ErrActionsPending is AppendTurn's refusal of a turn that did not
	// play every pending action due by it: the writer reads the pending
	// actions again and plays the turn again with them.
	ErrActionsPending = errors.New("pending actions due by this turn were not played")
	// ErrTooManySeats is ClaimSeat's refusal of a seat past
	// Seat.MaxPerUser.
	ErrTooManySeats = errors.New("the user holds as many seats of this simulation as allowed")
)

// Simulation statuses.
const (
	StatusCreated  = "created"
	StatusRunning  = "running"
	StatusPaused   = "paused"
	StatusFinished = "finished"
	StatusFailed   = "failed"
)

// Simulation is the stored record of one simulation. The world state after
// the head turn is kept apart (LoadState) because it is large and only the
// node that runs the simulation needs it.
type Simulation struct {
	ID             string
	Title          string
	ScenarioID     string
	Scenario       []byte // the whole scenario as JSON, so any node can rebuild the simulation
	Status         string
	Seed           int64
	Head           int64
	MaxTurns       int
	TurnIntervalMS int
	WaitForPlayers bool
	CreatedBy      string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	Owner          string // node running it now, empty when none

	// A fork's parent and the turn it left it at (empty and 0 for a
	// story told from its start), and the seeds the turns it inherited
	// were played with, so it can be replayed even when its parent is
	// gone.
	Parent   string
	ForkedAt int64
	Lineage  []SeedSpan

	// Audience votes: before a twist, watchers vote on it for
	// VoteWindowMS (0: the server's default); AnonymousVotes lets
	// watchers who are not signed in vote too. Vote is the last vote
	// opened, as sent to watchers (JSON), so that any node can show it
	// to a watcher who arrives while it is open; nil before the first.
	AudienceVotes  bool
	AnonymousVotes bool
	VoteWindowMS   int
	Vote           []byte
}

// SeedSpan says that a fork's turns up to Until were played with Seed.
// A fork's Lineage lists them oldest first; the turns after the last
// were played with the fork's own Seed.
type SeedSpan struct {
	Until int64 `json:"until"`
	Seed  int64 `json:"seed"`
}

// SeedAt is the seed turn seq of sim was played with.
func (sim *Simulation) SeedAt(seq int64) int64 {
	for _, sp := range sim.Lineage {
		if seq <= sp.Until {
			return sp.Seed
		}
	}
	return sim.Seed
}

// Turn is one stored turn. Body is the turn exactly as sent to clients
// (PROTOCOL.md's Turn object, JSON); the store never re-encodes it.
type Turn struct {
	Seq  int64
	At   time.Time
	Body []byte
}

// Seat is a character's claim by a user.
type Seat struct {
	UserID   string
	UserName string
	// AIFill lets the built-in decider play the character on turns its
	// player sends no action for; without it the character holds its
	// ground until its player acts.
	AIFill bool
	// MaxPerUser, given to ClaimSeat and not stored, bounds the seats of
	// the simulation its user may hold, this one included; 0: no bound.
	MaxPerUser int
}

// PendingAction is a player's action accepted for a turn not yet stored.
type PendingAction struct {
	ID        string // names this action: AppendTurn removes the actions it played by id
	Character string
	UserID    string
	Action    engine.Action
	Turn      int64 // the turn it was accepted for
	At        time.Time
}

// Summary is what a listing shows of a simulation beside its record.
type Summary struct {
	HeadTurn []byte // the head turn's body; nil at head 0
	Seats    map[string]Seat
}

// Resume is what a node reads to run a stored simulation: its record, the
// world state after its head turn (Sim.Head) and the actions not yet
// played, by character.
type Resume struct {
	Sim     *Simulation
	State   []byte
	Pending []PendingAction
}

// StoredScenario is a user's scenario kept for reuse by id.
type StoredScenario struct {
	ID    string
	Owner string // the user who uploaded it; empty for one kept before owners were
	// Rev changes whenever an id is stored anew (after a delete), so
	// what is derived from a scenario can be cached by id and Rev.
	Rev  int64
	Data []byte // the scenario as JSON
}

// ListOptions filter and page ListSimulations.
type ListOptions struct {
	Status     string // empty: any
	ScenarioID string // empty: any
	Limit      int    // 1..200; zero means 50
	Cursor     string // opaque, from a previous page
}

// Store is what the server needs from persistence.
type Store interface {
	// CreateSimulation stores a new simulation at head 0 with its initial
	// world state. ErrConflict when the id exists.
	CreateSimulation(ctx context.Context, sim *Simulation, state []byte) error
	GetSimulation(ctx context.Context, id string) (*Simulation, error)
	// ListSimulations returns newest first, and a cursor for the next page
	// (empty on the last page).
	ListSimulations(ctx context.Context, opts ListOptions) ([]*Simulation, string, error)
	// CreateFork stores a new simulation whose history starts with turns
	// (seq 1, 2, … up to sim.Head, copied as they are) and the world state
	// after the last of them, atomically. ErrConflict when the id exists.
	CreateFork(ctx context.Context, sim *Simulation, turns []Turn, state []byte) error
	// ListForks lists the simulations forked from id, oldest first (none
	// when id is unknown: a fork outlives its parent).
	ListForks(ctx context.Context, id string) ([]*Simulation, error)
	// Summaries returns, in one round trip, the head turn's body (nil at
	// head 0) and the seats of each of ids that exists: what a listing
	// shows of each simulation beside its record.
	Summaries(ctx context.Context, ids []string) (map[string]Summary, error)
	// SetStatus changes a simulation's status and returns the new record.
	SetStatus(ctx context.Context, id, status string) (*Simulation, error)
	// SetOwner records which node runs the simulation ("" for none).
	SetOwner(ctx context.Context, id, owner string) error
	// SetOwners records owner as the node running each of ids that
	// exists, in one round trip.
	SetOwners(ctx context.Context, ids []string, owner string) error
	// Resumes reads, in one round trip, what a node needs to run each of
	// ids that exists (a node taking over many simulations at once).
	Resumes(ctx context.Context, ids []string) (map[string]Resume, error)
	// SetVote records the vote opened last (Simulation.Vote).
	SetVote(ctx context.Context, id string, vote []byte) error

	// AppendTurn stores turn t as the new head, with the world state after
	// it and the simulation's status, atomically; the pending actions it
	// played (their ids) are removed with it, and no other. It is the
	// fence between writers: unless t.Seq is exactly head+1 it stores
	// nothing and returns ErrConflict; while a pending action due by t.Seq
	// (its Turn at most t.Seq) is not among those played, it stores
	// nothing and returns ErrActionsPending. So an action accepted is
	// played or still pending, whoever wrote the turn. The store may keep
	// t.Body and state as they are: the caller must not change them
	// afterwards.
	AppendTurn(ctx context.Context, simID string, t Turn, state []byte, status string, played []string) error
	// ListTurns returns up to limit turns with seq > since, in seq order.
	ListTurns(ctx context.Context, simID string, since int64, limit int) ([]Turn, error)
	// LoadState returns the head seq and the world state after it.
	LoadState(ctx context.Context, simID string) (int64, []byte, error)

	// ClaimSeat gives character's seat to a user. Claiming a seat one already
	// holds succeeds; a seat held by another user is ErrConflict; one more
	// than seat.MaxPerUser is ErrTooManySeats, checked atomically with the
	// claim.
	ClaimSeat(ctx context.Context, simID, character string, seat Seat) error
	// ReleaseSeat frees a seat held by userID (any holder when userID is
	// empty). ErrNotFound when that user does not hold it.
	ReleaseSeat(ctx context.Context, simID, character, userID string) error
	Seats(ctx context.Context, simID string) (map[string]Seat, error)
	// SeatsOf reads the seats of many simulations in one round trip, by
	// simulation; one without a seat held, or that does not exist, has no
	// entry.
	SeatsOf(ctx context.Context, simIDs []string) (map[string]map[string]Seat, error)
	// ReleaseAllSeats frees every seat of a simulation (when it ends).
	ReleaseAllSeats(ctx context.Context, simID string) error

	// PutAction records a player's action, replacing an earlier one for the
	// same character not yet played, and returns the turn it is due in:
	// a.Turn, or head+1 when a.Turn is already stored (a writer that did
	// not know of the newer turns). It is atomic with AppendTurn, so the
	// turn returned is one no turn stored so far has skipped.
	PutAction(ctx context.Context, simID string, a PendingAction) (int64, error)
	// PendingActions lists the actions not yet played, by character.
	PendingActions(ctx context.Context, simID string) ([]PendingAction, error)

	// SaveScenario stores a user's scenario under its id unless one with
	// that id exists (then ErrConflict). Its Rev is the store's to give.
	SaveScenario(ctx context.Context, sc StoredScenario) error
	// GetScenario returns a stored scenario, Data included.
	GetScenario(ctx context.Context, id string) (*StoredScenario, error)
	// ListScenarios lists the stored scenarios in id order, without their
	// Data: what a cache of their summaries needs to stay true.
	ListScenarios(ctx context.Context) ([]StoredScenario, error)
	// DeleteScenario forgets a stored scenario (ErrNotFound when there is
	// none). Stories keep their own copy of their scenario.
	DeleteScenario(ctx context.Context, id string) error
	// CountScenarios counts the scenarios owner uploaded.
	CountScenarios(ctx context.Context, owner string) (int, error)

	// Ping reports whether the store can serve.
	Ping(ctx context.Context) error
	Close() error
}
