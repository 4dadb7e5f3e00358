// Sentence templates: choosing a template of a family (avoiding recent
// ones and a repeated opening word), filling its slots and emitting the
// sentence with what is known about it.

package engine

import (
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// say chooses a template of a family, avoiding recently used ones and
// the opening word of the previous sentence, renders and emits it.
func (t *teller) say(family string, v slots, templates []string) {
	if len(templates) == 0 {
		return
	}
	start := t.r.IntN(len(templates))
	best, bestScore := "", -1
	bestKey := ""
	for n := range templates {
		k := (start + n) % len(templates)
		key := family + "#" + strconv.Itoa(k)
		score := 2
		if t.recent[key] {
			score = 0
		}
		sentence, _ := t.render(templates[k], v, true)
		if firstWord(sentence) == t.lastFirst {
			score--
		}
		if score > bestScore {
			best, bestScore, bestKey = templates[k], score, key
		}
		if score == 2 {
			break
		}
	}
	sentence, info := t.render(best, v, false)
	t.used = append(t.used, bestKey)
	t.recent[bestKey] = true
	t.emit(sentence, info)
}

// emit writes a sentence and remembers who it was about.
func (t *teller) emit(sentence string, info toldSentence) {
	if strings.TrimSpace(sentence) == "" {
		return
	}
	t.lastFirst = firstWord(sentence)
	t.lastSubj = info.subject
	info.text = sentence
	info.para = t.para
	t.out = append(t.out, sentence)
	t.told = append(t.told, info)
}

// verbatim emits a scenario's own text. Its grammar is unknown, so it
// leaves nobody as the subject a following pronoun could stand for.
func (t *teller) verbatim(text string, people ...string) {
	people = slices.DeleteFunc(people, func(id string) bool { return id == "" })
	t.emit(capitalize(strings.TrimSpace(text)), toldSentence{people: people})
}

// toldSentence is what the chronicler knows about a sentence it wrote:
// who its grammatical subject is ("" for none, or for several people),
// whom an opening pronoun stands for, and everyone it mentions.
type toldSentence struct {
	text    string
	para    int
	subject string
	opener  string
	people  []string
	// company is, for a sentence telling whom a mover found, the place
	// where they were found.
	company string
}

func firstWord(s string) string {
	s = strings.TrimLeft(s, "\"“'— ")
	if i := strings.IndexFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && r != '\'' }); i > 0 {
		return strings.ToLower(s[:i])
	}
	return strings.ToLower(s)
}

// slots are the values a template's {slots} are filled with.
type slots struct {
	a, t           string // actor and target ids
	item, place    string // names
	from, text     string
	cause, with    string
	extra, company string
	group          []string // the people {with} or {company} names
}

