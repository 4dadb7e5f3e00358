package server

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/novel-engine/novel-engine/internal/poll"
	"github.com/novel-engine/novel-engine/store"
)

// TestControlCharactersRefused: no user string with a control character
// gets in (PostgreSQL refuses NUL in text: it was a 500 at best).
func TestControlCharactersRefused(t *testing.T) {
	s, hs := newTestServer(t, store.NewMemory(), Config{})
	for _, name := range []string{"A\x00da", "A\x1b[31mda", "A\u0085da"} {
		if code, _, out := call(t, "POST", hs.URL+"/v1/auth/guest", "", "", `{"name":"`+jsonEscape(name)+`"}`); code != 400 || errCode(out) != CodeBadRequest {
			t.Errorf("guest name %q: %d %v", name, code, out)
		}
	}
	tok := guestToken(t, hs.URL, "")
	code, _, out := call(t, "POST", hs.URL+"/v1/simulations", tok, "", `{"scenario":"`+firstBuiltin()+`","title":"T\u0000"}`)
	if code != 400 || errCode(out) != CodeBadRequest {
		t.Errorf("title with NUL: %d %v", code, out)
	}
	_, _, out = createStory(t, hs.URL, tok, "")
	id := out["id"].(string)
	code, _, out = call(t, "POST", hs.URL+"/v1/simulations/"+id+"/actions", tok, "", `{"character":"x","action":{"kind":"say","text":"hi\u0000"}}`)
	if code != 400 || errCode(out) != CodeBadRequest {
		t.Errorf("action text with NUL: %d %v", code, out)
	}
	// A fork's title is checked as a create's is: the two share it.
	_, _, out = call(t, "POST", hs.URL+"/v1/simulations", tok, "", `{"scenario":"`+firstBuiltin()+`","turn_interval_ms":10,"max_turns":1000}`)
	id = out["id"].(string)
	poll.Until(t, 10*time.Second, "a turn", func() bool {
		_, _, v := call(t, "GET", hs.URL+"/v1/simulations/"+id, "", "", "")
		h, _ := v["head"].(float64)
		return h >= 1
	})
	code, _, out = call(t, "POST", hs.URL+"/v1/simulations/"+id+"/fork", tok, "", `{"at":1,"title":"F\u0000"}`)
	if code != 400 || errCode(out) != CodeBadRequest {
		t.Errorf("fork title with NUL: %d %v", code, out)
	}
	// A token's name with one is not shown: the user's id stands in.
	tokNUL, _, _ := s.auth.Issue(User{ID: "u-nul", Name: "Bad\x00Name", Role: RolePlayer}, time.Hour)
	if u, err := s.auth.Verify(tokNUL); err != nil || u.Name != "u-nul" {
		t.Errorf("token name with NUL: %+v %v", u, err)
	}
}

func jsonEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			b.WriteString(`\u00` + "0123456789abcdef"[r>>4:r>>4+1] + "0123456789abcdef"[r&15:r&15+1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// TestViewersMayNotStart: only players and admins start or resume stories.
func TestViewersMayNotStart(t *testing.T) {
	s, hs := newTestServer(t, store.NewMemory(), Config{})
	player, _, _ := s.auth.Issue(User{ID: "u1", Name: "Ada", Role: RolePlayer}, time.Hour)
	viewer, _, _ := s.auth.Issue(User{ID: "u1", Name: "Ada", Role: RoleViewer}, time.Hour)
	if code, _, out := createStory(t, hs.URL, viewer, ""); code != 403 || errCode(out) != CodeForbidden {
		t.Fatalf("a viewer's create: %d %v", code, out)
	}
	_, _, out := createStory(t, hs.URL, player, "")
	id := out["id"].(string)
	if code, _, out := call(t, "POST", hs.URL+"/v1/simulations/"+id+"/pause", player, "", ""); code != 200 {
		t.Fatalf("pause: %d %v", code, out)
	}
	if code, _, out := call(t, "POST", hs.URL+"/v1/simulations/"+id+"/resume", viewer, "", ""); code != 403 || errCode(out) != CodeForbidden {
		t.Fatalf("the creator, now a viewer, resumes: %d %v", code, out)
	}
}

// TestQueryTokenOnlyOnWebSocket: a token in the query string is refused
// on REST routes, where it would end up in access logs.
func TestQueryTokenOnlyOnWebSocket(t *testing.T) {
	_, hs := newTestServer(t, store.NewMemory(), Config{})
	tok := guestToken(t, hs.URL, "")
	if code, _, out := call(t, "GET", hs.URL+"/v1/simulations?token="+tok, "", "", ""); code != 401 || errCode(out) != CodeUnauthorized {
		t.Fatalf("query token on REST: %d %v", code, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, strings.Replace(hs.URL, "http", "ws", 1)+"/v1/ws?token="+tok, nil)
	if err != nil {
		t.Fatalf("query token on the WebSocket: %v", err)
	}
	defer c.CloseNow()
	if _, data, err := c.Read(ctx); err != nil || !strings.Contains(string(data), `"role":"player"`) {
		t.Fatalf("welcome: %s %v", data, err)
	}
}

// TestNosniffAndSeparateMetrics: every answer says nosniff; /metrics can
// be kept off the public listener.
func TestNosniffAndSeparateMetrics(t *testing.T) {
	_, hs := newTestServer(t, store.NewMemory(), Config{SeparateMetrics: true})
	for _, path := range []string{"/healthz", "/v1/scenarios", "/v1/nothing", "/v1/simulations/x/story"} {
		resp, err := http.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", path)
		}
	}
	resp, err := http.Get(hs.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("/metrics on the public listener with SeparateMetrics: %d", resp.StatusCode)
	}
}
