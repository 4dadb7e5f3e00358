package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The stories -create made are stopped by -merge with their creator's
// token (a guest signed in afterwards owns none of them and is refused),
// a refusal for the rate waited out.
func TestMergeStopsAsCreator(t *testing.T) {
	var mu sync.Mutex
	creator := map[string]string{} // story → its creator's token
	stops := map[string]int{}      // answer → stops
	var guests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		switch p := r.URL.Path; {
		case p == "/v1/auth/guest":
			fmt.Fprintf(w, `{"token":"guest%d"}`, guests.Add(1))
		case p == "/v1/scenarios":
			fmt.Fprint(w, `{"scenarios":[{"id":"sc"}]}`)
		case p == "/v1/scenarios/sc":
			fmt.Fprint(w, `{"id":"sc","end":{}}`)
		case p == "/v1/simulations" && r.Method == "POST":
			id := fmt.Sprintf("s%d", len(creator)+1)
			creator[id] = tok
			fmt.Fprintf(w, `{"id":%q}`, id)
		case strings.HasSuffix(p, "/stop") && stops["slowed"] == 0:
			// Writes are rate limited per address: waited out.
			stops["slowed"]++
			http.Error(w, `{"code":"rate_limited"}`, http.StatusTooManyRequests)
		case strings.HasSuffix(p, "/stop"):
			if creator[strings.TrimSuffix(strings.TrimPrefix(p, "/v1/simulations/"), "/stop")] != tok {
				stops["forbidden"]++
				http.Error(w, `{"code":"forbidden"}`, http.StatusForbidden)
				return
			}
			stops["stopped"]++
			fmt.Fprint(w, `{}`)
		case strings.HasPrefix(p, "/v1/simulations/"):
			fmt.Fprint(w, `{"status":"running"}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	ids, out := dir+"/ids", dir+"/r.json"
	if err := createOnly(options{urls: []string{srv.URL}, stories: 5, intervalMS: 0}, ids); err != nil {
		t.Fatal(err)
	}
	if err := writeResults(out, collect([]*watcher{{node: "n1", samples: []sample{{time.Millisecond, "n1"}}}}, 5, 1000, time.Second, 0)); err != nil {
		t.Fatal(err)
	}
	if err := mergeReport(srv.URL, []string{out}, ids); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(stops) != "map[slowed:1 stopped:5]" {
		t.Errorf("stops %v, want the 5 stories stopped by their creator", stops)
	}
}