// render fills a template. The case of a slot is the template's to say:
// {A} {T} the actor and target as a subject (name, description or
// "he"/"she"/"they"), {a} {t} as an object ("him"/"her"/"them"), {A's}
// {T's} possessive; {a.pos} {t.pos} possessive pronoun, {a.obj} {t.obj}
// object pronoun, {a.sub} {t.sub} subject pronoun; {With} {Company} the
// group as a subject, {with} {company} elsewhere; and {item} {place}
// {from} {text} {qtext} {cause} {extra}. A verb right after a subject
// "they" agrees with it. The sentence's subject is its first
// subject-case slot, or a possessive that opens it. With dry set, it
// changes nothing.
func (t *teller) render(tpl string, v slots, dry bool) (string, toldSentence) {
	var b strings.Builder
	named := t.named
	lastSubj := t.lastSubj
	var added []string
	if dry {
		// Undo, on return, the names this trial rendering introduced.
		defer func() {
			for _, id := range added {
				delete(named, id)
			}
		}()
	}
	var info toldSentence
	hasSubject := false
	mention := func(id string) {
		if !slices.Contains(info.people, id) {
			info.people = append(info.people, id)
		}
	}
	setSubject := func(id string) {
		if !hasSubject {
			hasSubject = true
			info.subject = id
		}
	}
	for len(tpl) > 0 {
		i := strings.IndexByte(tpl, '{')
		if i < 0 {
			b.WriteString(tpl)
			break
		}
		b.WriteString(tpl[:i])
		j := strings.IndexByte(tpl[i:], '}')
		if j < 0 {
			b.WriteString(tpl[i:])
			break
		}
		slot := tpl[i+1 : i+j]
		tpl = tpl[i+j+1:]
		id := v.a
		if slot != "" && (slot[0] == 'T' || slot[0] == 't') {
			id = v.t
		}
		opening := strings.TrimLeft(b.String(), "\"“ ") == ""
		switch slot {
		case "A", "T", "a", "t", "A's", "T's":
			ref, isPronoun := t.refer(id, named, lastSubj, v)
			pr := t.cast.People[id].Pronoun
			switch slot {
			case "a", "t":
				if isPronoun {
					ref = pronoun(pr, "obj")
				}
			case "A's", "T's":
				ref = possessive(ref, pr, isPronoun)
				if opening {
					setSubject(id)
				}
			default:
				if isPronoun {
					tpl = agreeVerb(ref, tpl)
				}
				setSubject(id)
			}
			if isPronoun && opening {
				info.opener = id
			}
			if !named[id] {
				added = append(added, id)
			}
			named[id] = true
			mention(id)
			b.WriteString(ref)
		case "a.pos", "t.pos":
			mention(id)
			b.WriteString(pronoun(t.cast.People[id].Pronoun, "pos"))
		case "a.obj", "t.obj":
			mention(id)
			b.WriteString(pronoun(t.cast.People[id].Pronoun, "obj"))
		case "a.sub", "t.sub":
			ref := pronoun(t.cast.People[id].Pronoun, "sub")
			tpl = agreeVerb(ref, tpl)
			setSubject(id)
			mention(id)
			b.WriteString(ref)
		case "item":
			b.WriteString(v.item)
		case "place":
			b.WriteString(v.place)
		case "from":
			b.WriteString(v.from)
		case "text":
			b.WriteString(v.text)
		case "qtext":
			// A quotation followed by its speaker ends with a comma.
			q := strings.TrimSpace(v.text)
			if strings.HasSuffix(q, ".") {
				q = q[:len(q)-1] + ","
			}
			b.WriteString(q)
		case "cause":
			b.WriteString(v.cause)
		case "With", "with", "Company", "company":
			if slot[0] == 'W' || slot[0] == 'C' {
				// A group is nobody a pronoun could stand for; one
				// person is.
				group := ""
				if len(v.group) == 1 {
					group = v.group[0]
				}
				setSubject(group)
			}
			for _, id := range v.group {
				mention(id)
			}
			if slot == "With" || slot == "with" {
				b.WriteString(v.with)
			} else {
				b.WriteString(v.company)
			}
		case "extra":
			b.WriteString(v.extra)
		}
	}
	return capitalize(strings.TrimSpace(b.String())), info
}

// agreeVerb makes the verb that follows a subject "they" plural.
func agreeVerb(subject, rest string) string {
	if subject != "they" {
		return rest
	}
	for _, p := range [][2]string{{" was", " were"}, {" has", " have"}, {" is", " are"}, {" does", " do"}} {
		if after, ok := strings.CutPrefix(rest, p[0]); ok {
			if r, _ := utf8.DecodeRuneInString(after); !unicode.IsLetter(r) {
				return p[1] + after
			}
		}
	}
	return rest
}

func capitalize(s string) string {
	// Capitalise the first letter, even after an opening quote.
	for i, r := range s {
		if unicode.IsLetter(r) {
			return s[:i] + string(unicode.ToUpper(r)) + s[i+utf8.RuneLen(r):]
		}
		if r != '"' && r != '“' && r != '\'' {
			return s
		}
	}
	return s
}

func quoteKey(s string) string {
	h := fnv.New32a()
	h.Write([]byte(s))
	return "q#" + strconv.FormatUint(uint64(h.Sum32()), 36)
}
