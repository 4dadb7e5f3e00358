// Referring expressions: how people, places and items are named in a
// sentence (in full at first mention, then by pronoun or role).

package engine

import (
	"strings"
	"unicode"
)

// refer names a character: in full at first mention, by pronoun when
// they were the subject of the last sentence and nobody else in this one
// shares the pronoun, otherwise by their role. It reports whether it
// chose the (subject) pronoun.
func (t *teller) refer(id string, named map[string]bool, lastSubj string, v slots) (string, bool) {
	p, ok := t.cast.People[id]
	if !ok {
		return "someone", false
	}
	if !named[id] {
		return p.Name, false
	}
	if id == lastSubj && !t.sharesPronoun(id, v) {
		return pronoun(p.Pronoun, "sub"), true
	}
	if t.uniqueRole(id) {
		return "the " + p.Role, false
	}
	return p.Name, false
}

// sharesPronoun reports whether anyone else in the sentence goes by id's
// pronoun.
func (t *teller) sharesPronoun(id string, v slots) bool {
	pr := t.cast.People[id].Pronoun
	for _, o := range append([]string{v.a, v.t}, v.group...) {
		if o != "" && o != id {
			if q, ok := t.cast.People[o]; ok && q.Pronoun == pr {
				return true
			}
		}
	}
	return false
}

func (t *teller) uniqueRole(id string) bool {
	role := t.cast.People[id].Role
	for k, p := range t.cast.People {
		if k != id && p.Role == role {
			return false
		}
	}
	return true
}

func pronoun(p, form string) string {
	switch p {
	case "she":
		return map[string]string{"sub": "she", "obj": "her", "pos": "her"}[form]
	case "he":
		return map[string]string{"sub": "he", "obj": "him", "pos": "his"}[form]
	}
	return map[string]string{"sub": "they", "obj": "them", "pos": "their"}[form]
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

func (t *teller) listNames(ids []string) string {
	names := make([]string, 0, len(ids))
	for _, id := range ids {
		n, _ := t.refer(id, t.named, "", slots{})
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
