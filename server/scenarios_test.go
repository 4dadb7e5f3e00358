package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/novel-engine/novel-engine/engine"
	"github.com/novel-engine/novel-engine/internal/poll"
	"github.com/novel-engine/novel-engine/store"
)

// TestInlineScenarioOwnership: a scenario is kept only with a story that
// was created, and an id that names another user's scenario is refused
// instead of running theirs; the same scenario again is fine.
func TestInlineScenarioOwnership(t *testing.T) {
	st := store.NewMemory()
	_, hs := newTestServer(t, st, Config{})
	sc, _ := engine.Builtin(firstBuiltin())
	mine := *sc
	mine.ID = "mine"
	body := func(sc engine.Scenario, interval int) string {
		b, _ := json.Marshal(map[string]any{"scenario": sc, "turn_interval_ms": interval})
		return string(b)
	}
	tok := guestToken(t, hs.URL, "")
	// Refused (bad interval): nothing kept.
	if code, _, out := call(t, "POST", hs.URL+"/v1/simulations", tok, "", body(mine, 1)); code != 400 {
		t.Fatalf("bad interval: %d %v", code, out)
	}
	if _, err := st.GetScenario(t.Context(), "mine"); err == nil {
		t.Fatal("the scenario of a refused create was kept")
	}
	if code, _, out := call(t, "POST", hs.URL+"/v1/simulations", tok, "", body(mine, 60000)); code != 201 {
		t.Fatalf("create: %d %v", code, out)
	}
	if _, err := st.GetScenario(t.Context(), "mine"); err != nil {
		t.Fatalf("the scenario of a created story was not kept: %v", err)
	}
	if code, _, out := call(t, "POST", hs.URL+"/v1/simulations", tok, "", body(mine, 60000)); code != 201 {
		t.Fatalf("the same scenario again: %d %v", code, out)
	}
	theirs := mine
	theirs.Title = "Another story altogether"
	code, _, out := call(t, "POST", hs.URL+"/v1/simulations", guestToken(t, hs.URL, ""), "", body(theirs, 60000))
	if code != 409 || errCode(out) != CodeConflict || !strings.Contains(out["error"].(map[string]any)["message"].(string), "another id") {
		t.Fatalf("another scenario under a taken id: %d %v", code, out)
	}
}

// scenarioReads counts the stored scenarios a store was asked for whole.
type scenarioReads struct {
	store.Store
	mu sync.Mutex
	n  int
}

func (c *scenarioReads) GetScenario(ctx context.Context, id string) (*store.StoredScenario, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return c.Store.GetScenario(ctx, id)
}

