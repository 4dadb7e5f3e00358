package engine

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// The reader's checks on the cast and the prose's variety, measured over
// many seeds of every built-in scenario: people introduced before they
// are called by role, one way of naming a person per sentence, no
// pronoun that could point at two people, relationship lines that say
// why, and sentences that neither repeat nor fall into one shape.

// castMeter knows how a scenario's people, places and items are named.
type castMeter struct {
	ids      []string
	names    map[string][]string // full name, first name, surname
	roles    map[string][]string // "the reeve", "the harbour reeve"
	pronouns map[string]string
	things   []string // place and item names, longest first
}

func newCastMeter(sc *Scenario) *castMeter {
	m := &castMeter{names: map[string][]string{}, roles: map[string][]string{}, pronouns: map[string]string{}}
	heads := map[string]int{}
	for _, c := range sc.Characters {
		w := strings.Fields(strings.ToLower(c.Role))
		heads[w[len(w)-1]]++
	}
	for _, c := range sc.Characters {
		m.ids = append(m.ids, c.ID)
		f := strings.Fields(c.Name)
		m.names[c.ID] = []string{c.Name, f[0], f[len(f)-1]}
		role := strings.ToLower(c.Role)
		rs := []string{"the " + role}
		w := strings.Fields(role)
		if head := w[len(w)-1]; heads[head] == 1 && head != role {
			rs = append(rs, "the "+head)
		}
		m.roles[c.ID] = rs
		m.pronouns[c.ID] = c.Pronoun
	}
	for _, l := range sc.Locations {
		m.things = append(m.things, l.Name)
	}
	for _, it := range sc.Items {
		m.things = append(m.things, it.Name)
	}
	sort.Slice(m.things, func(a, b int) bool { return len(m.things[a]) > len(m.things[b]) })
	return m
}

// unquoted drops quoted speech, whose words are the speaker's own.
var quoted = regexp.MustCompile(`"[^"]*"`)

func wordAt(s, w string) bool {
	for i := 0; ; {
		k := strings.Index(s[i:], w)
		if k < 0 {
			return false
		}
		k += i
		before := k == 0 || !isWordByte(s[k-1])
		after := k+len(w) >= len(s) || !isWordByte(s[k+len(w)])
		if before && after {
			return true
		}
		i = k + 1
	}
}

func isWordByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b == '-'
}

// refs says, for a sentence, whom it names by name and whom by role.
func (m *castMeter) refs(s string) (byName, byRole map[string]bool) {
	byName, byRole = map[string]bool{}, map[string]bool{}
	plain := quoted.ReplaceAllString(s, "")
	low := strings.ToLower(plain)
	for _, id := range m.ids {
		for _, n := range m.names[id] {
			if wordAt(plain, n) {
				byName[id] = true
			}
		}
	}
	// Longest role first, blanked once found: "the reaver" inside "the
	// reaver captain" is not a second person.
	type ref struct{ id, r string }
	var all []ref
	for _, id := range m.ids {
		for _, r := range m.roles[id] {
			all = append(all, ref{id, r})
		}
	}
	sort.SliceStable(all, func(a, b int) bool { return len(all[a].r) > len(all[b].r) })
	for _, x := range all {
		if wordAt(low, x.r) {
			byRole[x.id] = true
			low = strings.ReplaceAll(low, x.r, strings.Repeat("#", len(x.r)))
		}
	}
	return byName, byRole
}

func (m *castMeter) shape(s string) string {
	for _, id := range m.ids {
		for _, n := range m.names[id] {
			s = strings.ReplaceAll(s, n, "P")
		}
	}
	s = strings.ToLower(s)
	for _, id := range m.ids {
		for _, r := range m.roles[id] {
			s = strings.ReplaceAll(s, r, "p")
		}
	}
	for _, t := range m.things {
		s = strings.ReplaceAll(s, strings.ToLower(t), "x")
	}
	for _, p := range []string{"she", "he", "they", "her", "his", "him", "their", "them", "herself", "himself", "themselves"} {
		s = regexp.MustCompile(`\b`+p+`\b`).ReplaceAllString(s, "p")
	}
	return s
}

