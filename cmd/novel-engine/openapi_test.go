package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"

	"github.com/novel-engine/novel-engine/internal/poll"
	"github.com/novel-engine/novel-engine/internal/votetest"
	"github.com/novel-engine/novel-engine/server"
)

// apiChecker calls a node and checks every answer against the OpenAPI
// description: its status must be documented for the operation, and its
// body must match the documented schema (the error shape included).
type apiChecker struct {
	t    *testing.T
	base string
	v    validator.Validator
	// seen holds "METHOD /template" → the statuses answered.
	seen map[string]map[int]bool
}

func newAPIChecker(t *testing.T, base string) *apiChecker {
	t.Helper()
	doc, err := libopenapi.NewDocument(server.OpenAPI())
	if err != nil {
		t.Fatalf("the OpenAPI description does not load: %v", err)
	}
	if doc.GetVersion() != "3.1.0" {
		t.Fatalf("OpenAPI version %q, want 3.1.0", doc.GetVersion())
	}
	v, errs := validator.NewValidator(doc, config.WithFormatAssertions())
	if len(errs) > 0 {
		t.Fatalf("the OpenAPI description does not build: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("the OpenAPI description is invalid: %s: %s", e.Message, e.Reason)
		}
		t.FailNow()
	}
	return &apiChecker{t: t, base: base, v: v, seen: map[string]map[int]bool{}}
}

// call sends a request to the path template filled with args, checks the
// answer, and returns its status and body.
func (c *apiChecker) call(method, template string, args []any, token string, body any, header ...string) (int, []byte) {
	c.t.Helper()
	path := template
	for _, a := range args {
		i, j := strings.Index(path, "{"), strings.Index(path, "}")
		path = path[:i] + fmt.Sprint(a) + path[j+1:]
	}
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		raw, _ = json.Marshal(b)
	}
	req, _ := http.NewRequest(method, c.base+path, bytes.NewReader(raw))
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	var data []byte
	if resp.StatusCode != http.StatusSwitchingProtocols { // an open WebSocket has no end to read to
		data, _ = io.ReadAll(resp.Body)
	}
	resp.Body.Close()
	// The validator reads both bodies: give it fresh copies.
	vreq, _ := http.NewRequest(method, c.base+path, bytes.NewReader(raw))
	vreq.Header = req.Header.Clone()
	resp.Body = io.NopCloser(bytes.NewReader(data))
	if ok, errs := c.v.ValidateHttpResponse(vreq, resp); !ok {
		for _, e := range errs {
			c.t.Errorf("%s %s answered %d, not as described: %s (%s)\n%s", method, path, resp.StatusCode, e.Message, e.Reason, truncate(data, 600))
			for _, se := range e.SchemaValidationErrors {
				c.t.Errorf("  at %s: %s", se.FieldPath, se.Reason)
			}
		}
	}
	if resp.StatusCode >= 400 {
		var e struct {
			Error struct{ Code, Message string }
		}
		if json.Unmarshal(data, &e) != nil || e.Error.Code == "" || e.Error.Message == "" {
			c.t.Errorf("%s %s answered %d without the error shape: %s", method, path, resp.StatusCode, truncate(data, 300))
		}
	}
	key := method + " " + strings.SplitN(template, "?", 2)[0]
	if c.seen[key] == nil {
		c.seen[key] = map[int]bool{}
	}
	c.seen[key][resp.StatusCode] = true
	return resp.StatusCode, data
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// want fails unless the call answered code.
func (c *apiChecker) want(code int, got int, data []byte, what string) {
	c.t.Helper()
	if got != code {
		c.t.Fatalf("%s: %d, want %d: %s", what, got, code, truncate(data, 300))
	}
}

