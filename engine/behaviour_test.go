package engine

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

const arenaYAML = `
id: arena
title: Arena
premise: Four strangers snowed into a farmhouse.
genre: test
length: 1000
locations:
  - {id: kitchen, name: the kitchen, exits: [hall]}
  - {id: hall, name: the hall, exits: [barn]}
  - {id: barn, name: the barn, exits: [], hidden: [coin]}
items:
  - {id: coin, name: a coin}
characters:
  - {id: hot1, name: Hot One, role: drover, start: hall, traits: {aggression: 0.9, curiosity: 0.1}}
  - {id: hot2, name: Hot Two, role: smith, start: hall, traits: {aggression: 0.9, curiosity: 0.1}}
  - {id: cool1, name: Cool One, role: weaver, start: hall, traits: {aggression: 0.1, curiosity: 0.9}}
  - {id: cool2, name: Cool Two, role: miller, start: hall, traits: {aggression: 0.1, curiosity: 0.9}}
`

func TestTraitsShapeBehaviour(t *testing.T) {
	sc, err := ParseScenario([]byte(arenaYAML))
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]map[string]int{} // actor group -> kind -> count
	for seed := int64(0); seed < 120; seed++ {
		s := startSim(t, sc, seed, Options{})
		for _, tr := range play(t, s, 25, nil) {
			for _, e := range tr.Events {
				if e.Source == SourceScript {
					continue
				}
				g := strings.TrimRight(e.Actor, "12")
				if counts[g] == nil {
					counts[g] = map[string]int{}
				}
				counts[g][e.Kind]++
			}
		}
	}
	t.Logf("hot: %v", counts["hot"])
	t.Logf("cool: %v", counts["cool"])
	if h, c := counts["hot"][ActAttack], counts["cool"][ActAttack]; h < 3*c || h < 100 {
		t.Errorf("aggressive characters started %d fights, mild ones %d", h, c)
	}
	if h, c := counts["hot"][ActSearch], counts["cool"][ActSearch]; c < 2*h {
		t.Errorf("curious characters searched %d times, incurious ones %d", c, h)
	}
}

var sentenceEnd = regexp.MustCompile(`[.!?]["”]?\s+`)

