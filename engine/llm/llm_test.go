package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/novel-engine/novel-engine/engine"
)

// fakeModel is an OpenAI-compatible chat completions server whose answers
// come from reply.
type fakeModel struct {
	*httptest.Server
	reply  func(r *http.Request, req chatRequest) (status int, content string)
	tokens int64 // usage.total_tokens of every answer

	mu     sync.Mutex
	bodies [][]byte // guarded by mu
	auths  []string // guarded by mu
}

func newFakeModel(t testing.TB, reply func(r *http.Request, req chatRequest) (int, string)) *fakeModel {
	t.Helper()
	f := &fakeModel{reply: reply, tokens: 50}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeModel) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.bodies = append(f.bodies, body)
	f.auths = append(f.auths, r.Header.Get("Authorization"))
	f.mu.Unlock()
	if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	var req chatRequest
	if err := json.Unmarshal(body, &req); err != nil || len(req.Messages) != 2 {
		http.Error(w, "bad request body", http.StatusBadRequest)
		return
	}
	status, content := f.reply(r, req)
	if status != http.StatusOK {
		http.Error(w, content, status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"id":      "chatcmpl-1",
		"object":  "chat.completion",
		"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": content}, "finish_reason": "stop"}},
		"usage":   map[string]any{"prompt_tokens": f.tokens - 10, "completion_tokens": 10, "total_tokens": f.tokens},
	})
}

func (f *fakeModel) requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.bodies)
}

func answerWith(content string) func(*http.Request, chatRequest) (int, string) {
	return func(*http.Request, chatRequest) (int, string) { return http.StatusOK, content }
}

func newDecider(t testing.TB, opts Options) *Decider {
	t.Helper()
	d, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

var allKinds = []string{engine.ActMove, engine.ActSpeak, engine.ActWait, engine.ActAttack, engine.ActHelp, engine.ActTake, engine.ActGive, engine.ActSearch}

// perception is a persona at the dock with a guard who holds what it wants.
func perception() engine.Perception {
	return engine.Perception{
		Turn: 7,
		Seed: 42,
		Self: engine.SelfView{
			ID: "mara", Name: "Mara Vell", Role: "smuggler", Faction: "tide", Health: 80,
			Inventory:     []string{"lamp"},
			Traits:        map[string]float64{"courage": 0.7, "caution": 0.3, "empathy": 0.5},
			Relationships: map[string]float64{"bo": -0.4, "cy": 0.6},
			Goals: []engine.GoalView{
				{Goal: engine.Goal{ID: "g1", Kind: engine.GoalObtain, Item: "wafer", Text: "The wafer must not leave the harbour."}, Status: engine.GoalActive},
				{Goal: engine.Goal{ID: "g2", Kind: engine.GoalReach, Location: "lighthouse", After: "g1"}, Status: engine.GoalActive, Waiting: true},
			},
			Voice: []string{"Tide waits for no one."},
		},
		Place: engine.PlaceView{ID: "dock", Name: "The Dock", Exits: []string{"market", "pier"}, Items: []string{"rope"}},
		Present: []engine.PresentView{
			{ID: "bo", Name: "Bo Tarr", Role: "guard", Faction: "watch", Health: 60, Alive: true, Holding: []string{"wafer"}},
			{ID: "dee", Name: "Dee", Role: "clerk", Health: 0, Alive: false},
		},
		Memories: []engine.MemoryView{
			{Turn: 5, Kind: engine.ActAttack, Actor: "bo", Target: "mara", Place: "dock", Weight: 0.9},
			{Turn: 2, Kind: engine.ActTake, Actor: "bo", Item: "wafer", Place: "market", Weight: 0.4},
		},
		ItemsSeen:  map[string]string{"wafer": "bo", "key": "@market"},
		PeopleSeen: map[string]string{"bo": "dock", "cy": "pier"},
		Recent:     []string{"move:dock", "wait:"},
		Kinds:      append([]string(nil), allKinds...),
	}
}

func TestGoodAnswerBecomesTheAction(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content string
		want    engine.Action
	}{
		{"plain", `{"kind":"move","target":"pier","text":"","why":"Cy is there."}`, engine.Action{Kind: "move", Target: "pier"}},
		{"fenced", "Here is my choice:\n```json\n{\"kind\": \"attack\", \"target\": \"bo\", \"text\": \"\", \"why\": \"He has it.\"}\n```", engine.Action{Kind: "attack", Target: "bo"}},
		{"reasoning first", "<think>Should I {attack}? No.</think>\n{\"kind\":\"speak\",\"target\":\"bo\",\"text\":\"Hand it over, Bo.\",\"why\":\"Words first.\"}", engine.Action{Kind: "speak", Target: "bo", Text: "Hand it over, Bo."}},
		{"name for id", `{"kind":"Take","target":"wafer"}`, engine.Action{Kind: "take", Target: "wafer"}},
		{"character name", `{"kind":"attack","target":"Bo Tarr"}`, engine.Action{Kind: "attack", Target: "bo"}},
		{"give an item", `{"kind":"give","target":"bo","text":"lamp"}`, engine.Action{Kind: "give", Target: "bo", Text: "lamp"}},
		{"wait drops stray target and text", `{"kind":"wait","target":"bo","text":"hmm"}`, engine.Action{Kind: "wait"}},
		{"speak to the room", `{"kind":"speak","target":null,"text":"Tide waits for no one."}`, engine.Action{Kind: "speak", Text: "Tide waits for no one."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeModel(t, answerWith(tc.content))
			d := newDecider(t, Options{URL: f.URL + "/v1", Model: "m"})
			got, err := d.Decide(context.Background(), perception())
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			if d.Source() != "llm" {
				t.Fatalf("source %q", d.Source())
			}
		})
	}
}

