package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/novel-engine/novel-engine/internal/poll"
	"github.com/novel-engine/novel-engine/store"
)

// call makes a REST request with an optional token and X-Forwarded-For,
// and returns the status, headers and the error code, if any.
func call(t *testing.T, method, url, token, xff, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(b, &out)
	return resp.StatusCode, resp.Header, out
}

func errCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func guestToken(t *testing.T, base, xff string) string {
	t.Helper()
	code, _, out := call(t, "POST", base+"/v1/auth/guest", "", xff, `{"name":"Ada"}`)
	tok, _ := out["token"].(string)
	if code != 201 || tok == "" {
		t.Fatalf("guest sign-in: %d %v", code, out)
	}
	return tok
}

func createStory(t *testing.T, base, token, xff string) (int, http.Header, map[string]any) {
	t.Helper()
	return call(t, "POST", base+"/v1/simulations", token, xff, `{"scenario":"`+firstBuiltin()+`","turn_interval_ms":60000}`)
}

// TestUserStoryQuota: a user runs at most MaxUserStories stories at
// once; a stopped one frees its place; another user has places of its own.
func TestUserStoryQuota(t *testing.T) {
	_, hs := newTestServer(t, store.NewMemory(), Config{MaxUserStories: 2, MaxGuestAddrStories: -1})
	tok := guestToken(t, hs.URL, "")
	var ids []string
	for range 2 {
		code, _, out := createStory(t, hs.URL, tok, "")
		if code != 201 {
			t.Fatalf("create within the quota: %d %v", code, out)
		}
		ids = append(ids, out["id"].(string))
	}
	code, hdr, out := createStory(t, hs.URL, tok, "")
	if code != 429 || errCode(out) != CodeQuotaExceeded || hdr.Get("Retry-After") == "" {
		t.Fatalf("third story: %d %v %v", code, hdr, out)
	}
	if code, _, out := createStory(t, hs.URL, guestToken(t, hs.URL, ""), ""); code != 201 {
		t.Fatalf("another user: %d %v", code, out)
	}
	if code, _, out := call(t, "POST", hs.URL+"/v1/simulations/"+ids[0]+"/stop", tok, "", ""); code != 200 {
		t.Fatalf("stop: %d %v", code, out)
	}
	if code, _, out := createStory(t, hs.URL, tok, ""); code != 201 {
		t.Fatalf("after one stopped: %d %v", code, out)
	}
}

// TestGuestAddrQuota: the guests of one address share a count of running
// stories, so new guest names do not sidestep the user quota; the
// address is the forwarded one only behind a trusted proxy.
func TestGuestAddrQuota(t *testing.T) {
	loopback := netip.MustParsePrefix("127.0.0.0/8")
	_, hs := newTestServer(t, store.NewMemory(), Config{MaxGuestAddrStories: 2, TrustedProxies: []netip.Prefix{loopback}})
	for i := range 2 {
		if code, _, out := createStory(t, hs.URL, guestToken(t, hs.URL, ""), "203.0.113.7"); code != 201 {
			t.Fatalf("story %d: %d %v", i, code, out)
		}
	}
	code, _, out := createStory(t, hs.URL, guestToken(t, hs.URL, ""), "203.0.113.7")
	if code != 429 || errCode(out) != CodeQuotaExceeded {
		t.Fatalf("a third guest of the same address: %d %v", code, out)
	}
	if code, _, out := createStory(t, hs.URL, guestToken(t, hs.URL, ""), "203.0.113.8"); code != 201 {
		t.Fatalf("a guest of another address: %d %v", code, out)
	}

	// Without a trusted proxy the header is the client's own word.
	_, hs = newTestServer(t, store.NewMemory(), Config{MaxGuestAddrStories: 1})
	createStory(t, hs.URL, guestToken(t, hs.URL, ""), "198.51.100.1")
	code, _, out = createStory(t, hs.URL, guestToken(t, hs.URL, ""), "198.51.100.2")
	if code != 429 || errCode(out) != CodeQuotaExceeded {
		t.Fatalf("a forged X-Forwarded-For sidestepped the quota: %d %v", code, out)
	}
}

