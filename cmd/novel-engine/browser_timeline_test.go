package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/novel-engine/novel-engine/web/webtest"
)

// worldMap is who stands where in the world at a turn, as the map shows
// it: each place's characters, in cast order, a fallen one marked †.
func (e *browserEnv) worldMap(t *testing.T, sim string, at int64) map[string]string {
	t.Helper()
	var w struct {
		Locations []struct {
			ID string `json:"id"`
		} `json:"locations"`
		Characters []struct {
			ID       string `json:"id"`
			Location string `json:"location"`
			Alive    bool   `json:"alive"`
		} `json:"characters"`
	}
	if code := e.node.api(t, "GET", fmt.Sprintf("/v1/simulations/%s/world?at=%d", sim, at), "", nil, &w); code != 200 {
		t.Fatalf("world at %d: %d", at, code)
	}
	out := map[string]string{}
	for _, l := range w.Locations {
		var ids []string
		for _, c := range w.Characters {
			if c.Location == l.ID {
				ids = append(ids, c.ID+map[bool]string{true: "", false: "†"}[c.Alive])
			}
		}
		out[l.ID] = strings.Join(ids, ",")
	}
	return out
}

const jsMap = `Object.fromEntries([...document.querySelectorAll('#map g[data-loc]')].map(g => [g.dataset.loc, g.querySelector('g.who')?.dataset.sig || '']))`

// jsScrubTo drags the timeline to a turn: the range input takes the value
// and fires input, as it does under a pointer or the arrow keys.
func jsScrubTo(at int64) string {
	return fmt.Sprintf(`(() => { const r = document.querySelector('#timeline'); r.value = '%d'; r.dispatchEvent(new Event('input', {bubbles: true})); return true })()`, at)
}