func TestBadAnswersAreErrors(t *testing.T) {
	slow := func(r *http.Request, _ chatRequest) (int, string) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		return http.StatusOK, `{"kind":"wait"}`
	}
	for _, tc := range []struct {
		name  string
		reply func(*http.Request, chatRequest) (int, string)
		want  string
	}{
		{"malformed JSON", answerWith(`{"kind": "move", "target": "pier"`), "no JSON answer"},
		{"no JSON at all", answerWith(`I would go to the pier.`), "no JSON answer"},
		{"unknown kind", answerWith(`{"kind":"dance"}`), "kind"},
		{"target not adjacent", answerWith(`{"kind":"move","target":"lighthouse"}`), "not one of"},
		{"target not present", answerWith(`{"kind":"attack","target":"cy"}`), "not one of"},
		{"fallen target", answerWith(`{"kind":"help","target":"dee"}`), "not one of"},
		{"missing target", answerWith(`{"kind":"attack"}`), "needs a target"},
		{"give what is not held", answerWith(`{"kind":"give","target":"bo","text":"wafer"}`), "not an item held"},
		{"text too long", answerWith(fmt.Sprintf(`{"kind":"speak","text":%q}`, strings.Repeat("a", 501))), "more than 500"},
		{"HTTP 500", func(*http.Request, chatRequest) (int, string) { return 500, "model crashed" }, "500"},
		{"slow server", slow, "deadline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeModel(t, tc.reply)
			d := newDecider(t, Options{URL: f.URL, Timeout: 100 * time.Millisecond})
			start := time.Now()
			a, err := d.Decide(context.Background(), perception())
			if err == nil {
				t.Fatalf("got %+v and no error", a)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
			if el := time.Since(start); el > 2*time.Second {
				t.Fatalf("took %v", el)
			}
			// A failed answer is not cached: the next call asks again.
			d.Decide(context.Background(), perception())
			if n := f.requests(); n != 2 {
				t.Fatalf("server saw %d requests, want 2", n)
			}
		})
	}
}

