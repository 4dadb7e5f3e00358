package lb

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func backendNamed(t *testing.T, name string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ws":
			c, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			c.Write(r.Context(), websocket.MessageText, []byte(name))
			c.Close(websocket.StatusNormalClosure, "")
		default:
			body, _ := io.ReadAll(r.Body)
			io.WriteString(w, name+":"+string(body))
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func get(t *testing.T, url, body string) string {
	t.Helper()
	resp, err := http.Post(url, "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestRoundRobinSkipsDeadBackends: requests alternate between backends;
// one that refuses connections is skipped, the request (body included)
// going to the next.
func TestRoundRobinSkipsDeadBackends(t *testing.T) {
	a, b := backendNamed(t, "a"), backendNamed(t, "b")
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	bal, err := New([]string{a.URL, deadURL, b.URL}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(bal)
	defer front.Close()
	seen := map[string]int{}
	for range 6 {
		got := get(t, front.URL+"/x", "hello")
		if !strings.HasSuffix(got, ":hello") {
			t.Fatalf("answer %q", got)
		}
		seen[got[:1]]++
	}
	if seen["a"] == 0 || seen["b"] == 0 || seen["a"]+seen["b"] != 6 {
		t.Fatalf("answers by backend: %v", seen)
	}
}

// TestWebSocketPassesThrough: an upgrade from a page served by the
// balancer reaches a backend and its messages come back.
func TestWebSocketPassesThrough(t *testing.T) {
	a := backendNamed(t, "a")
	bal, _ := New([]string{a.URL}, Options{})
	front := httptest.NewServer(bal)
	defer front.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// A browser sends its page's origin, the balancer's; the backend's
	// same-origin check must see the Host the browser asked for.
	c, _, err := websocket.Dial(ctx, strings.Replace(front.URL, "http", "ws", 1)+"/ws", &websocket.DialOptions{
		HTTPHeader: http.Header{"Origin": {front.URL}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	_, msg, err := c.Read(ctx)
	if err != nil || string(msg) != "a" {
		t.Fatalf("read %q, %v", msg, err)
	}
}

// TestKeepsClientHost: a backend sees the Host the client asked for, and
// where the request came from in X-Forwarded-*.
func TestKeepsClientHost(t *testing.T) {
	back := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Host+" "+r.Header.Get("X-Forwarded-Host"))
	}))
	defer back.Close()
	bal, _ := New([]string{back.URL}, Options{})
	front := httptest.NewServer(bal)
	defer front.Close()
	req, _ := http.NewRequest("GET", front.URL+"/", nil)
	req.Host = "novel.example:8080"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "novel.example:8080 novel.example:8080" {
		t.Fatalf("the backend saw Host and X-Forwarded-Host %q, want the client's", b)
	}
}

// TestForwardsClientAddress: a backend sees the client's address, and
// only it, in X-Forwarded-For: a client cannot put another there, since
// the nodes trust the balancer's word for their per-address limits.
func TestForwardsClientAddress(t *testing.T) {
	back := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Join(r.Header.Values("X-Forwarded-For"), ","))
	}))
	defer back.Close()
	bal, _ := New([]string{back.URL}, Options{})
	front := httptest.NewServer(bal)
	defer front.Close()
	req, _ := http.NewRequest("GET", front.URL+"/", nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.66")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "127.0.0.1" {
		t.Fatalf("the backend saw X-Forwarded-For %q, want the client's 127.0.0.1 alone", b)
	}
}
