package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/novel-engine/novel-engine/engine"
	"github.com/novel-engine/novel-engine/store"
)

// faultyStore is the memory store with switchable failures, to see how
// the edge reports them.
type faultyStore struct {
	*store.Memory
	fail atomic.Pointer[error]
}

func (f *faultyStore) err() error {
	if p := f.fail.Load(); p != nil {
		return *p
	}
	return nil
}

func (f *faultyStore) GetSimulation(ctx context.Context, id string) (*store.Simulation, error) {
	if err := f.err(); err != nil {
		return nil, err
	}
	return f.Memory.GetSimulation(ctx, id)
}

func (f *faultyStore) Ping(ctx context.Context) error {
	if err := f.err(); err != nil {
		return err
	}
	return f.Memory.Ping(ctx)
}

// newTestServer starts a server on st with cfg (its store, auth and node
// set here), closed when the test ends.
func newTestServer(t *testing.T, st store.Store, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	auth, err := NewAuth([]byte("0123456789abcdef"), nil, "novel-engine", "novel-engine", time.Now)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store, cfg.Auth, cfg.Node, cfg.GuestAuth = st, auth, "n1", true
	if cfg.RequestRate == 0 {
		cfg.RequestRate, cfg.RequestBurst = 1, 100
	}
	// Admission by load measures wall time per turn, so a busy test machine
	// reads as a full node and refuses stories the test needs; tests of
	// that admission set their own bound.
	if cfg.MaxLoad == 0 {
		cfg.MaxLoad = -1
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		hs.Close()
	})
	return s, hs
}

func getJSON(t *testing.T, url string) (int, http.Header, map[string]any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, resp.Header, out
}

func TestStoreFailuresReachUsers(t *testing.T) {
	fs := &faultyStore{Memory: store.NewMemory()}
	_, hs := newTestServer(t, fs, Config{})

	unavailable := fmt.Errorf("dial: %w", store.ErrUnavailable)
	fs.fail.Store(&unavailable)
	code, hdr, body := getJSON(t, hs.URL+"/v1/simulations/x")
	if code != 503 || hdr.Get("Retry-After") == "" || body["error"].(map[string]any)["code"] != "unavailable" {
		t.Fatalf("unavailable store: %d %v %v", code, hdr, body)
	}
	if code, _, body := getJSON(t, hs.URL+"/readyz"); code != 503 || body["dependencies"].(map[string]any)["store"] != "unavailable" {
		t.Fatalf("readyz: %d %v", code, body)
	}

	secret := errors.New("pq: password authentication failed for user secret-user")
	fs.fail.Store(&secret)
	code, _, body = getJSON(t, hs.URL+"/v1/simulations/x")
	e := body["error"].(map[string]any)
	if code != 500 || e["code"] != "internal" || strings.Contains(fmt.Sprint(e["message"]), "secret") {
		t.Fatalf("internal: %d %v", code, body)
	}

	// Over the WebSocket: internal, with the connection still open.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, strings.Replace(hs.URL, "http", "ws", 1)+"/v1/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.Read(ctx) // welcome
	c.Write(ctx, websocket.MessageText, []byte(`{"type":"subscribe","sim":"x","id":"1"}`))
	_, data, err := c.Read(ctx)
	if err != nil || !strings.Contains(string(data), `"code":"internal"`) || strings.Contains(string(data), "secret") {
		t.Fatalf("ws internal: %s %v", data, err)
	}
	fs.fail.Store(nil)
	c.Write(ctx, websocket.MessageText, []byte(`{"type":"ping","id":"2"}`))
	if _, data, err := c.Read(ctx); err != nil || !strings.Contains(string(data), "pong") {
		t.Fatalf("after error: %s %v", data, err)
	}
}