var pronounWords = map[string]string{"she": "she", "her": "she", "herself": "she", "he": "he", "him": "he", "his": "he", "himself": "he"}

// castStats are one story's figures for these checks.
type castStats struct {
	sentences, shapes, repeats int
	topFamily                  string
	topFamilyShare             float64
	roleBeforeIntro            int
	bothWays                   int
	ambiguous                  int
	bonds, bondsCaused         int
	bondsNear                  int
	examples                   []string
}

// templateFamily groups a template key with its synonyms: the first two
// parts of its name ("move.company.at#2" is "move.company").
func templateFamily(key string) string {
	key, _, _ = strings.Cut(key, "#")
	parts := strings.SplitN(key, ".", 3)
	if len(parts) > 2 {
		parts = parts[:2]
	}
	return strings.Join(parts, ".")
}

func measureCast(tb testing.TB, sc *Scenario, seed int64, m *castMeter) castStats {
	rec := &recorder{}
	play(tb, startSim(tb, sc, seed, Options{Chronicler: rec}), 200, nil)
	var st castStats
	introduced := map[string]bool{}
	seen := map[string]bool{}
	shapes := map[string]bool{}
	families := map[string]int{}
	uses := 0
	note := func(format string, args ...any) {
		if len(st.examples) < 6 {
			st.examples = append(st.examples, fmt.Sprintf(format, args...))
		}
	}
	for _, tt := range rec.turns {
		for _, u := range tt.used {
			if !strings.HasPrefix(u, "q#") && !strings.HasPrefix(u, "again:") {
				families[templateFamily(u)]++
				uses++
			}
		}
		var prev map[string]bool
		for _, para := range strings.Split(tt.text, "\n\n") {
			prev = nil
			for _, x := range sentences(para) {
				st.sentences++
				if seen[x] {
					st.repeats++
				}
				seen[x] = true
				shapes[m.shape(x)] = true
				byName, byRole := m.refs(x)
				people := map[string]bool{}
				for _, id := range m.ids {
					if !byName[id] && !byRole[id] {
						continue
					}
					people[id] = true
					switch {
					case byName[id] && byRole[id] && !introduced[id]:
						introduced[id] = true
					case byName[id] && byRole[id]:
						st.bothWays++
						note("both ways, turn %d: %s", tt.scene.Seq, x)
					case byRole[id] && !introduced[id]:
						st.roleBeforeIntro++
						note("role first, turn %d: %s", tt.scene.Seq, x)
					}
				}
				// A quotation the splitter cut in two is the speaker's own.
				if strings.Count(x, `"`)%2 == 0 && ambiguousPronoun(m, quoted.ReplaceAllString(x, ""), people, prev) {
					st.ambiguous++
					note("ambiguous, turn %d: %s", tt.scene.Seq, x)
				}
				prev = people
			}
		}
		// Relationship lines and their causes.
		for k, r := range tt.scene.Records {
			if r.Kind != "bond" || !tt.keep[k] || r.Detail == "mutual-skip" {
				continue
			}
			st.bonds++
			if bondCauseTold(&tt, &r) {
				st.bondsCaused++
			}
			if bondCauseNear(&tt, &r) {
				st.bondsNear++
			}
		}
	}
	st.shapes = len(shapes)
	for f, n := range families {
		if sh := float64(n) / float64(max(uses, 1)); sh > st.topFamilyShare || sh == st.topFamilyShare && f < st.topFamily {
			st.topFamily, st.topFamilyShare = f, sh
		}
	}
	return st
}

// ambiguousPronoun: a third-person pronoun in a sentence that names two
// people it could stand for, or that opens a sentence after one that
// named two.
func ambiguousPronoun(m *castMeter, s string, people, prev map[string]bool) bool {
	words := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !(r >= 'a' && r <= 'z') })
	count := func(set map[string]bool, p string) int {
		n := 0
		for id := range set {
			if m.pronouns[id] == p {
				n++
			}
		}
		return n
	}
	for i, w := range words {
		p, ok := pronounWords[w]
		if !ok {
			continue
		}
		if count(people, p) >= 2 {
			return true
		}
		if i == 0 && count(people, p) == 0 && count(prev, p) >= 2 {
			return true
		}
	}
	return false
}