func sentences(text string) []string {
	var out []string
	for _, s := range sentenceEnd.Split(text, -1) {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// TestProseVariety checks STORY.md's repetition measures over many seeds:
// distinct sentences over sentences, no two sentences in a row opening
// with the same word (within a turn), and the share of the most used
// template.
func TestProseVariety(t *testing.T) {
	for _, sc := range Builtins() {
		t.Run(sc.ID, func(t *testing.T) {
			ratios := 0.0
			repeatsInRow, pairs := 0, 0
			templates := map[string]int{}
			used := 0
			for seed := int64(0); seed < 30; seed++ {
				s := startSim(t, sc, seed, Options{})
				total, distinct := 0, map[string]bool{}
				for _, tr := range play(t, s, 200, nil) {
					ss := sentences(tr.Narrative)
					for i, x := range ss {
						total++
						distinct[x] = true
						if i > 0 {
							pairs++
							if firstWord(ss[i-1]) == firstWord(x) {
								repeatsInRow++
							}
						}
					}
				}
				ratios += float64(len(distinct)) / float64(total)
				for _, k := range s.w.Prose {
					if !strings.HasPrefix(k, "q#") {
						templates[k]++
						used++
					}
				}
			}
			ratio := ratios / 30
			top, topKey := 0, ""
			for k, n := range templates {
				if n > top {
					top, topKey = n, k
				}
			}
			t.Logf("distinct ratio %.3f, same opening word in a row %d/%d, top template %s %.1f%%",
				ratio, repeatsInRow, pairs, topKey, 100*float64(top)/float64(max(used, 1)))
			if ratio < 0.95 {
				t.Errorf("distinct sentence ratio %.3f < 0.95", ratio)
			}
			if share := float64(top) / float64(max(used, 1)); share > 0.10 {
				t.Errorf("template %s is %.1f%% of all, more than 10%%", topKey, 100*share)
			}
			if float64(repeatsInRow) > 0.05*float64(pairs) {
				t.Errorf("%d of %d adjacent sentences open with the same word", repeatsInRow, pairs)
			}
		})
	}
}

// TestStoriesTellCauses checks that told deeds carry reasons and that
// scripted events reach the prose.
func TestStoriesTellCauses(t *testing.T) {
	for _, sc := range Builtins() {
		s := startSim(t, sc, 7, Options{})
		turns := play(t, s, 200, nil)
		md := withoutIntroductions(s.cast(), RenderMarkdown(sc.Title, sc.Premise, turns))
		for _, e := range sc.Events {
			fired := false
			for _, tr := range turns {
				for _, ev := range tr.Events {
					if ev.Source == SourceScript && ev.Text == e.Effect.Text {
						fired = true
					}
				}
			}
			if fired && !strings.Contains(md, withoutIntroductions(s.cast(), strings.TrimSpace(e.Effect.Text))) {
				t.Errorf("%s: event %s fired but is not told", sc.ID, e.ID)
			}
		}
		if !turns[len(turns)-1].Finished {
			t.Errorf("%s: seed 7 did not finish", sc.ID)
		}
	}
}

// withoutIntroductions writes every way of naming a person, with the
// introductions the chronicler writes into a scenario's text ("Osric
// Pell, the harbour reeve, had" for "the reeve had"), as one mark, so
// that the text can be found as written.
func withoutIntroductions(c *Cast, md string) string {
	md = strings.ToLower(md)
	for _, p := range c.People {
		name := strings.ToLower(p.Name)
		md = regexp.MustCompile(regexp.QuoteMeta(name)+`, (the|a|an) `+regexp.QuoteMeta(strings.ToLower(p.Role))+`,?`).ReplaceAllString(md, "@")
		md = strings.ReplaceAll(md, name, "@")
	}
	var refs []string
	for _, p := range c.People {
		refs = append(refs, p.Refs...)
	}
	// Longest first: "the reaver captain" before "the reaver".
	slices.SortFunc(refs, func(a, b string) int { return len(b) - len(a) })
	for _, r := range refs {
		md = strings.ReplaceAll(md, r, "@")
	}
	return md
}

func BenchmarkStep10(b *testing.B) {
	sc := tenCharacters(b)
	ctx := context.Background()
	seed := int64(1)
	s := startSim(b, sc, seed, Options{})
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if s.Finished() || s.Seq() >= 200 {
			b.StopTimer()
			seed++
			s = startSim(b, sc, seed, Options{})
			b.StartTimer()
		}
		if _, err := s.Step(ctx, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// tenCharacters is the heronsalt scenario with four more islanders.
func tenCharacters(tb testing.TB) *Scenario {
	tb.Helper()
	base := mustBuiltin(tb, "heronsalt")
	sc := *base
	sc.ID = "heronsalt10"
	sc.Characters = append([]Character(nil), base.Characters...)
	starts := []string{"quay", "chapel", "saltpans", "lighthouse"}
	for i, st := range starts {
		c := base.Characters[4] // the innkeeper's temper, another name
		c.ID = fmt.Sprintf("extra%d", i)
		c.Name = fmt.Sprintf("Islander %d", i)
		c.Role = fmt.Sprintf("islander %d", i)
		c.Start = st
		c.Knows = nil
		c.Goals = []Goal{{ID: "help", Kind: GoalProtect, Target: "wren", Text: "to look after the tide-clerk"}}
		c.Relationships = map[string]float64{"wren": 0.3, "osric": -0.3}
		sc.Characters = append(sc.Characters, c)
	}
	if err := sc.Validate(); err != nil {
		tb.Fatal(err)
	}
	if len(sc.Characters) != 10 {
		tb.Fatalf("%d characters", len(sc.Characters))
	}
	return &sc
}

// TestProseClean checks the mechanics of every narrative over many
// seeds: no doubled space, no space before a full stop or comma, and no
// sentence that starts in lower case.
func TestProseClean(t *testing.T) {
	for _, sc := range Builtins() {
		for seed := int64(0); seed < 24; seed++ {
			s := startSim(t, sc, seed, Options{})
			for _, tr := range play(t, s, 200, nil) {
				text := tr.Narrative
				for _, bad := range []string{"  ", " .", " ,"} {
					if strings.Contains(strings.ReplaceAll(text, "\n\n", " "), bad) {
						t.Errorf("%s seed %d turn %d: %q in %q", sc.ID, seed, tr.Seq, bad, text)
					}
				}
				for _, para := range strings.Split(text, "\n\n") {
					for _, sent := range sentences(para) {
						r, _ := utf8.DecodeRuneInString(strings.TrimLeft(sent, "\"'“*("))
						if unicode.IsLower(r) {
							t.Errorf("%s seed %d turn %d: sentence starts in lower case: %q", sc.ID, seed, tr.Seq, sent)
						}
					}
				}
			}
		}
	}
}
