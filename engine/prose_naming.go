// Referring expressions: how people, places and items are named in a
// sentence. A person is introduced once in the story, by name and role
// ("Wren Hallowby, the tide-clerk"); after that, within a turn, by name
// at first mention, then by pronoun where it cannot point at anyone
// else, otherwise by role. One sentence names one person one way.

package engine

import (
	"slices"
	"strings"
	"unicode"
)

// Ways a sentence has named a person.
const (
	formName    = 'n'
	formRole    = 'r'
	formPronoun = 'p'
)

// refer names a character for a slot of the sentence being rendered. It
// reports whether it chose a pronoun. A possessive slot never carries an
// introduction; an object or subject slot may, once per sentence.
func (t *teller) refer(rd *rendering, id string, possessive, opening bool) (string, bool) {
	p, ok := t.cast.People[id]
	if !ok {
		return "someone", false
	}
	if f, again := rd.form(id); again {
		// A second mention in one sentence: a pronoun if it can only
		// mean this person, else the same way as the first.
		if !t.ambiguous(rd, id) {
			return pronoun(p.Pronoun, "sub"), true
		}
		if f == formRole && t.roleRef(id) != "" {
			return t.roleRef(id), false
		}
		return p.Short, false
	}
	hint := rd.hints[id]
	switch {
	case !t.intro[id] && !rd.introduced && !possessive && p.Role != "" && hint != formRole:
		rd.introduced = true
		rd.noteIntro(t, id)
		rd.setForm(id, formName)
		return p.Name + ", " + article(t, id) + p.Role + apposClose(rd.rest), false
	case hint == formRole && t.intro[id] && t.roleRef(id) != "":
		// The sentence's text calls them by role: so does the sentence.
		rd.setForm(id, formRole)
		return t.roleRef(id), false
	case hint == formName || !rd.named[id]:
		rd.setForm(id, formName)
		return p.Name, false
	case id == rd.lastSubj && !t.ambiguous(rd, id) && !t.crowded(rd.lastPeople, id):
		rd.setForm(id, formPronoun)
		return pronoun(p.Pronoun, "sub"), true
	case t.intro[id] && t.roleRef(id) != "" && !(opening && t.lastFirst == "the"):
		// By role, unless that would open two sentences in a row
		// with "The".
		rd.setForm(id, formRole)
		return t.roleRef(id), false
	}
	rd.setForm(id, formName)
	return p.Name, false
}

// roleRef is how the story calls id by role, if the role is theirs
// alone: "the" and the role. "" if others share it.
func (t *teller) roleRef(id string) string {
	p := t.cast.People[id]
	if p.Role == "" || !t.uniqueRole(id) {
		return ""
	}
	return t.ix().theRole[id]
}

// article is how an introduction names the role: "the" if the role is
// the person's alone, else "a" or "an".
func article(t *teller, id string) string {
	if t.uniqueRole(id) {
		return "the "
	}
	r := strings.ToLower(t.cast.People[id].Role)
	if r != "" && strings.ContainsRune("aeiou", rune(r[0])) {
		return "an "
	}
	return "a "
}

// apposClose closes an apposition with a comma unless the sentence goes
// on with punctuation of its own.
func apposClose(rest string) string {
	if rest == "" || strings.ContainsRune(".,;:!?)\"", rune(rest[0])) {
		return ""
	}
	return ","
}

// ambiguous reports whether anyone else the sentence mentions goes by
// id's pronoun.
func (t *teller) ambiguous(rd *rendering, id string) bool {
	return t.crowded(rd.people, id)
}

// crowded reports whether anyone in people but id goes by id's pronoun.
func (t *teller) crowded(people []string, id string) bool {
	pr := t.cast.People[id].Pronoun
	for _, o := range people {
		if o != "" && o != id {
			if q, ok := t.cast.People[o]; ok && q.Pronoun == pr {
				return true
			}
		}
	}
	return false
}

func (t *teller) uniqueRole(id string) bool { return t.ix().unique[id] }

func pronoun(p, form string) string {
	// A table per pronoun, not a map built per call: this runs for
	// nearly every person in every sentence.
	var forms [3]string
	switch p {
	case "she":
		forms = [3]string{"she", "her", "her"}
	case "he":
		forms = [3]string{"he", "him", "his"}
	default:
		forms = [3]string{"they", "them", "their"}
	}
	switch form {
	case "sub":
		return forms[0]
	case "obj":
		return forms[1]
	case "pos":
		return forms[2]
	}
	return ""
}