// bondCauseTold: the turn that tells a relationship change also tells
// what changed it: the record the director names as its cause.
func bondCauseTold(tt *toldTurn, b *Record) bool {
	return b.CauseAt > 0 && tt.keep[b.CauseAt-1]
}

// bondCauseNear is the looser reading: a told deed between the two, a
// blow the one saw the other strike, or something the one learned.
func bondCauseNear(tt *toldTurn, b *Record) bool {
	for k, r := range tt.scene.Records {
		if !tt.keep[k] {
			continue
		}
		switch r.Kind {
		case "bond", "goal", "outcome", "ending":
			continue
		}
		pair := (r.Actor == b.Actor && r.Target == b.Target) || (r.Actor == b.Target && r.Target == b.Actor)
		witnessed := r.Actor == b.Target && (r.Kind == ActAttack || r.Kind == ActHelp || r.Kind == ActTake)
		learned := r.Actor == b.Actor && (r.Kind == ActSearch && r.Detail == "fact")
		told := r.Target == b.Actor && r.Kind == ActSpeak && r.Detail == "fact"
		if pair || witnessed || learned || told || r.Kind == "reaction" && r.Actor == b.Actor && r.Target == b.Target {
			return true
		}
	}
	return slices.Contains(tt.used, "bond.why")
}

func TestCastChecks(t *testing.T) {
	seeds := int64(50)
	if testing.Short() {
		seeds = 10
	}
	for _, sc := range Builtins() {
		t.Run(sc.ID, func(t *testing.T) {
			m := newCastMeter(sc)
			var sum castStats
			shapeRatio, repeats, family, worstFamily := 0.0, 0.0, 0.0, 0.0
			worstKey := ""
			var examples []string
			for seed := range seeds {
				st := measureCast(t, sc, seed+100, m)
				shapeRatio += float64(st.shapes) / float64(max(st.sentences, 1))
				repeats += float64(st.repeats)
				family += st.topFamilyShare
				if st.topFamilyShare > worstFamily {
					worstFamily, worstKey = st.topFamilyShare, st.topFamily
				}
				sum.sentences += st.sentences
				sum.roleBeforeIntro += st.roleBeforeIntro
				sum.bothWays += st.bothWays
				sum.ambiguous += st.ambiguous
				sum.bonds += st.bonds
				sum.bondsCaused += st.bondsCaused
				sum.bondsNear += st.bondsNear
				if len(examples) < 6 {
					examples = append(examples, st.examples...)
				}
			}
			n := float64(seeds)
			t.Logf("%s over %d seeds: shapes/sentences %.3f; repeated sentences per story %.2f; top template family %.1f%% (worst %.1f%% %s)",
				sc.ID, seeds, shapeRatio/n, repeats/n, 100*family/n, 100*worstFamily, worstKey)
			t.Logf("role before introduction %d; named both ways %d; ambiguous pronouns %d; of %d sentences",
				sum.roleBeforeIntro, sum.bothWays, sum.ambiguous, sum.sentences)
			t.Logf("relationship lines with their cause told the same turn %.1f%% of %d (a deed between the two, or seen, or learned: %.1f%%)",
				100*float64(sum.bondsCaused)/float64(max(sum.bonds, 1)), sum.bonds, 100*float64(sum.bondsNear)/float64(max(sum.bonds, 1)))
			for _, e := range examples {
				t.Log("  ", e)
			}
			fail := func(ok bool, format string, args ...any) {
				if !ok {
					t.Errorf(format, args...)
				}
			}
			fail(sum.roleBeforeIntro == 0, "%d sentences call someone by role before the story introduced them", sum.roleBeforeIntro)
			fail(sum.bothWays == 0, "%d sentences name one person both by name and by role", sum.bothWays)
			fail(sum.ambiguous == 0, "%d sentences have a pronoun that could mean two people", sum.ambiguous)
			fail(100*float64(sum.bondsCaused) >= 90*float64(max(sum.bonds, 1)), "only %d of %d relationship lines told with their cause", sum.bondsCaused, sum.bonds)
		})
	}
}