// TestBrowserTimelineAndFork drags the story's timeline back and sees the
// map and the cast as they were at that turn while live turns keep
// coming; goes back to live; then forks the story from a turn and watches
// the fork go on from it.
func TestBrowserTimelineAndFork(t *testing.T) {
	e := newBrowserEnv(t)
	tok := e.node.guest(t, "Wren")
	sim := e.story(t, tok, 250)

	tab := e.browser.NewTab(t)
	tab.Do(20*time.Second, chromedp.Navigate(e.base+"/story/"+sim))
	tab.Do(10*time.Second,
		chromedp.SendKeys(chromedp.CSS("#guest-name"), "Ada"),
		chromedp.Click(chromedp.CSS(".signin button")),
	)
	tab.WaitJS(30*time.Second, `document.querySelectorAll('#prose article.turn').length >= 12`, jsLastSeq)

	// Pick a turn whose map differs from the live one, so the change is
	// seen.
	live := webtest.MustEval[map[string]string](tab, jsMap)
	var at int64
	var want map[string]string
	for at = 8; at >= 1; at-- {
		if want = e.worldMap(t, sim, at); fmt.Sprint(want) != fmt.Sprint(live) {
			break
		}
	}
	if at < 1 {
		t.Fatalf("the map never changed in 10 turns: %v", live)
	}
	webtest.MustEval[bool](tab, jsScrubTo(at))
	wantJSON, _ := json.Marshal(want)
	tab.WaitJS(10*time.Second, fmt.Sprintf(`JSON.stringify(Object.fromEntries(Object.entries(%s).sort())) === JSON.stringify(Object.fromEntries(Object.entries(%s).map(([k, v]) => [k, v.replace(/\*/g, '')]).sort()))`, wantJSON, jsMap),
		`JSON.stringify(`+jsMap+`)`)
	label := webtest.MustEval[string](tab, `document.querySelector('#timeline-label').textContent`)
	if !strings.HasPrefix(label, fmt.Sprintf("Turn %d of ", at)) {
		t.Errorf("the timeline reads %q at turn %d", label, at)
	}
	// The cast shows where each was then.
	castWhere := webtest.MustEval[map[string]string](tab, `Object.fromEntries([...document.querySelectorAll('#cast li.cast-row')].map(li => [li.dataset.id, li.querySelector('.cast-where').textContent]))`)
	placeNames := webtest.MustEval[map[string]string](tab, `Object.fromEntries([...document.querySelectorAll('#map g[data-loc]')].map(g => [g.dataset.loc, g.querySelector('title')?.textContent || '']))`)
	for loc, ids := range want {
		for _, id := range strings.Split(ids, ",") {
			id = strings.TrimSuffix(id, "†")
			if id != "" && castWhere[id] != placeNames[loc] {
				t.Errorf("at turn %d the cast has %s at %q, the world at %q", at, id, castWhere[id], placeNames[loc])
			}
		}
	}
	// The prose went to that turn.
	if !webtest.MustEval[bool](tab, fmt.Sprintf(`document.querySelector('#prose article[data-seq="%d"]').classList.contains('scrub-here')`, at)) {
		t.Errorf("turn %d is not marked in the prose", at)
	}
	// Live turns keep coming: the slider's end follows them, its thumb
	// stays put.
	max0 := webtest.MustEval[int64](tab, `Number(document.querySelector('#timeline').max)`)
	tab.WaitJS(15*time.Second, fmt.Sprintf(`Number(document.querySelector('#timeline').max) >= %d`, max0+2), `document.querySelector('#timeline').max`)
	if v := webtest.MustEval[int64](tab, `Number(document.querySelector('#timeline').value)`); v != at {
		t.Errorf("the slider moved to %d while looking at turn %d", v, at)
	}
	tab.WaitJS(5*time.Second, fmt.Sprintf(`document.querySelector('#timeline-label').textContent === 'Turn %d of ' + document.querySelector('#timeline').max`, at),
		`[document.querySelector('#timeline-label').textContent, document.querySelector('#timeline').max]`)
	if webtest.UpdateScreenshots() {
		settleForScreenshot(tab)
		tab.Screenshot(screenshotPath("timeline.png"))
	}

	// Back to live.
	tab.Do(10*time.Second, chromedp.Click(chromedp.CSS("#back-to-live")))
	tab.WaitJS(10*time.Second, `document.querySelector('#timeline-label').textContent === 'Live' && document.querySelector('#timeline').value === document.querySelector('#timeline').max && document.querySelector('#back-to-live').hidden`,
		`[document.querySelector('#timeline-label').textContent, document.querySelector('#timeline').value, document.querySelector('#timeline').max]`)

	// Fork from turn 5 and watch the fork.
	webtest.MustEval[bool](tab, jsScrubTo(5))
	tab.WaitJS(10*time.Second, `document.querySelector('#fork').textContent === 'Fork from turn 5' && !document.querySelector('#fork').disabled`, `document.querySelector('#fork').textContent`)
	tab.Do(10*time.Second, chromedp.Click(chromedp.CSS("#fork")))
	tab.WaitJS(10*time.Second, `location.pathname.startsWith('/story/') && location.pathname !== '/story/`+sim+`'`, `location.pathname`)
	fork := strings.TrimPrefix(webtest.MustEval[string](tab, `location.pathname`), "/story/")
	tab.WaitJS(30*time.Second, `document.querySelectorAll('#prose article.turn').length >= 8`, jsLastSeq)
	tab.WaitJS(10*time.Second, `/Forked from/.test(document.querySelector('#lineage').textContent)`, `document.querySelector('#lineage').textContent`)
	if !regexp.MustCompile(`after turn 5\b`).MatchString(webtest.MustEval[string](tab, `document.querySelector('#lineage').textContent`)) {
		t.Errorf("lineage reads %q", webtest.MustEval[string](tab, `document.querySelector('#lineage').textContent`))
	}
	shown := webtest.MustEval[[]shownTurn](tab, jsShownTurns)
	checkShown(t, "the fork", shown)
	parent := e.storedTurns(t, sim, 5)
	for _, tr := range shown {
		if tr.Seq <= 5 && tr.Text != parent[tr.Seq] {
			t.Errorf("the fork's turn %d reads %q, its parent's %q", tr.Seq, tr.Text, parent[tr.Seq])
		}
	}
	var fv struct {
		Parent   string `json:"parent"`
		ForkedAt int64  `json:"forked_at"`
	}
	e.node.api(t, "GET", "/v1/simulations/"+fork, "", nil, &fv)
	if fv.Parent != sim || fv.ForkedAt != 5 {
		t.Errorf("the fork is %+v, want forked from %s at 5", fv, sim)
	}
	if webtest.UpdateScreenshots() {
		settleForScreenshot(tab)
		tab.Screenshot(screenshotPath("fork.png"))
	}
	if errs := tab.Errors(); len(errs) > 0 {
		t.Errorf("page errors: %v", errs)
	}
}