func TestContextCancelStopsTheRequest(t *testing.T) {
	f := newFakeModel(t, func(r *http.Request, _ chatRequest) (int, string) {
		<-r.Context().Done()
		return http.StatusOK, `{"kind":"wait"}`
	})
	d := newDecider(t, Options{URL: f.URL})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := d.Decide(ctx, perception()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want deadline exceeded", err)
	}
}

func TestCacheServesEqualPerceptions(t *testing.T) {
	f := newFakeModel(t, answerWith(`{"kind":"move","target":"pier"}`))
	d := newDecider(t, Options{URL: f.URL})
	p := perception()
	a1, err := d.Decide(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	// Another turn, another seed, maps built afresh: the same situation.
	q := perception()
	q.Turn, q.Seed = 99, 7
	q.Self.Traits = map[string]float64{"empathy": 0.5, "caution": 0.3, "courage": 0.7}
	a2, err := d.Decide(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if a1 != a2 {
		t.Fatalf("cached %+v, first %+v", a2, a1)
	}
	if n := f.requests(); n != 1 {
		t.Fatalf("server saw %d requests, want 1", n)
	}
	// A different situation asks again.
	q.Self.Health = 30
	if _, err := d.Decide(context.Background(), q); err != nil {
		t.Fatal(err)
	}
	if n := f.requests(); n != 2 {
		t.Fatalf("server saw %d requests, want 2", n)
	}
	if d.cache.len() != 2 {
		t.Fatalf("cache holds %d", d.cache.len())
	}
}

func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	c := newLRU(2)
	k := func(b byte) [32]byte { return [32]byte{b} }
	c.put(k(1), engine.Action{Kind: "a"})
	c.put(k(2), engine.Action{Kind: "b"})
	c.get(k(1))
	c.put(k(3), engine.Action{Kind: "c"})
	if _, ok := c.get(k(2)); ok {
		t.Fatal("2 should have been evicted")
	}
	for _, b := range []byte{1, 3} {
		if _, ok := c.get(k(b)); !ok {
			t.Fatalf("%d evicted", b)
		}
	}
}

func TestPromptIsDeterministicAndTimeless(t *testing.T) {
	d := newDecider(t, Options{URL: "http://model.invalid/v1", Model: "m"})
	p := perception()
	m := newMenu(&p)
	sys, user := prompt(&p, m)
	body := d.requestBody(sys, user, true)
	for range 20 {
		q := perception()
		q.Turn, q.Seed = 1234, 987654321
		q.Memories[0].Turn, q.Memories[0].Weight = 1, 0.1
		qm := newMenu(&q)
		s2, u2 := prompt(&q, qm)
		if b := d.requestBody(s2, u2, true); !bytes.Equal(b, body) {
			t.Fatalf("bodies differ:\n%s\n%s", body, b)
		}
	}
	for _, want := range []string{
		"Mara Vell (id mara), smuggler, of the tide", "Health 80 of 100", "You carry: lamp",
		"caution 0.30, courage 0.70, empathy 0.50", "g1: obtain wafer [active]: The wafer must not leave the harbour.",
		"g2: reach lighthouse [active, its moment has not come yet, only after goal g1]", "bo -0.40, cy 0.60",
		"The Dock (id dock)", "Ways out lead to: market, pier", "Lying here in plain view: rope",
		"- bo: Bo Tarr, guard, of the watch, health 60, holding wafer", "- dee: Dee, clerk, fallen",
		"- bo attacked you at dock", "- bo took (wafer) at market", "key: at market; wafer: held by bo", "bo: at dock; cy: at pier",
		"move: go to a neighbouring place; target one of: market, pier",
		"take: pick up or seize an item; target one of: rope, wafer",
		"give: hand someone an item you carry; target one of: bo; text one of: lamp",
		`"Tide waits for no one."`,
	} {
		if !strings.Contains(user, want) {
			t.Errorf("prompt lacks %q:\n%s", want, user)
		}
	}
	if strings.Contains(user, "1234") || strings.Contains(user, "42") {
		t.Errorf("prompt carries the turn or the seed:\n%s", user)
	}
	var req map[string]any
	json.Unmarshal(body, &req)
	if rf, _ := req["response_format"].(map[string]any); rf["type"] != "json_object" || req["model"] != "m" || req["stream"] != false {
		t.Errorf("request %s", body)
	}
}

func TestMenuOffersOnlyWhatIsPossible(t *testing.T) {
	p := perception()
	p.Present, p.Place.Items, p.Place.Exits, p.Self.Inventory = nil, nil, nil, nil
	p.Kinds = append(p.Kinds, "sing")
	m := newMenu(&p)
	if got := strings.Join(m.kinds, ","); got != "speak,wait,search" {
		t.Fatalf("kinds %s", got)
	}
}

func TestBudgetStopsRequests(t *testing.T) {
	f := newFakeModel(t, answerWith(`{"kind":"wait"}`))
	f.tokens = 60
	d := newDecider(t, Options{URL: f.URL, Budget: 100, CacheSize: -1})
	for i := range 2 {
		if _, err := d.Decide(context.Background(), perception()); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if d.Used() != 120 {
		t.Fatalf("used %d", d.Used())
	}
	for range 3 {
		if _, err := d.Decide(context.Background(), perception()); !errors.Is(err, ErrBudget) {
			t.Fatalf("err %v, want ErrBudget", err)
		}
	}
	if n := f.requests(); n != 2 {
		t.Fatalf("server saw %d requests, want 2", n)
	}
}

func TestUsageMissingIsEstimated(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, `{"choices":[{"message":{"content":"{\"kind\":\"wait\"}"}}]}`)
	}))
	defer srv.Close()
	d := newDecider(t, Options{URL: srv.URL})
	if _, err := d.Decide(context.Background(), perception()); err != nil {
		t.Fatal(err)
	}
	if d.Used() < 100 {
		t.Fatalf("used %d: a prompt this size is some hundreds of tokens", d.Used())
	}
}