// TestOpenAPIDescribesEveryAnswer calls every endpoint of a node (the
// successes and the errors a client meets) and checks each answer against
// the OpenAPI description served at /v1/openapi.json; every operation
// described must have been answered with success.
func TestOpenAPIDescribesEveryAnswer(t *testing.T) {
	n := startNode(t, nil)
	c := newAPIChecker(t, n.URL)

	code, data := c.call("GET", "/v1/openapi.json", nil, "", nil)
	c.want(200, code, data, "openapi.json")
	if !bytes.Equal(data, server.OpenAPI()) {
		t.Errorf("/v1/openapi.json is not the embedded description")
	}
	code, data = c.call("GET", "/healthz", nil, "", nil)
	c.want(200, code, data, "healthz")
	code, data = c.call("GET", "/readyz", nil, "", nil)
	c.want(200, code, data, "readyz")
	code, data = c.call("GET", "/metrics", nil, "", nil)
	c.want(200, code, data, "metrics")

	// Signing in.
	code, data = c.call("POST", "/v1/auth/guest", nil, "", map[string]any{"name": "Ada"})
	c.want(201, code, data, "guest")
	var g struct{ Token string }
	json.Unmarshal(data, &g)
	tok := g.Token
	code, data = c.call("POST", "/v1/auth/guest", nil, "", map[string]any{"name": ""})
	c.want(400, code, data, "guest with no name")
	code, data = c.call("POST", "/v1/auth/guest", nil, "", strings.Repeat(" ", 2<<20))
	c.want(413, code, data, "guest with a body over 1 MiB")
	code, data = c.call("POST", "/v1/auth/guest", nil, "", map[string]any{"name": "Bo"})
	c.want(201, code, data, "second guest")
	var other struct{ Token string }
	json.Unmarshal(data, &other)

	// Scenarios.
	code, data = c.call("GET", "/v1/scenarios", nil, "", nil)
	c.want(200, code, data, "scenarios")
	for _, id := range []string{"heronsalt", "coldwater", "hollin"} {
		code, data = c.call("GET", "/v1/scenarios/{id}", []any{id}, "", nil)
		c.want(200, code, data, "scenario "+id)
	}
	code, data = c.call("GET", "/v1/scenarios/{id}", []any{"nope"}, "", nil)
	c.want(404, code, data, "unknown scenario")

	// Simulations: a story of a built-in scenario, and one of a whole
	// scenario object, stored and listed after.
	code, data = c.call("POST", "/v1/simulations", nil, tok, map[string]any{"scenario": "hollin", "seed": 7, "turn_interval_ms": 10, "max_turns": 3})
	c.want(201, code, data, "create")
	var short simView
	json.Unmarshal(data, &short)
	code, data = c.call("POST", "/v1/simulations", nil, tok, map[string]any{"scenario": browserScenario, "seed": 7, "turn_interval_ms": 200, "max_turns": 5000, "title": "Long"})
	c.want(201, code, data, "create from a scenario object")
	var long simView
	json.Unmarshal(data, &long)
	code, data = c.call("POST", "/v1/simulations", nil, "", map[string]any{"scenario": "hollin"})
	c.want(401, code, data, "create without a token")
	code, data = c.call("POST", "/v1/simulations", nil, tok, map[string]any{"scenario": "hollin", "max_turns": 0})
	c.want(400, code, data, "create with max_turns 0")
	code, data = c.call("POST", "/v1/simulations", nil, tok, map[string]any{"scenario": "nope"})
	c.want(404, code, data, "create from an unknown scenario")
	code, data = c.call("POST", "/v1/simulations", nil, tok, `{"scenario":"hollin","bogus":1}`)
	c.want(400, code, data, "create with an unknown field")
	code, data = c.call("GET", "/v1/scenarios", nil, "", nil)
	c.want(200, code, data, "scenarios with a stored one")
	code, data = c.call("GET", "/v1/scenarios/{id}", []any{"browser-test"}, "", nil)
	c.want(200, code, data, "the stored scenario")
	code, data = c.call("DELETE", "/v1/scenarios/{id}", []any{"browser-test"}, "", nil)
	c.want(401, code, data, "delete a scenario anonymously")
	code, data = c.call("DELETE", "/v1/scenarios/{id}", []any{"hollin"}, tok, nil)
	c.want(403, code, data, "delete a built-in scenario")
	code, data = c.call("DELETE", "/v1/scenarios/{id}", []any{"browser-test"}, tok, nil)
	c.want(204, code, data, "delete the uploader's scenario")
	code, data = c.call("DELETE", "/v1/scenarios/{id}", []any{"browser-test"}, tok, nil)
	c.want(404, code, data, "delete a deleted scenario")

	// A story with audience votes: its vote while open, and its voted turns.
	code, data = c.call("POST", "/v1/simulations", nil, tok, map[string]any{"scenario": json.RawMessage(votetest.Scenario(t, "openapi-votes")),
		"seed": 3, "turn_interval_ms": 10, "max_turns": 4, "audience_votes": true, "anonymous_votes": true, "vote_window_ms": 1500})
	c.want(201, code, data, "create with audience votes")
	var voted simView
	json.Unmarshal(data, &voted)
	poll.Until(t, 20*time.Second, "a vote open", func() bool {
		code, data = c.call("GET", "/v1/simulations/{id}", []any{voted.ID}, "", nil)
		return code == 200 && bytes.Contains(data, []byte(`"vote":{`))
	})
	c.want(200, code, data, "a story with a vote open")
	poll.Until(t, 20*time.Second, "the voted story to finish", func() bool {
		var v simView
		n.api(t, "GET", "/v1/simulations/"+voted.ID, "", nil, &v)
		return v.Status == "finished"
	})
	code, data = c.call("GET", "/v1/simulations/{id}/turns", []any{voted.ID}, "", nil)
	c.want(200, code, data, "turns with a vote")
	if !bytes.Contains(data, []byte(`"chosen":`)) {
		t.Errorf("no voted turn among %s", data)
	}

	poll.Until(t, 20*time.Second, "the short story to finish", func() bool {
		var v simView
		n.api(t, "GET", "/v1/simulations/"+short.ID, "", nil, &v)
		return v.Status == "finished"
	})
	poll.Until(t, 20*time.Second, "the long story's first turns", func() bool {
		var v simView
		n.api(t, "GET", "/v1/simulations/"+long.ID, "", nil, &v)
		return v.Head >= 2
	})
	code, data = c.call("GET", "/v1/simulations", nil, "", nil)
	c.want(200, code, data, "list")
	code, data = c.call("GET", "/v1/simulations?status=finished&limit=1", nil, "", nil)
	c.want(200, code, data, "list finished")
	code, data = c.call("GET", "/v1/simulations?limit=1", nil, "", nil)
	c.want(200, code, data, "first page")
	var page struct {
		NextCursor string `json:"next_cursor"`
	}
	json.Unmarshal(data, &page)
	if page.NextCursor == "" {
		t.Fatalf("no next_cursor on a page of one of two stories")
	}
	code, data = c.call("GET", "/v1/simulations?limit=1&cursor="+page.NextCursor, nil, "", nil)
	c.want(200, code, data, "second page")
	code, data = c.call("GET", "/v1/simulations?limit=500", nil, "", nil)
	c.want(400, code, data, "list with limit 500")
	for _, id := range []string{short.ID, long.ID} {
		code, data = c.call("GET", "/v1/simulations/{id}", []any{id}, "", nil)
		c.want(200, code, data, "get")
		code, data = c.call("GET", "/v1/simulations/{id}/turns", []any{id}, "", nil)
		c.want(200, code, data, "turns")
		code, data = c.call("GET", "/v1/simulations/{id}/turns?since=1&limit=1", []any{id}, "", nil)
		c.want(200, code, data, "turns since 1")
		code, data = c.call("GET", "/v1/simulations/{id}/story", []any{id}, "", nil)
		c.want(200, code, data, "story")
	}
	code, data = c.call("GET", "/v1/simulations/{id}", []any{"snope"}, "", nil)
	c.want(404, code, data, "unknown simulation")
	code, data = c.call("GET", "/v1/simulations/{id}/turns?since=-1", []any{long.ID}, "", nil)
	c.want(400, code, data, "turns since -1")
	code, data = c.call("GET", "/v1/simulations/{id}/story", []any{"snope"}, "", nil)
	c.want(404, code, data, "story of an unknown simulation")

	// Control: the creator pauses and resumes; others may not; an ended
	// story cannot be.
	for _, op := range []string{"pause", "resume"} {
		code, data = c.call("POST", "/v1/simulations/{id}/"+op, []any{long.ID}, tok, nil)
		c.want(200, code, data, op)
		code, data = c.call("POST", "/v1/simulations/{id}/"+op, []any{long.ID}, other.Token, nil)
		c.want(403, code, data, op+" by another")
	}
	code, data = c.call("POST", "/v1/simulations/{id}/stop", []any{short.ID}, tok, nil)
	c.want(409, code, data, "stop of a finished story")
	code, data = c.call("POST", "/v1/simulations/{id}/pause", []any{long.ID}, "", nil)
	c.want(401, code, data, "pause without a token")

	// Playing: claim over the WebSocket, then act over REST.
	claim(t, n.URL, tok, long.ID, "mara")
	code, data = c.call("POST", "/v1/simulations/{id}/actions", []any{long.ID}, tok, map[string]any{"character": "mara", "action": map[string]any{"kind": "wait"}})
	c.want(202, code, data, "act")
	code, data = c.call("POST", "/v1/simulations/{id}/actions", []any{long.ID}, other.Token, map[string]any{"character": "mara", "action": map[string]any{"kind": "wait"}})
	c.want(403, code, data, "act for another's seat")
	code, data = c.call("POST", "/v1/simulations/{id}/actions", []any{long.ID}, tok, map[string]any{"character": "mara", "action": map[string]any{"kind": "speak", "text": strings.Repeat("a", 501)}})
	c.want(413, code, data, "act with too long a text")
	code, data = c.call("POST", "/v1/simulations/{id}/actions", []any{long.ID}, tok, map[string]any{"character": "mara", "action": map[string]any{"kind": "move", "target": "nowhere"}})
	c.want(400, code, data, "act with a move to nowhere")
	code, data = c.call("POST", "/v1/simulations/{id}/actions", []any{short.ID}, tok, map[string]any{"character": "ona", "action": map[string]any{"kind": "wait"}})
	c.want(409, code, data, "act in a finished story")
	code, data = c.call("POST", "/v1/simulations/{id}/stop", []any{long.ID}, tok, nil)
	c.want(200, code, data, "stop")

	// Scrubbing and forking (extensions).
	code, data = c.call("GET", "/v1/simulations/{id}/world", []any{long.ID}, "", nil)
	c.want(200, code, data, "world at the head")
	code, data = c.call("GET", "/v1/simulations/{id}/world?at=1", []any{long.ID}, "", nil)
	c.want(200, code, data, "world at turn 1")
	code, data = c.call("GET", "/v1/simulations/{id}/world?at=-1", []any{long.ID}, "", nil)
	c.want(400, code, data, "world at -1")
	code, data = c.call("GET", "/v1/simulations/{id}/world?at=99999", []any{long.ID}, "", nil)
	c.want(404, code, data, "world beyond the head")
	code, data = c.call("POST", "/v1/simulations/{id}/fork", []any{long.ID}, tok, map[string]any{"at": 1, "title": "What if", "autostart": false})
	c.want(201, code, data, "fork")
	code, data = c.call("POST", "/v1/simulations/{id}/fork", []any{long.ID}, tok, map[string]any{"at": 0})
	c.want(400, code, data, "fork at 0")
	code, data = c.call("POST", "/v1/simulations/{id}/fork", []any{"snope"}, tok, map[string]any{"at": 1})
	c.want(404, code, data, "fork of an unknown simulation")
	code, data = c.call("POST", "/v1/simulations/{id}/fork", []any{long.ID}, "", map[string]any{"at": 1})
	c.want(401, code, data, "fork without a token")
	code, data = c.call("GET", "/v1/simulations/{id}/forks", []any{long.ID}, "", nil)
	c.want(200, code, data, "forks")
	code, data = c.call("GET", "/v1/simulations/{id}/forks", []any{"snope"}, "", nil)
	c.want(404, code, data, "forks of an unknown simulation")

	// The WebSocket: the upgrade, and its refusals before it.
	code, data = c.call("GET", "/v1/ws", nil, "", nil,
		"Connection", "Upgrade", "Upgrade", "websocket", "Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	c.want(101, code, data, "websocket upgrade")
	code, data = c.call("GET", "/v1/ws", nil, "not-a-token", nil,
		"Connection", "Upgrade", "Upgrade", "websocket", "Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	c.want(401, code, data, "websocket with a bad token")
	code, data = c.call("GET", "/v1/ws", nil, "", nil,
		"Connection", "Upgrade", "Upgrade", "websocket", "Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==", "Origin", "http://elsewhere.example")
	c.want(403, code, data, "websocket from another origin")

	// Writes beyond the rate limit (100 at once from one address).
	limited := false
	for i := 0; i < 400 && !limited; i++ {
		code, _ = c.call("POST", "/v1/auth/guest", nil, "", map[string]any{"name": ""})
		limited = code == 429
	}
	if !limited {
		t.Errorf("400 writes at once were never rate limited")
	}

	// Every operation described was answered with success at least once.
	var missing []string
	doc, _ := libopenapi.NewDocument(server.OpenAPI())
	model, _ := doc.BuildV3Model()
	for path, item := range model.Model.Paths.PathItems.FromOldest() {
		for method := range item.GetOperations().FromOldest() {
			key := strings.ToUpper(method) + " " + path
			ok := false
			for code := range c.seen[key] {
				ok = ok || code < 300
			}
			if !ok {
				missing = append(missing, key)
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("operations described but never answered with success: %v", missing)
	}
	for key := range c.seen {
		found := false
		for path, item := range model.Model.Paths.PathItems.FromOldest() {
			for method := range item.GetOperations().FromOldest() {
				found = found || key == strings.ToUpper(method)+" "+path
			}
		}
		if !found {
			t.Errorf("%s was called but is not described", key)
		}
	}
}

// TestOpenAPICatchesDrift: the check above fails on an answer that is not
// as described, so it cannot pass by accident.
func TestOpenAPICatchesDrift(t *testing.T) {
	c := newAPIChecker(t, "http://127.0.0.1")
	req, _ := http.NewRequest("GET", "http://127.0.0.1/v1/simulations/s1", nil)
	for name, body := range map[string]string{
		"a field that is not described": `{"error":{"code":"not_found","message":"x","hint":"y"}}`,
		"a code that is not one":        `{"error":{"code":"gone","message":"x"}}`,
		"no message":                    `{"error":{"code":"not_found"}}`,
	} {
		resp := &http.Response{StatusCode: 404, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(body))}
		if ok, _ := c.v.ValidateHttpResponse(req, resp); ok {
			t.Errorf("an error with %s passes", name)
		}
	}
	resp := &http.Response{StatusCode: 418, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(`{}`))}
	if ok, _ := c.v.ValidateHttpResponse(req, resp); ok {
		t.Errorf("an undocumented status passes")
	}
}

// claim takes a seat over the WebSocket, as a player does.
func claim(t *testing.T, base, token, sim, character string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, strings.Replace(base, "http", "ws", 1)+"/v1/ws?token="+token, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	msg, _ := json.Marshal(map[string]any{"type": "claim", "id": "c", "sim": sim, "character": character})
	if err := ws.Write(ctx, websocket.MessageText, msg); err != nil {
		t.Fatal(err)
	}
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("claim: %v", err)
		}
		var m struct{ Type, ID, Code, Message string }
		json.Unmarshal(data, &m)
		if m.ID != "c" {
			continue
		}
		if m.Type != "claimed" {
			t.Fatalf("claim: %s", data)
		}
		return
	}
}
