package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/novel-engine/novel-engine/internal/votetest"
	"github.com/novel-engine/novel-engine/web/webtest"
)

// TestBrowserAudienceVote: in a story with audience votes, the vote on
// the next twist appears with its options and a countdown; clicking one
// casts a ballot; the turn that plays the twist shows how the vote came
// out.
func TestBrowserAudienceVote(t *testing.T) {
	e := newBrowserEnv(t)
	tok := e.node.guest(t, "Wren")
	sim := e.node.create(t, tok, map[string]any{
		"scenario": json.RawMessage(votetest.Scenario(t, "browser-votes")), "seed": 3, "turn_interval_ms": 300,
		"max_turns": 500, "autostart": false, "audience_votes": true, "vote_window_ms": 10000,
	}).ID

	tab := e.browser.NewTab(t)
	tab.Do(20*time.Second, chromedp.Navigate(e.base+"/story/"+sim))
	tab.Do(10*time.Second,
		chromedp.SendKeys(chromedp.CSS("#guest-name"), "Ada"),
		chromedp.Click(chromedp.CSS(".signin button")),
	)
	tab.WaitJS(10*time.Second, `!!document.querySelector('.account') && /Ada/.test(document.querySelector('.account').textContent) && document.querySelector('#conn').dataset.state === 'open'`,
		`[document.querySelector('.account').textContent, document.querySelector('#conn').dataset.state]`)
	if code := e.node.api(t, "POST", "/v1/simulations/"+sim+"/resume", tok, nil, nil); code != 200 {
		t.Fatalf("resume: %d", code)
	}

	tab.WaitJS(20*time.Second, `!document.querySelector('#vote').hidden && document.querySelectorAll('#vote button.vote-option').length >= 2`,
		`document.querySelector('#vote').outerHTML`)
	if c := webtest.MustEval[string](tab, `document.querySelector('#vote-countdown').textContent`); !strings.HasPrefix(c, "Closes in ") {
		t.Errorf("the countdown reads %q", c)
	}
	turn := webtest.MustEval[int64](tab, `Number(/turn (\d+)/.exec(document.querySelector('#vote-h').textContent)[1])`)
	option := webtest.MustEval[string](tab, `[...document.querySelectorAll('#vote button.vote-option')].pop().dataset.option`)
	label := webtest.MustEval[string](tab, `[...document.querySelectorAll('#vote button.vote-option')].pop().textContent`)
	tab.Do(10*time.Second, chromedp.Click(chromedp.CSS(fmt.Sprintf(`#vote button.vote-option[data-option=%q]`, option))))
	tab.WaitJS(10*time.Second, `/You voted for/.test(document.querySelector('#vote-mine').textContent) && document.querySelector('#vote button.chosen')?.dataset.option === `+fmt.Sprintf("%q", option),
		`[document.querySelector('#vote-mine').textContent, document.querySelector('#vote').innerHTML]`)
	if webtest.UpdateScreenshots() {
		settleForScreenshot(tab)
		tab.Screenshot(screenshotPath("vote.png"))
	}

	// The turn that plays the twist shows the result, and its vote is
	// gone (the next may be open already).
	tab.WaitJS(20*time.Second, fmt.Sprintf(`!!document.querySelector('#prose article[data-seq="%d"] p.vote-result')`, turn), jsLastSeq)
	result := webtest.MustEval[string](tab, fmt.Sprintf(`document.querySelector('#prose article[data-seq="%d"] p.vote-result').textContent`, turn))
	if want := "The audience chose, 1 of 1 vote: " + label; result != want {
		t.Errorf("turn %d reads %q, want %q", turn, result, want)
	}
	tab.WaitJS(5*time.Second, fmt.Sprintf(`document.querySelector('#vote').hidden || document.querySelector('#vote-h').textContent !== 'Vote: the twist of turn %d'`, turn),
		`document.querySelector('#vote').outerHTML`)
	var turns struct {
		Turns []struct {
			Seq  int64 `json:"seq"`
			Vote *struct {
				Chosen string `json:"chosen"`
			} `json:"vote"`
		} `json:"turns"`
	}
	e.node.api(t, "GET", fmt.Sprintf("/v1/simulations/%s/turns?since=%d&limit=1", sim, turn-1), "", nil, &turns)
	if len(turns.Turns) != 1 || turns.Turns[0].Vote == nil || turns.Turns[0].Vote.Chosen != option {
		t.Errorf("turn %d as stored: %+v, want %s chosen", turn, turns.Turns, option)
	}
	if errs := tab.Errors(); len(errs) > 0 {
		t.Errorf("page errors: %v", errs)
	}
}