func TestAPIKeyIsSentAndNeverShown(t *testing.T) {
	const key = "sk-test-0123456789abcdef"
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var fail bool
	var mu sync.Mutex
	f := newFakeModel(t, func(r *http.Request, _ chatRequest) (int, string) {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			// A server that echoes what it was sent.
			return 401, "bad credentials: " + r.Header.Get("Authorization")
		}
		return http.StatusOK, `{"kind":"wait","why":"Bide."}`
	})
	d := newDecider(t, Options{URL: f.URL, APIKey: key, Logger: logger, CacheSize: -1})
	if _, err := d.Decide(context.Background(), perception()); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	auth := f.auths[0]
	f.mu.Unlock()
	if auth != "Bearer "+key {
		t.Fatalf("Authorization %q", auth)
	}
	mu.Lock()
	fail = true
	mu.Unlock()
	_, err := d.Decide(context.Background(), perception())
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("err %v", err)
	}
	if strings.Contains(err.Error(), key) {
		t.Fatalf("error shows the key: %v", err)
	}
	if strings.Contains(logs.String(), key) || !strings.Contains(logs.String(), "llm request failed") {
		t.Fatalf("logs:\n%s", logs.String())
	}

	// Without a key, no header at all.
	d = newDecider(t, Options{URL: f.URL, CacheSize: -1})
	mu.Lock()
	fail = false
	mu.Unlock()
	d.Decide(context.Background(), perception())
	f.mu.Lock()
	auth = f.auths[len(f.auths)-1]
	f.mu.Unlock()
	if auth != "" {
		t.Fatalf("Authorization %q without a key", auth)
	}
}

func TestURLCredentialsStayOutOfErrors(t *testing.T) {
	d := newDecider(t, Options{URL: "http://user:hunter2@127.0.0.1:1/v1?key=hunter2", Timeout: time.Second})
	_, err := d.Decide(context.Background(), perception())
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err %v", err)
	}
	if d.Endpoint() != "http://127.0.0.1:1/v1/chat/completions" {
		t.Fatalf("endpoint %s", d.Endpoint())
	}
}

