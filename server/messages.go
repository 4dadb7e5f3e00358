package server

import (
	"context"
	"encoding/json"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/novel-engine/novel-engine/engine"
	"github.com/novel-engine/novel-engine/hub"
)

// Limits on what clients send.
const (
	maxIDLen        = 64
	maxNameLen      = 64
	maxActionText   = 500
	maxJSONDepth    = 32
	maxFrameBytes   = 64 << 10
	maxBodyBytes    = 1 << 20 // REST bodies, scenarios included
	maxRecentTurns  = 20      // turns in a snapshot
	turnsPageLimit  = 500
	defaultPageSize = 100
)

// hasControl reports whether s holds a control character (NUL, escape,
// the C1 range…): no user string needs one, PostgreSQL refuses NUL in
// text, and they garble logs and terminals. Also invalid UTF-8.
func hasControl(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}

// clientMsg is any message a client sends.
type clientMsg struct {
	Type      string         `json:"type"`
	ID        string         `json:"id,omitempty"`
	Sim       string         `json:"sim,omitempty"`
	Since     *int64         `json:"since,omitempty"`
	Character string         `json:"character,omitempty"`
	Action    *engine.Action `json:"action,omitempty"`
	// AIFill (extension, in claim): the AI plays the character on turns
	// its player sends no action for.
	AIFill bool `json:"ai_fill,omitempty"`
	// Turn and Option (extension, in ballot): the vote and the choice.
	Turn   *int64          `json:"turn,omitempty"`
	Option string          `json:"option,omitempty"`
	Extra  json.RawMessage `json:"-"`
}

type welcomeMsg struct {
	Type     string `json:"type"`
	Protocol int    `json:"protocol"`
	Session  string `json:"session"`
	Node     string `json:"node"`
	User     User   `json:"user"`
}

type replyMsg struct {
	Type      string `json:"type"`
	ID        string `json:"id,omitempty"`
	Sim       string `json:"sim,omitempty"`
	Character string `json:"character,omitempty"`
	Head      *int64 `json:"head,omitempty"`
	Recovered *bool  `json:"recovered,omitempty"`
	Turn      *int64 `json:"turn,omitempty"`
	// Replaced (extension, in accepted): the action replaced one the
	// character had queued for the same turn.
	Replaced bool `json:"replaced,omitempty"`
	// Option (extension, in voted): the option the ballot chose.
	Option string `json:"option,omitempty"`
	// AIFill (extension, in claimed): whether the AI fills in for the
	// player's idle turns.
	AIFill *bool `json:"ai_fill,omitempty"`
	// Epoch (extension, in subscribed) names the generation of the
	// simulation's history in the broker; it changes when that history
	// was lost. Absent on a single node.
	Epoch string `json:"epoch,omitempty"`
}

type errorMsg struct {
	Type    string `json:"type"`
	ID      string `json:"id,omitempty"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

type snapshotMsg struct {
	Type       string            `json:"type"`
	Sim        string            `json:"sim"`
	Seq        int64             `json:"seq"`
	Simulation *SimulationView   `json:"simulation"`
	Recent     []json.RawMessage `json:"recent"`
}

type statusMsg struct {
	Type   string `json:"type"`
	Sim    string `json:"sim"`
	Status string `json:"status"`
	Seq    int64  `json:"seq"`
}

type presenceMsg struct {
	Type     string            `json:"type"`
	Sim      string            `json:"sim"`
	Watchers int               `json:"watchers"`
	Seats    map[string]string `json:"seats"`
}

// turnMessage wraps a stored turn body as the "turn" server message. It
// is built once per turn per node, and the bytes are shared by every
// watcher's queue.
func turnMessage(sim string, seq int64, body []byte) []byte {
	b := make([]byte, 0, len(body)+len(sim)+64)
	b = append(b, `{"type":"turn","sim":`...)
	b = append(b, mustJSON(sim)...)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, `,"turn":`...)
	b = append(b, body...)
	b = append(b, '}')
	return b
}

func turnPublication(sim string, seq int64, body []byte) hub.Publication {
	return hub.Publication{Sim: sim, Seq: seq, Data: turnMessage(sim, seq, body)}
}

// publisher is the runner's way to the watchers: each message is encoded
// once here and published through the hub's broker to every node.
type publisher struct {
	hub       *hub.Hub
	broadcast prometheus.Observer // how long each turn's publication took
}

func (p publisher) PublishTurn(ctx context.Context, sim string, seq int64, body []byte) error {
	start := time.Now()
	err := p.hub.Publish(ctx, turnPublication(sim, seq, body))
	p.broadcast.Observe(time.Since(start).Seconds())
	return err
}

func (p publisher) PublishStatus(ctx context.Context, sim, status string, seq int64) error {
	return p.hub.Publish(ctx, hub.Publication{Sim: sim, Data: mustJSON(statusMsg{Type: "status", Sim: sim, Status: status, Seq: seq})})
}

// PublishVote publishes a vote (the "vote" message, encoded by the
// runner) like a status: it is no turn, so it has no seq.
func (p publisher) PublishVote(ctx context.Context, sim string, msg []byte) error {
	return p.hub.Publish(ctx, hub.Publication{Sim: sim, Data: msg})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only types of this package, which always encode
	}
	return b
}

// jsonDepth reports whether b nests objects and arrays deeper than max.
// It runs before decoding so a hostile message costs one pass.
func jsonTooDeep(b []byte, max int) bool {
	depth, inStr, esc := 0, false, false
	for _, c := range b {
		switch {
		case inStr:
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
		case c == '"':
			inStr = true
		case c == '{' || c == '[':
			depth++
			if depth > max {
				return true
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return false
}