func TestRESTErrors(t *testing.T) {
	_, hs := newTestServer(t, store.NewMemory(), Config{RequestRate: 1, RequestBurst: 1000})
	post := func(path, token, body string) (int, http.Header, map[string]any) {
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
		b, _ := io.ReadAll(resp.Body)
		json.Unmarshal(b, &out)
		return resp.StatusCode, resp.Header, out
	}
	codeOf := func(body map[string]any) string {
		e, _ := body["error"].(map[string]any)
		s, _ := e["code"].(string)
		return s
	}
	_, _, g := post("/v1/auth/guest", "", `{"name":"Ada"}`)
	tok := g["token"].(string)
	_, _, g2 := post("/v1/auth/guest", "", `{"name":"Bo"}`)
	tok2 := g2["token"].(string)
	_, _, sim := post("/v1/simulations", tok, `{"scenario":"`+firstBuiltin()+`","turn_interval_ms":1000}`)
	id, _ := sim["id"].(string)
	if id == "" {
		t.Fatalf("create: %v", sim)
	}

	cases := []struct {
		name, method, path, token, body string
		status                          int
		code                            string
	}{
		{"bad json", "POST", "/v1/simulations", tok, `{"scenario":`, 400, "bad_request"},
		{"unknown field", "POST", "/v1/simulations", tok, `{"scenario":"x","colour":1}`, 400, "bad_request"},
		{"no scenario", "POST", "/v1/simulations", tok, `{}`, 400, "bad_request"},
		{"unknown scenario", "POST", "/v1/simulations", tok, `{"scenario":"nope"}`, 404, "not_found"},
		{"invalid scenario", "POST", "/v1/simulations", tok, `{"scenario":{"id":"x"}}`, 400, "bad_request"},
		{"interval too fast", "POST", "/v1/simulations", tok, `{"scenario":"` + firstBuiltin() + `","turn_interval_ms":1}`, 400, "bad_request"},
		{"anonymous create", "POST", "/v1/simulations", "", `{"scenario":"x"}`, 401, "unauthorized"},
		{"bad token", "POST", "/v1/simulations", "garbage", `{}`, 401, "unauthorized"},
		{"too large", "POST", "/v1/simulations", tok, `{"title":"` + strings.Repeat("x", 2<<20) + `"}`, 413, "too_large"},
		{"not the creator", "POST", "/v1/simulations/" + id + "/pause", tok2, ``, 403, "forbidden"},
		{"unknown simulation", "GET", "/v1/simulations/nope", "", ``, 404, "not_found"},
		{"bad limit", "GET", "/v1/simulations?limit=999", "", ``, 400, "bad_request"},
		{"bad status", "GET", "/v1/simulations?status=dancing", "", ``, 400, "bad_request"},
		{"bad cursor", "GET", "/v1/simulations?cursor=%25%25", "", ``, 400, "bad_request"},
		{"bad since", "GET", "/v1/simulations/" + id + "/turns?since=-1", "", ``, 400, "bad_request"},
		{"act without seat", "POST", "/v1/simulations/" + id + "/actions", tok, `{"character":"x","action":{"kind":"wait"}}`, 403, "forbidden"},
		{"stop", "POST", "/v1/simulations/" + id + "/stop", tok, ``, 200, ""},
		{"stop twice", "POST", "/v1/simulations/" + id + "/stop", tok, ``, 409, "conflict"},
		{"no route", "GET", "/v1/nothing", "", ``, 404, "not_found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, hs.URL+tc.path, strings.NewReader(tc.body))
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out map[string]any
			b, _ := io.ReadAll(resp.Body)
			json.Unmarshal(b, &out)
			if resp.StatusCode != tc.status || (tc.code != "" && codeOf(out) != tc.code) {
				t.Fatalf("%d %s, want %d %s", resp.StatusCode, b, tc.status, tc.code)
			}
		})
	}

	// The write limiter: a burst of 3, then 429 with Retry-After.
	_, hs = newTestServer(t, store.NewMemory(), Config{RequestRate: 1, RequestBurst: 3})
	var last int
	var hdr http.Header
	for i := 0; i < 10; i++ {
		last, hdr, _ = post("/v1/auth/guest", "", `{"name":"Flood"}`)
	}
	if last != 429 || hdr.Get("Retry-After") == "" {
		t.Fatalf("flood: %d %v", last, hdr)
	}
}

func firstBuiltin() string { return engine.Builtins()[0].ID }

// TestMain fails the package's tests when a goroutine outlives them: every
// goroutine the server starts must end with it.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		http.DefaultClient.CloseIdleConnections() // keep-alive connections of the tests' own requests
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines left running:", err)
			code = 1
		}
	}
	os.Exit(code)
}