func possessive(ref, pr string, isPronoun bool) string {
	if isPronoun {
		return pronoun(pr, "pos")
	}
	if strings.HasSuffix(ref, "s") {
		return ref + "'"
	}
	return ref + "'s"
}

func (t *teller) personName(id string) string { return t.cast.People[id].Name }

func (t *teller) placeName(id string) string {
	if n, ok := t.cast.Places[id]; ok {
		return n
	}
	return "somewhere"
}

// itemName names an item: by the scenario's name, or else by its id made
// readable ("brass_key" is "the brass key").
func (t *teller) itemName(id string) string {
	if n, ok := t.cast.Items[id]; ok {
		return n
	}
	if id == "" {
		return ""
	}
	return "the " + strings.Join(strings.FieldsFunc(id, func(r rune) bool { return r == '_' || r == '-' || unicode.IsSpace(r) }), " ")
}

// listNames names a group by name, or by role once introduced; a list is
// no place for an introduction.
func (t *teller) listNames(ids []string) string {
	names := make([]string, 0, len(ids))
	for _, id := range ids {
		n := t.personName(id)
		if t.named[id] && t.intro[id] && t.roleRef(id) != "" {
			n = t.roleRef(id)
		}
		names = append(names, n)
		t.named[id] = true
	}
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// castIndex is what naming needs of a cast, worked out once per story:
// the ids in order, each person's names, and every role reference,
// longest first.
type castIndex struct {
	ids   []string
	names map[string][3]string // full, first, last
	refs  []castRef
	// Role words for stock lines: "the reeve", "reeve's", and the
	// vocatives ", reeve." and the like.
	theLast, lastPos map[string]string
	vocatives        map[string][4]string
	// unique: whose role nobody else shares.
	unique map[string]bool
	// theRole: "the " and the role, built once rather than per mention.
	theRole map[string]string
	// texts: whom each text seen names (see textRefs).
	texts map[string]textRef
	// shapes replaces every name with a mark (see prose_shape.go).
	shapes *shapeNames
}

// textRef is whom a text names: by name, and by role (in the order the
// roles are mentioned).
type textRef struct{ names, roles []string }

type castRef struct{ id, ref string }

// ix is the cast's index, built on first use.
func (t *teller) ix() *castIndex {
	if t.cast.index == nil {
		t.cast.index = indexCast(t.cast)
	}
	return t.cast.index
}

func indexCast(c *Cast) *castIndex {
	x := &castIndex{names: map[string][3]string{}, theLast: map[string]string{}, lastPos: map[string]string{}, vocatives: map[string][4]string{}, unique: map[string]bool{}, theRole: map[string]string{}, texts: map[string]textRef{}}
	roles := map[string]int{}
	for _, p := range c.People {
		roles[p.Role]++
	}
	for id := range c.People {
		x.ids = append(x.ids, id)
	}
	slices.Sort(x.ids)
	for _, id := range x.ids {
		p := c.People[id]
		f := strings.Fields(p.Name + " ?")
		if len(f) > 1 {
			f = f[:len(f)-1]
		}
		x.names[id] = [3]string{p.Name, f[0], f[len(f)-1]}
		x.unique[id] = roles[p.Role] == 1
		x.theRole[id] = "the " + p.Role
		for _, r := range p.Refs {
			x.refs = append(x.refs, castRef{id, r})
		}
		w := strings.FieldsFunc(strings.ToLower(p.Role), func(r rune) bool { return r == ' ' || r == '-' })
		if len(w) > 0 {
			last := w[len(w)-1]
			x.theLast[id], x.lastPos[id] = "the "+last, last+"'s"
			x.vocatives[id] = [4]string{", " + last + ".", ", " + last + "!", ", " + last + "?", ", " + last + ","}
		}
	}
	slices.SortStableFunc(x.refs, func(a, b castRef) int { return len(b.ref) - len(a.ref) })
	return x
}

// textRefs finds whom a piece of text (a fact, a scripted line) names,
// and how: by name (full, first or last) or by role. The answer depends
// on the text and the cast alone, and the same texts (places, things,
// lines) come back turn after turn, so it is kept in the cast's index.
func (t *teller) textRefs(text string, into map[string]byte) {
	if text == "" {
		return
	}
	x := t.ix()
	r, ok := x.texts[text]
	if !ok {
		for _, id := range x.ids {
			for _, n := range x.names[id] {
				if hasWord(text, n) {
					r.names = append(r.names, id)
					break
				}
			}
		}
		for _, m := range t.roleMentions(text) {
			r.roles = append(r.roles, m.id)
		}
		if len(x.texts) >= 1024 {
			clear(x.texts) // bounded: texts may be a player's words
		}
		x.texts[text] = r
	}
	for _, id := range r.names {
		into[id] = formName
	}
	for _, id := range r.roles {
		if _, ok := into[id]; !ok {
			into[id] = formRole
		}
	}
}

// roleMention is a role reference found in a text: whose, and where.
type roleMention struct {
	id         string
	start, end int
}

// roleMentions finds the role references in a text, longest first, so
// that "the reaver" inside "the reaver captain" is not taken for a
// second person; in order of place.
func (t *teller) roleMentions(text string) []roleMention {
	x := t.ix()
	lower := strings.ToLower(text)
	found := false
	for _, r := range x.refs {
		if strings.Contains(lower, r.ref) {
			found = true
			break
		}
	}
	if !found {
		return nil
	}
	// cur is lower with the references found so far masked; it is
	// rebuilt only when a mask changes it, not for every search.
	var low []byte
	cur := lower
	var out []roleMention
	for _, r := range x.refs {
		for from := 0; ; {
			k := wordIndex(cur, r.ref, from)
			if k < 0 {
				break
			}
			out = append(out, roleMention{r.id, k, k + len(r.ref)})
			if low == nil {
				low = []byte(lower)
			}
			for j := k; j < k+len(r.ref); j++ {
				low[j] = '#'
			}
			cur = string(low)
			from = k + len(r.ref)
		}
	}
	slices.SortFunc(out, func(a, b roleMention) int { return a.start - b.start })
	return out
}

// hasWord reports whether w occurs in s between word boundaries.
func hasWord(s, w string) bool { return wordIndex(s, w, 0) >= 0 }

func wordIndex(s, w string, from int) int {
	if w == "" {
		return -1
	}
	for i := from; i <= len(s); {
		k := strings.Index(s[i:], w)
		if k < 0 {
			return -1
		}
		k += i
		before := k == 0 || !isWordRune(s[k-1])
		after := k+len(w) >= len(s) || !isWordRune(s[k+len(w)])
		if before && after {
			return k
		}
		i = k + 1
	}
	return -1
}

func isWordRune(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b >= 0x80
}

// introduceIn makes a sentence true to the cast's introductions: the
// first role reference ("the reeve") to someone not yet introduced
// becomes an introduction ("Osric Pell, the reeve,"), a possessive one
// names them ("Osric Pell's"). Those it names with their role are then
// introduced.
func (t *teller) introduceIn(s string) string {
	if len(t.intro) == len(t.cast.People) {
		return s // everyone introduced: the common case
	}
	mentions := t.roleMentions(s)
	if len(mentions) == 0 {
		return s
	}
	for _, id := range t.sortedPeople() {
		if t.intro[id] {
			continue
		}
		p := t.cast.People[id]
		if hasWord(s, p.Name) {
			// Named in full: a role beside the name introduces them.
			for _, m := range mentions {
				if m.id == id {
					t.markIntro(id)
				}
			}
			continue
		}
		for _, m := range mentions {
			if m.id != id || quotedAt(s, m.start) {
				continue
			}
			k, end := m.start, m.end
			var repl string
			if strings.HasPrefix(s[end:], "'s") {
				repl = p.Name
			} else {
				// The introduction gives the role in full.
				repl = p.Name + ", " + article(t, id) + p.Role + apposClose(s[end:])
				t.markIntro(id)
			}
			s = s[:k] + repl + s[end:]
			mentions = t.roleMentions(s)
			break
		}
	}
	return s
}

// markIntro notes that the story has introduced id.
func (t *teller) markIntro(id string) {
	if !t.intro[id] {
		t.intro[id] = true
		t.introduced = append(t.introduced, id)
	}
}

// sortedPeople are the cast's ids in a fixed order.
func (t *teller) sortedPeople() []string { return t.ix().ids }

// quotedAt reports whether position k of s lies inside a quotation.
func quotedAt(s string, k int) bool {
	return strings.Count(s[:k], "\"")%2 == 1
}
