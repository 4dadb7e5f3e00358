package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/novel-engine/novel-engine/engine"
	"github.com/novel-engine/novel-engine/store"
)

// readCounter counts the store's reads that a listing could make per
// story.
type readCounter struct {
	store.Store
	mu    sync.Mutex
	calls int
}

func (c *readCounter) count() {
	c.mu.Lock()
	c.calls++
	c.mu.Unlock()
}

func (c *readCounter) n() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

func (c *readCounter) ListTurns(ctx context.Context, id string, since int64, limit int) ([]store.Turn, error) {
	c.count()
	return c.Store.ListTurns(ctx, id, since, limit)
}

func (c *readCounter) Seats(ctx context.Context, id string) (map[string]store.Seat, error) {
	c.count()
	return c.Store.Seats(ctx, id)
}

func (c *readCounter) Summaries(ctx context.Context, ids []string) (map[string]store.Summary, error) {
	c.count()
	return c.Store.Summaries(ctx, ids)
}

func (c *readCounter) ListSimulations(ctx context.Context, opts store.ListOptions) ([]*store.Simulation, string, error) {
	c.count()
	return c.Store.ListSimulations(ctx, opts)
}

// TestLobbyPage: a page of the listing costs the same few store reads
// however many stories it holds, shows each story's seats, and filters
// by scenario and status with a cursor.
func TestLobbyPage(t *testing.T) {
	st := &readCounter{Store: store.NewMemory()}
	_, hs := newTestServer(t, st, Config{RequestRate: 1, RequestBurst: 1000, MaxUserStories: -1, MaxGuestAddrStories: -1})
	post := func(path, token, body string) map[string]any {
		req, _ := http.NewRequest("POST", hs.URL+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode >= 300 {
			t.Fatalf("POST %s: %d %v", path, resp.StatusCode, out)
		}
		return out
	}
	tok := post("/v1/auth/guest", "", `{"name":"Ada"}`)["token"].(string)
	scenarios := engine.Builtins()
	if len(scenarios) < 2 {
		t.Skip("needs two built-in scenarios")
	}
	a, b := scenarios[0].ID, scenarios[1].ID
	var first string
	for i := range 12 {
		sc := a
		if i%3 == 0 {
			sc = b
		}
		v := post("/v1/simulations", tok, fmt.Sprintf(`{"scenario":%q,"autostart":false}`, sc))
		if i == 0 {
			first = v["id"].(string)
		}
	}
	char := scenarios[1].Characters[0].ID
	if err := st.ClaimSeat(context.Background(), first, char, store.Seat{UserID: "u1", UserName: "Ada"}); err != nil {
		t.Fatal(err)
	}

	list := func(query string) (ids []string, next string, views []map[string]any) {
		t.Helper()
		code, _, body := getJSON(t, hs.URL+"/v1/simulations?"+query)
		if code != 200 {
			t.Fatalf("list %s: %d %v", query, code, body)
		}
		for _, s := range body["simulations"].([]any) {
			v := s.(map[string]any)
			ids = append(ids, v["id"].(string))
			views = append(views, v)
		}
		next, _ = body["next_cursor"].(string)
		return ids, next, views
	}
	before := st.n()
	ids, _, _ := list("limit=12")
	if len(ids) != 12 {
		t.Fatalf("%d stories listed, want 12", len(ids))
	}
	if reads := st.n() - before; reads > 2 {
		t.Fatalf("a page of 12 cost %d store reads, want at most 2 whatever its size", reads)
	}
	ids, next, views := list("scenario=" + b + "&status=created&limit=3")
	if len(ids) != 3 || next == "" {
		t.Fatalf("first page of %s: %v, next %q", b, ids, next)
	}
	for _, v := range views {
		if v["scenario_id"] != b {
			t.Fatalf("scenario filter listed %v", v["scenario_id"])
		}
	}
	rest, next, views := list("scenario=" + b + "&status=created&limit=3&cursor=" + next)
	if len(rest) != 1 || next != "" || rest[0] != first {
		t.Fatalf("second page of %s: %v, next %q; want [%s]", b, rest, next, first)
	}
	seat, _ := views[0]["characters"].([]any)[0].(map[string]any)["seat"].(map[string]any)
	if seat == nil || seat["user_name"] != "Ada" {
		t.Fatalf("the claimed seat in the listing: %v", views[0]["characters"])
	}
	if ids, _, _ := list("scenario=" + b + "&status=running"); len(ids) != 0 {
		t.Fatalf("no story of %s runs, listed %v", b, ids)
	}
}
