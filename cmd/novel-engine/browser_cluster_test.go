package main

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/novel-engine/novel-engine/cluster/redistest"
	"github.com/novel-engine/novel-engine/internal/poll"
	"github.com/novel-engine/novel-engine/store/postgres/pgtest"
	"github.com/novel-engine/novel-engine/web/webtest"
)

// TestBrowserThroughBalancer opens the UI through the bundled balancer in
// front of a two-node cluster, as deploy/local-cluster.sh serves it: the
// page's WebSocket must pass the nodes' same-origin check, so the page
// goes live, shows turns, and lets a guest claim a character.
func TestBrowserThroughBalancer(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a cluster of real processes")
	}
	b := webtest.NewBrowser(t)
	c := startCluster(t, 2, pgtest.URL(t), redistest.URL(t))
	l := c.lb()
	tok := l.guest(t, "Wren")
	sim := l.create(t, tok, map[string]any{"scenario": browserScenario, "seed": 7, "turn_interval_ms": 300, "max_turns": 5000}).ID

	tab := b.NewTab(t)
	tab.Do(20*time.Second, chromedp.Navigate(c.lbURL+"/story/"+sim))
	tab.WaitJS(20*time.Second, `window.novel.client.isOpen && document.querySelectorAll('#prose article.turn').length >= 2`,
		`[window.novel.client.state, document.querySelector('#banner').innerText, document.querySelectorAll('#prose article.turn').length]`)
	if !webtest.MustEval[bool](tab, `document.querySelector('#banner').hidden`) {
		t.Errorf("the banner shows %q on a live page", webtest.MustEval[string](tab, `document.querySelector('#banner').innerText`))
	}
	checkShown(t, "the page", webtest.MustEval[[]shownTurn](tab, jsShownTurns))

	// Sign in, then claim over the socket, which reconnects with the token.
	tab.Do(10*time.Second,
		chromedp.SendKeys(chromedp.CSS("#guest-name"), "Ada"),
		chromedp.Click(chromedp.CSS(".signin button")),
	)
	tab.WaitJS(15*time.Second, `!!document.querySelector('#cast li[data-id="mara"] button[aria-label^="Play"]:not([disabled])') && window.novel.client.isOpen`,
		`[window.novel.client.state, document.querySelector('#cast').innerText]`)
	webtest.MustEval[bool](tab, `(() => { document.querySelector('#cast li[data-id="mara"] button[aria-label^="Play"]:not([disabled])').click(); return true })()`)
	tab.WaitJS(15*time.Second, `!!document.querySelector('#play button.move')`, `document.querySelector('#play').innerText`)
	poll.Until(t, 10*time.Second, "the cluster to seat Ada", func() bool {
		var v simView
		l.api(t, "GET", "/v1/simulations/"+sim, "", nil, &v)
		for _, ch := range v.Characters {
			if ch.ID == "mara" {
				return ch.Seat != nil && ch.Seat.UserName == "Ada"
			}
		}
		return false
	})
	if errs := tab.Errors(); len(errs) > 0 {
		t.Errorf("page errors: %v", errs)
	}
}
