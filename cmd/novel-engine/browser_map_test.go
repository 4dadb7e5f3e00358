package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/novel-engine/novel-engine/engine"
	"github.com/novel-engine/novel-engine/web/webtest"
)

// box is an element's rectangle on the page, in CSS pixels.
type box struct {
	Left   float64 `json:"left"`
	Top    float64 `json:"top"`
	Right  float64 `json:"right"`
	Bottom float64 `json:"bottom"`
}

func (a box) String() string {
	return fmt.Sprintf("[%.1f,%.1f–%.1f,%.1f]", a.Left, a.Top, a.Right, a.Bottom)
}

// overlaps reports whether a and b share more than a hair's breadth.
func (a box) overlaps(b box) bool {
	const eps = 0.5
	return a.Left < b.Right-eps && b.Left < a.Right-eps && a.Top < b.Bottom-eps && b.Top < a.Bottom-eps
}

// inside reports whether a lies within b.
func (a box) inside(b box) bool {
	const eps = 0.5
	return a.Left >= b.Left-eps && a.Right <= b.Right+eps && a.Top >= b.Top-eps && a.Bottom <= b.Bottom+eps
}

type mapPlace struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Label box    `json:"label"` // the label's frame
	Text  box    `json:"text"`  // the name's glyphs
	Marks []box  `json:"marks"` // the markers of the people there
}

// jsMapBoxes measures the map: every place's label, name and markers, and
// the part of the page where the map can be seen (the SVG, cut by any
// ancestor that clips, and by the window's width).
const jsMapBoxes = `(() => {
	const b = (r) => ({left: r.left, top: r.top, right: r.right, bottom: r.bottom});
	const svg = document.querySelector('#map svg');
	const clip = b(svg.getBoundingClientRect());
	for (let e = svg.parentElement; e; e = e.parentElement) {
		const cs = getComputedStyle(e);
		if (cs.overflowX === 'visible' && cs.overflowY === 'visible') continue;
		if (e === document.documentElement || e === document.body) continue;
		const r = e.getBoundingClientRect();
		clip.left = Math.max(clip.left, r.left); clip.right = Math.min(clip.right, r.right);
		clip.top = Math.max(clip.top, r.top); clip.bottom = Math.min(clip.bottom, r.bottom);
	}
	clip.left = Math.max(clip.left, 0); clip.right = Math.min(clip.right, document.documentElement.clientWidth);
	const places = [...svg.querySelectorAll('g.loc')].map((g) => ({
		id: g.dataset.loc,
		name: g.querySelector('title').textContent,
		label: b(g.querySelector('rect').getBoundingClientRect()),
		text: b(g.querySelector('text').getBoundingClientRect()),
		marks: [...g.querySelectorAll('.who-mark circle')].map((m) => b(m.getBoundingClientRect())),
	}));
	return {clip, places};
})()`

// checkMap fails when a label or marker is clipped, a name sticks out of
// its label, or two places' labels or markers overlap.
func checkMap(t *testing.T, where string, clip box, places []mapPlace) {
	t.Helper()
	for i, p := range places {
		if !p.Text.inside(p.Label) {
			t.Errorf("%s: the name %q %v sticks out of its label %v", where, p.Name, p.Text, p.Label)
		}
		if !p.Label.inside(clip) {
			t.Errorf("%s: the label %q %v is cut by the map's edge %v", where, p.Name, p.Label, clip)
		}
		for _, m := range p.Marks {
			if !m.inside(clip) {
				t.Errorf("%s: a marker at %q %v is cut by the map's edge %v", where, p.Name, m, clip)
			}
		}
		for _, q := range places[i+1:] {
			if p.Label.overlaps(q.Label) {
				t.Errorf("%s: the labels %q %v and %q %v overlap", where, p.Name, p.Label, q.Name, q.Label)
			}
			for _, m := range p.Marks {
				if m.overlaps(q.Label) {
					t.Errorf("%s: a marker at %q %v covers the label %q %v", where, p.Name, m, q.Name, q.Label)
				}
				for _, n := range q.Marks {
					if m.overlaps(n) {
						t.Errorf("%s: markers at %q %v and %q %v overlap", where, p.Name, m, q.Name, n)
					}
				}
			}
			for _, m := range q.Marks {
				if m.overlaps(p.Label) {
					t.Errorf("%s: a marker at %q %v covers the label %q %v", where, q.Name, m, p.Name, p.Label)
				}
			}
		}
	}
}

// TestBrowserMapLabels draws the map of every built-in scenario at desktop
// and at phone width: no label overlaps another or is cut, every name
// fits its label, and the people's markers cover no other place's label.
func TestBrowserMapLabels(t *testing.T) {
	e := newBrowserEnv(t)
	tok := e.node.guest(t, "Wren")
	tab := e.browser.NewTab(t)
	for _, sc := range engine.Builtins() {
		// Not started: the map shows everyone where the scenario puts them.
		sim := e.node.create(t, tok, map[string]any{"scenario": sc.ID, "seed": 7, "autostart": false}).ID
		for _, width := range []struct {
			name string
			w, h int64
		}{{"desktop", 1280, 900}, {"phone", 375, 812}} {
			where := fmt.Sprintf("%s at %s width", sc.ID, width.name)
			tab.Do(10*time.Second, chromedp.EmulateViewport(width.w, width.h, chromedp.EmulateScale(1)))
			tab.Do(20*time.Second, chromedp.Navigate(e.base+"/story/"+sim))
			tab.WaitJS(10*time.Second, fmt.Sprintf(`document.querySelectorAll('#map g.loc').length === %d && document.querySelectorAll('#map .who-mark').length > 0`, len(sc.Locations)),
				`document.querySelector('#map').innerHTML.length`)
			tab.WaitJS(5*time.Second, fmt.Sprintf(`window.innerWidth === %d`, width.w), `window.innerWidth`)
			got := webtest.MustEval[struct {
				Clip   box        `json:"clip"`
				Places []mapPlace `json:"places"`
			}](tab, jsMapBoxes)
			if len(got.Places) != len(sc.Locations) {
				t.Fatalf("%s: %d places drawn, want %d", where, len(got.Places), len(sc.Locations))
			}
			checkMap(t, where, got.Clip, got.Places)
			// The whole name is there for those who hover or use a screen reader.
			for _, p := range got.Places {
				found := false
				for _, l := range sc.Locations {
					found = found || (l.ID == p.ID && l.Name == p.Name)
				}
				if !found {
					t.Errorf("%s: the place %q is titled %q, not its full name", where, p.ID, p.Name)
				}
			}
		}
	}
	tab.Do(10*time.Second, chromedp.EmulateReset())
	if errs := tab.Errors(); len(errs) > 0 {
		t.Errorf("page errors: %v", errs)
	}
}