// TestNodeAdmission: a node refuses stories past MaxStories, and stories
// whose pace its measured turn cost says it cannot keep.
func TestNodeAdmission(t *testing.T) {
	_, hs := newTestServer(t, store.NewMemory(), Config{MaxStories: 1})
	tok := guestToken(t, hs.URL, "")
	createStory(t, hs.URL, tok, "")
	code, hdr, out := createStory(t, hs.URL, tok, "")
	if code != 503 || errCode(out) != CodeUnavailable || hdr.Get("Retry-After") == "" {
		t.Fatalf("past MaxStories: %d %v %v", code, hdr, out)
	}

	s, hs := newTestServer(t, store.NewMemory(), Config{MaxLoad: 1e-9})
	tok = guestToken(t, hs.URL, "")
	fast := `{"scenario":"` + firstBuiltin() + `","turn_interval_ms":10,"max_turns":100000}`
	if code, _, out := call(t, "POST", hs.URL+"/v1/simulations", tok, "", fast); code != 201 {
		t.Fatalf("first story, nothing measured yet: %d %v", code, out)
	}
	poll.Until(t, 10*time.Second, "a turn measured", func() bool { return s.runner.TurnCost() > 0 })
	code, _, out = call(t, "POST", hs.URL+"/v1/simulations", tok, "", fast)
	if code != 503 || errCode(out) != CodeUnavailable {
		t.Fatalf("a story past the node's load: %d %v", code, out)
	}
	// The load and the turn cost it is judged by are in the metrics.
	resp, err := http.Get(hs.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, name := range []string{"novel_load", "novel_turn_cpu_seconds"} {
		m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindSubmatch(body)
		if m == nil {
			t.Fatalf("no %s in the metrics", name)
		}
		if v, err := strconv.ParseFloat(string(m[1]), 64); err != nil || v <= 0 {
			t.Fatalf("%s %s, want more than 0", name, m[1])
		}
	}
}

// TestGuestSignInsPerHour: one address gets GuestsPerHour guest tokens
// an hour; another address its own.
func TestGuestSignInsPerHour(t *testing.T) {
	loopback := netip.MustParsePrefix("127.0.0.0/8")
	_, hs := newTestServer(t, store.NewMemory(), Config{GuestsPerHour: 3, TrustedProxies: []netip.Prefix{loopback}})
	for range 3 {
		guestToken(t, hs.URL, "203.0.113.9")
	}
	code, hdr, out := call(t, "POST", hs.URL+"/v1/auth/guest", "", "203.0.113.9", `{"name":"Ada"}`)
	if code != 429 || errCode(out) != CodeRateLimited || hdr.Get("Retry-After") == "" {
		t.Fatalf("fourth guest of the hour: %d %v %v", code, hdr, out)
	}
	guestToken(t, hs.URL, "203.0.113.10")
}

// TestClientAddr: forwarded addresses count only from trusted proxies,
// read from the nearest hop back; IPv6 clients count by /64.
func TestClientAddr(t *testing.T) {
	s := &Server{cfg: Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}}
	cases := []struct {
		peer, xff, fwd, want string
	}{
		{"192.0.2.1:5000", "", "", "192.0.2.1"},
		{"192.0.2.1:5000", "203.0.113.1", "", "192.0.2.1"}, // untrusted peer
		{"10.0.0.2:5000", "203.0.113.1", "", "203.0.113.1"},
		{"10.0.0.2:5000", "198.51.100.9, 203.0.113.1", "", "203.0.113.1"},  // forged first hop
		{"10.0.0.2:5000", "203.0.113.1, 10.0.0.3", "", "203.0.113.1"},      // two proxies
		{"10.0.0.2:5000", "garbage, 203.0.113.1", "", "203.0.113.1"},       //
		{"10.0.0.2:5000", "", `for="[2001:db8::1]:4711"`, "2001:db8::/64"}, // Forwarded, IPv6
		{"10.0.0.2:5000", "", "for=203.0.113.5;proto=https", "203.0.113.5"},
		{"[2001:db8:1:2::9]:80", "", "", "2001:db8:1:2::/64"},
		{"10.0.0.2:5000", "", "", "10.0.0.2"},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.peer
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if c.fwd != "" {
			r.Header.Set("Forwarded", c.fwd)
		}
		if got := s.clientAddr(r); got != c.want {
			t.Errorf("peer %s, X-Forwarded-For %q, Forwarded %q: %s, want %s", c.peer, c.xff, c.fwd, got, c.want)
		}
	}
}

// TestForkCountsAsAStory: a fork is a new story, within the same quotas.
func TestForkCountsAsAStory(t *testing.T) {
	_, hs := newTestServer(t, store.NewMemory(), Config{MaxUserStories: 1})
	tok := guestToken(t, hs.URL, "")
	_, _, out := call(t, "POST", hs.URL+"/v1/simulations", tok, "", `{"scenario":"`+firstBuiltin()+`","turn_interval_ms":10,"max_turns":1000}`)
	id := out["id"].(string)
	poll.Until(t, 10*time.Second, "a turn", func() bool {
		_, _, v := call(t, "GET", hs.URL+"/v1/simulations/"+id, "", "", "")
		h, _ := v["head"].(float64)
		return h >= 1
	})
	code, _, out := call(t, "POST", hs.URL+"/v1/simulations/"+id+"/fork", tok, "", `{"at":1}`)
	if code != 429 || errCode(out) != CodeQuotaExceeded {
		t.Fatalf("a fork past the user's quota: %d %v", code, out)
	}
}
