package server

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/novel-engine/novel-engine/internal/poll"
	"github.com/novel-engine/novel-engine/store"
)

// TestStoryPaged: GET /story gives at most limit turns, the last ones,
// with a line and a Link header to the earlier ones; following them
// gives every turn of the whole story once, in order.
func TestStoryPaged(t *testing.T) {
	_, hs := newTestServer(t, store.NewMemory(), Config{MaxLoad: -1})
	tok := guestToken(t, hs.URL, "")
	_, _, out := call(t, "POST", hs.URL+"/v1/simulations", tok, "", `{"scenario":"`+firstBuiltin()+`","turn_interval_ms":10,"max_turns":1000}`)
	id := out["id"].(string)
	poll.Until(t, 20*time.Second, "eight turns", func() bool {
		_, _, v := call(t, "GET", hs.URL+"/v1/simulations/"+id, "", "", "")
		h, _ := v["head"].(float64)
		return h >= 8
	})
	if code, _, out := call(t, "POST", hs.URL+"/v1/simulations/"+id+"/stop", tok, "", ""); code != 200 {
		t.Fatalf("stop: %d %v", code, out)
	}
	get := func(path string) (string, http.Header) {
		resp, err := http.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		return string(body), resp.Header
	}
	turnLine := regexp.MustCompile(`(?m)^\*\*\d+\.\*\* .*$`)
	whole, h := get("/v1/simulations/" + id + "/story")
	if h.Get("Link") != "" || strings.Contains(whole, "come before") {
		t.Fatalf("a short story is given whole, yet: Link %q\n%s", h.Get("Link"), whole)
	}
	want := turnLine.FindAllString(whole, -1)
	if len(want) == 0 {
		t.Fatalf("no turns in the story:\n%s", whole)
	}
	var got [][]string
	pages := 0
	for path := "/v1/simulations/" + id + "/story?limit=3"; path != ""; pages++ {
		page, h := get(path)
		lines := turnLine.FindAllString(page, -1)
		if len(lines) > 3 {
			t.Fatalf("a page of limit 3 has %d turns:\n%s", len(lines), page)
		}
		got = append([][]string{lines}, got...)
		path = ""
		if link := h.Get("Link"); link != "" {
			path = strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="prev"`)
			if !strings.Contains(page, "]("+path+")") {
				t.Fatalf("the page does not link to %s:\n%s", path, page)
			}
		}
	}
	if pages < 3 {
		t.Fatalf("%d pages of at most 3 turns for a story of 8 or more", pages)
	}
	var joined []string
	for _, p := range got {
		joined = append(joined, p...)
	}
	if strings.Join(joined, "\n") != strings.Join(want, "\n") {
		t.Fatalf("the pages together:\n%s\nthe whole story:\n%s", strings.Join(joined, "\n"), strings.Join(want, "\n"))
	}
	for _, q := range []string{"limit=0", "limit=501", "limit=x", "before=0", "before=x"} {
		if code, _, out := call(t, "GET", hs.URL+"/v1/simulations/"+id+"/story?"+q, "", "", ""); code != 400 || errCode(out) != CodeBadRequest {
			t.Errorf("story?%s: %d %v", q, code, out)
		}
	}
}