func (c *scenarioReads) reads() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// TestScenarioOwnerQuotaDelete: a kept scenario is its uploader's; one
// user keeps at most MaxUserScenarios; the uploader or an admin deletes
// one (never a built-in), and the stories that ran it go on, replay and
// fork; the listing parses a scenario once, yet shows what other nodes
// stored or deleted.
func TestScenarioOwnerQuotaDelete(t *testing.T) {
	st := &scenarioReads{Store: store.NewMemory()}
	s, hs := newTestServer(t, st, Config{MaxUserScenarios: 2})
	base, _ := engine.Builtin(firstBuiltin())
	inline := func(id string, interval int) string {
		sc := *base
		sc.ID = id
		b, _ := json.Marshal(map[string]any{"scenario": sc, "turn_interval_ms": interval, "max_turns": 1000})
		return string(b)
	}
	ada, bob := guestToken(t, hs.URL, ""), guestToken(t, hs.URL, "")
	code, _, story := call(t, "POST", hs.URL+"/v1/simulations", ada, "", inline("ada-1", 10))
	if code != 201 {
		t.Fatalf("create: %d %v", code, story)
	}
	if code, _, out := call(t, "POST", hs.URL+"/v1/simulations", ada, "", inline("ada-2", 60000)); code != 201 {
		t.Fatalf("second scenario: %d %v", code, out)
	}
	code, _, out := call(t, "POST", hs.URL+"/v1/simulations", ada, "", inline("ada-3", 60000))
	if code != 429 || errCode(out) != CodeQuotaExceeded {
		t.Fatalf("a scenario past the quota: %d %v", code, out)
	}
	if _, err := st.GetScenario(t.Context(), "ada-3"); err == nil {
		t.Fatal("the scenario past the quota was kept")
	}
	// Reusing one kept already is no new scenario.
	if code, _, out := call(t, "POST", hs.URL+"/v1/simulations", ada, "", `{"scenario":"ada-2","turn_interval_ms":60000}`); code != 201 {
		t.Fatalf("a kept scenario by id: %d %v", code, out)
	}

	listed := func() map[string]string {
		code, _, out := call(t, "GET", hs.URL+"/v1/scenarios", "", "", "")
		if code != 200 {
			t.Fatalf("list: %d %v", code, out)
		}
		owners := map[string]string{}
		for _, v := range out["scenarios"].([]any) {
			m := v.(map[string]any)
			owner, _ := m["owner"].(string)
			owners[m["id"].(string)] = owner
		}
		return owners
	}
	adaID := story["created_by"].(string)
	if got := listed(); got["ada-1"] != adaID || got["ada-2"] != adaID || len(got) != len(engine.Builtins())+2 {
		t.Fatalf("listed: %v", got)
	}
	before := st.reads()
	listed()
	if n := st.reads() - before; n != 0 {
		t.Errorf("a second listing read %d scenarios whole, want 0", n)
	}
	// What another node stores or deletes shows.
	other := *base
	other.ID = "elsewhere"
	data, _ := json.Marshal(other)
	if err := st.SaveScenario(t.Context(), store.StoredScenario{ID: "elsewhere", Owner: "u9", Data: data}); err != nil {
		t.Fatal(err)
	}
	if got := listed(); got["elsewhere"] != "u9" {
		t.Fatalf("a scenario stored elsewhere is not listed: %v", got)
	}
	if err := st.DeleteScenario(t.Context(), "elsewhere"); err != nil {
		t.Fatal(err)
	}
	if got := listed(); got["elsewhere"] != "" {
		t.Fatalf("a scenario deleted elsewhere is still listed: %v", got)
	}

	for _, c := range []struct {
		id, token string
		want      int
		code      string
	}{
		{"ada-1", "", 401, CodeUnauthorized},
		{"ada-1", bob, 403, CodeForbidden},
		{firstBuiltin(), ada, 403, CodeForbidden},
		{"nobody", ada, 404, CodeNotFound},
	} {
		if code, _, out := call(t, "DELETE", hs.URL+"/v1/scenarios/"+c.id, c.token, "", ""); code != c.want || errCode(out) != c.code {
			t.Errorf("delete %s: %d %v, want %d %s", c.id, code, out, c.want, c.code)
		}
	}
	if code, _, _ := call(t, "DELETE", hs.URL+"/v1/scenarios/ada-1", ada, "", ""); code != 204 {
		t.Fatalf("the uploader's delete: %d", code)
	}
	admin, _, _ := s.auth.Issue(User{ID: "root", Name: "Root", Role: RoleAdmin}, time.Hour)
	if code, _, _ := call(t, "DELETE", hs.URL+"/v1/scenarios/ada-2", admin, "", ""); code != 204 {
		t.Fatalf("an admin's delete: %d", code)
	}
	if got := listed(); got["ada-1"] != "" || got["ada-2"] != "" {
		t.Fatalf("deleted scenarios still listed: %v", got)
	}
	if code, _, _ := call(t, "GET", hs.URL+"/v1/scenarios/ada-1", "", "", ""); code != 404 {
		t.Fatalf("a deleted scenario: %d", code)
	}
	// The story that ran it goes on, replays and forks.
	id := story["id"].(string)
	poll.Until(t, 10*time.Second, "two turns", func() bool {
		_, _, v := call(t, "GET", hs.URL+"/v1/simulations/"+id, "", "", "")
		h, _ := v["head"].(float64)
		return h >= 2
	})
	if code, _, out := call(t, "GET", hs.URL+"/v1/simulations/"+id+"/world?at=1", "", "", ""); code != 200 {
		t.Fatalf("the world of a story whose scenario was deleted: %d %v", code, out)
	}
	if code, _, out := call(t, "POST", hs.URL+"/v1/simulations/"+id+"/fork", admin, "", `{"at":1,"autostart":false}`); code != 201 {
		t.Fatalf("a fork of a story whose scenario was deleted: %d %v", code, out)
	}
	// The quota has room again.
	if code, _, out := call(t, "POST", hs.URL+"/v1/simulations", ada, "", inline("ada-3", 60000)); code != 201 {
		t.Fatalf("a scenario after deleting: %d %v", code, out)
	}
}

// BenchmarkListScenarios lists 100 stored copies of the largest built-in
// scenario: the first listing parses them, the ones after do not (run
// with -benchtime=1x to see a cold listing's cost, as every listing was).
func BenchmarkListScenarios(b *testing.B) {
	st := store.NewMemory()
	var big *engine.Scenario
	size := 0
	for _, sc := range engine.Builtins() {
		if data, _ := json.Marshal(sc); len(data) > size {
			big, size = sc, len(data)
		}
	}
	for i := range 100 {
		sc := *big
		sc.ID = fmt.Sprintf("copy-%03d", i)
		data, _ := json.Marshal(sc)
		if err := st.SaveScenario(context.Background(), store.StoredScenario{ID: sc.ID, Owner: "u1", Data: data}); err != nil {
			b.Fatal(err)
		}
	}
	s, err := New(Config{Store: st, Auth: &Auth{}, ReadRate: -1})
	if err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
	b.ResetTimer()
	for range b.N {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/v1/scenarios", nil))
		if w.Code != 200 {
			b.Fatalf("list: %d %s", w.Code, w.Body)
		}
	}
	b.ReportMetric(float64(size), "scenario-bytes")
}
