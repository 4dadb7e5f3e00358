package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/novel-engine/novel-engine/internal/poll"
)

// fakeLLM is an OpenAI-compatible chat completions endpoint that has
// every character wait, or search where there is nothing to wait for.
type fakeLLM struct {
	*httptest.Server
	mu    sync.Mutex
	auths []string // guarded by mu
	fail  bool     // guarded by mu
}

func newFakeLLM(t testing.TB) *fakeLLM {
	t.Helper()
	f := &fakeLLM{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Model    string `json:"model"`
			Messages []struct {
				Content string `json:"content"`
			} `json:"messages"`
		}
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.auths = append(f.auths, r.Header.Get("Authorization"))
		fail := f.fail
		f.mu.Unlock()
		if fail {
			http.Error(w, "model unloaded", http.StatusServiceUnavailable)
			return
		}
		if r.URL.Path != "/v1/chat/completions" || json.Unmarshal(body, &req) != nil || req.Model != "tiny" || len(req.Messages) != 2 {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		kind := "wait"
		if strings.Contains(req.Messages[1].Content, "- search:") {
			kind = "search"
		}
		content := fmt.Sprintf(`{"kind":%q,"target":"","text":"","why":"Patience."}`, kind)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"choices": []any{map[string]any{"message": map[string]any{"role": "assistant", "content": content}}},
			"usage":   map[string]any{"total_tokens": 100},
		})
	}))
	t.Cleanup(f.Close)
	return f
}

type turnEvents struct {
	Turns []struct {
		Seq    int64 `json:"seq"`
		Events []struct {
			Actor  string `json:"actor"`
			Kind   string `json:"kind"`
			Source string `json:"source"`
		} `json:"events"`
	} `json:"turns"`
}

// sources counts the events of a simulation's turns by source, once it
// has at least turns turns.
func sources(t *testing.T, n *node, sim string, turns int) map[string]int {
	t.Helper()
	var page turnEvents
	poll.Until(t, 20*time.Second, "turns", func() bool {
		if code := n.api(t, "GET", "/v1/simulations/"+sim+"/turns?since=0&limit=50", "", nil, &page); code != 200 {
			t.Fatalf("turns: %d", code)
		}
		return len(page.Turns) >= turns
	})
	c := map[string]int{}
	for _, tr := range page.Turns {
		for _, e := range tr.Events {
			c[e.Source]++
		}
	}
	return c
}

func TestLLMDecidesTurns(t *testing.T) {
	f := newFakeLLM(t)
	n := startNode(t, map[string]string{
		"NOVEL_LLM_URL":          f.URL + "/v1",
		"NOVEL_LLM_MODEL":        "tiny",
		"NOVEL_LLM_API_KEY":      "sk-e2e-secret",
		"NOVEL_LLM_TIMEOUT":      "5s",
		"NOVEL_LLM_TOKEN_BUDGET": "0",
	})
	tok := n.guest(t, "Ada")
	sim := n.create(t, tok, map[string]any{"scenario": firstScenario(t, n), "seed": 3, "turn_interval_ms": 50, "max_turns": 4})
	c := sources(t, n, sim.ID, 4)
	if c["llm"] == 0 || c["ai"] != 0 {
		t.Fatalf("event sources %v: want the model's decisions only", c)
	}
	f.mu.Lock()
	auth := f.auths[0]
	f.mu.Unlock()
	if auth != "Bearer sk-e2e-secret" {
		t.Fatalf("Authorization %q", auth)
	}

	// The model goes away: the built-in decider plays on. (Another
	// scenario, or the cache would remember the first one's answers.)
	f.mu.Lock()
	f.fail = true
	f.mu.Unlock()
	var list struct {
		Scenarios []struct {
			ID string `json:"id"`
		} `json:"scenarios"`
	}
	if code := n.api(t, "GET", "/v1/scenarios", "", nil, &list); code != 200 || len(list.Scenarios) < 2 {
		t.Fatalf("scenarios: %d %+v", code, list)
	}
	other := list.Scenarios[len(list.Scenarios)-1].ID
	sim = n.create(t, tok, map[string]any{"scenario": other, "seed": 4, "turn_interval_ms": 50, "max_turns": 3})
	if c := sources(t, n, sim.ID, 3); c["llm"] != 0 || c["ai"] == 0 {
		t.Fatalf("event sources %v with the model down: want built-in decisions", c)
	}
}

func TestLLMConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"NOVEL_LLM_URL": "localhost:11434"}, "NOVEL_LLM_URL"},
		{map[string]string{"NOVEL_LLM_URL": "http://localhost:11434/v1", "NOVEL_LLM_TOKEN_BUDGET": "-5"}, "NOVEL_LLM_TOKEN_BUDGET"},
		{map[string]string{"NOVEL_LLM_URL": "http://localhost:11434/v1", "NOVEL_LLM_TIMEOUT": "-1s"}, "NOVEL_LLM_TIMEOUT"},
	} {
		tc.env["NOVEL_ADDR"] = "127.0.0.1:0"
		var out, errOut strings.Builder
		err := run(t.Context(), []string{"serve"}, func(k string) string { return tc.env[k] }, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want one about %s", tc.env, err, tc.want)
		}
	}
}