func TestResponseFormatRefused(t *testing.T) {
	f := newFakeModel(t, func(_ *http.Request, req chatRequest) (int, string) {
		if req.ResponseFormat != nil {
			return http.StatusBadRequest, "unknown field response_format"
		}
		return http.StatusOK, `{"kind":"search"}`
	})
	d := newDecider(t, Options{URL: f.URL})
	for range 2 {
		a, err := d.Decide(context.Background(), perception())
		if err != nil || a.Kind != engine.ActSearch {
			t.Fatalf("got %+v, %v", a, err)
		}
	}
	// One refused, one without response_format, then the cache.
	if n := f.requests(); n != 2 {
		t.Fatalf("server saw %d requests, want 2", n)
	}
}

func TestNewOptions(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"http://localhost:11434/v1", "http://localhost:11434/v1/chat/completions"},
		{"http://localhost:11434/v1/", "http://localhost:11434/v1/chat/completions"},
		{"http://localhost:8080", "http://localhost:8080/v1/chat/completions"},
		{"https://api.example.com/v1/chat/completions", "https://api.example.com/v1/chat/completions"},
	} {
		d, err := New(Options{URL: tc.in})
		if err != nil {
			t.Fatal(err)
		}
		if d.endpoint != tc.want {
			t.Errorf("%s: endpoint %s, want %s", tc.in, d.endpoint, tc.want)
		}
		if d.opts.Timeout != 20*time.Second || d.opts.MaxTokens != 256 || d.cache == nil || d.opts.Budget != 0 {
			t.Errorf("defaults %+v", d.opts)
		}
	}
	for _, bad := range []string{"", "localhost:11434", "ftp://x/v1", "http://"} {
		if _, err := New(Options{URL: bad}); err == nil {
			t.Errorf("New(%q) accepted", bad)
		}
	}
}

func TestConcurrentDecisions(t *testing.T) {
	f := newFakeModel(t, func(_ *http.Request, req chatRequest) (int, string) {
		// Answer for whoever asks: move to their first exit.
		u := req.Messages[1].Content
		i := strings.Index(u, "target one of: ")
		exit := strings.SplitN(strings.SplitN(u[i+len("target one of: "):], "\n", 2)[0], ",", 2)[0]
		return http.StatusOK, fmt.Sprintf(`{"kind":"move","target":%q}`, exit)
	})
	d := newDecider(t, Options{URL: f.URL, CacheSize: 8, Budget: 1 << 40})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Go(func() {
			p := perception()
			p.Self.ID = fmt.Sprintf("p%d", i%16)
			p.Place.Exits = []string{fmt.Sprintf("room%d", i%16)}
			a, err := d.Decide(context.Background(), p)
			if err == nil && a.Target != p.Place.Exits[0] {
				err = fmt.Errorf("%s moved to %s", p.Self.ID, a.Target)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := f.requests(); n < 16 || n > 64 {
		t.Fatalf("server saw %d requests", n)
	}
	if d.cache.len() > 8 {
		t.Fatalf("cache holds %d, more than its size", d.cache.len())
	}
}

func TestParseAnswer(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want answer
		ok   bool
	}{
		{`{"kind":"wait","why":"tired"}`, answer{Kind: "wait", Why: "tired"}, true},
		{"```\n{\"kind\":\"move\",\"target\":\"pier\"}\n```", answer{Kind: "move", Target: "pier"}, true},
		{`I choose {"kind":"search"} and then {"kind":"wait"}`, answer{Kind: "search"}, true},
		{`{"note": 1} {"kind":"wait"}`, answer{Kind: "wait"}, true},
		{`{"kind": 3}`, answer{Kind: "3"}, true},
		{`{"kind":`, answer{}, false},
		{``, answer{}, false},
		{`<think>{"kind":"attack","target":"bo"}</think>`, answer{}, false},
	} {
		got, err := parseAnswer(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseAnswer(%q) = %+v, %v", tc.in, got, err)
		}
	}
}
