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
	start := t.rng.IntN(len(templates))
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
	rd := rendering{v: v, rest: tpl, named: t.named, lastSubj: t.lastSubj}
	if dry {
		// Undo, on return, the names this trial rendering introduced.
		defer func() {
			for _, id := range rd.added {
				delete(rd.named, id)
			}
		}()
	}
	for len(rd.rest) > 0 {
		i := strings.IndexByte(rd.rest, '{')
		if i < 0 {
			rd.b.WriteString(rd.rest)
			break
		}
		rd.b.WriteString(rd.rest[:i])
		j := strings.IndexByte(rd.rest[i:], '}')
		if j < 0 {
			rd.b.WriteString(rd.rest[i:])
			break
		}
		slot := rd.rest[i+1 : i+j]
		rd.rest = rd.rest[i+j+1:]
		t.fill(&rd, slot)
	}
	return capitalize(strings.TrimSpace(rd.b.String())), rd.info
}

// rendering is one template being filled: the sentence so far, the rest
// of the template, and what is learned of the sentence on the way. It
// holds no teller: the teller fills it (were it held here, the escape
// analysis would move every teller to the heap).
type rendering struct {
	v    slots
	b    strings.Builder
	rest string // the template still to fill
	// named is the teller's record of who has been named; added, who
	// this rendering named first. lastSubj is the previous sentence's
	// subject.
	named    map[string]bool
	added    []string
	lastSubj string
	info     toldSentence
	// hasSubject: the sentence's subject is settled.
	hasSubject bool
}

// mention notes that the sentence mentions id.
func (rd *rendering) mention(id string) {
	if !slices.Contains(rd.info.people, id) {
		rd.info.people = append(rd.info.people, id)
	}
}

// setSubject makes id the sentence's subject, unless it has one.
func (rd *rendering) setSubject(id string) {
	if !rd.hasSubject {
		rd.hasSubject = true
		rd.info.subject = id
	}
}

// fill writes the value of one slot.
func (t *teller) fill(rd *rendering, slot string) {
	v := &rd.v
	id := v.a
	if slot != "" && (slot[0] == 'T' || slot[0] == 't') {
		id = v.t
	}
	opening := strings.TrimLeft(rd.b.String(), "\"“ ") == ""
	people := t.cast.People
	switch slot {
	case "A", "T", "a", "t", "A's", "T's":
		t.fillPerson(rd, slot, id, opening)
	case "a.pos", "t.pos":
		rd.mention(id)
		rd.b.WriteString(pronoun(people[id].Pronoun, "pos"))
	case "a.obj", "t.obj":
		rd.mention(id)
		rd.b.WriteString(pronoun(people[id].Pronoun, "obj"))
	case "a.sub", "t.sub":
		ref := pronoun(people[id].Pronoun, "sub")
		rd.rest = agreeVerb(ref, rd.rest)
		rd.setSubject(id)
		rd.mention(id)
		rd.b.WriteString(ref)
	case "item":
		rd.b.WriteString(v.item)
	case "place":
		rd.b.WriteString(v.place)
	case "from":
		rd.b.WriteString(v.from)
	case "text":
		rd.b.WriteString(v.text)
	case "qtext":
		// A quotation followed by its speaker ends with a comma.
		q := strings.TrimSpace(v.text)
		if strings.HasSuffix(q, ".") {
			q = q[:len(q)-1] + ","
		}
		rd.b.WriteString(q)
	case "cause":
		rd.b.WriteString(v.cause)
	case "With", "with", "Company", "company":
		rd.fillGroup(slot)
	case "extra":
		rd.b.WriteString(v.extra)
	}
}

// fillPerson writes a reference to the actor or target: as a subject,
// an object or a possessive, by name, role or pronoun.
func (t *teller) fillPerson(rd *rendering, slot, id string, opening bool) {
	ref, isPronoun := t.refer(id, rd.named, rd.lastSubj, rd.v)
	pr := t.cast.People[id].Pronoun
	switch slot {
	case "a", "t":
		if isPronoun {
			ref = pronoun(pr, "obj")
		}
	case "A's", "T's":
		ref = possessive(ref, pr, isPronoun)
		if opening {
			rd.setSubject(id)
		}
	default:
		if isPronoun {
			rd.rest = agreeVerb(ref, rd.rest)
		}
		rd.setSubject(id)
	}
	if isPronoun && opening {
		rd.info.opener = id
	}
	if !rd.named[id] {
		rd.added = append(rd.added, id)
	}
	rd.named[id] = true
	rd.mention(id)
	rd.b.WriteString(ref)
}

// fillGroup writes the group a mover found ({with}, {company}); as a
// subject ({With}, {Company}) one person is someone a pronoun could
// stand for, a group is not.
func (rd *rendering) fillGroup(slot string) {
	v := &rd.v
	if slot[0] == 'W' || slot[0] == 'C' {
		group := ""
		if len(v.group) == 1 {
			group = v.group[0]
		}
		rd.setSubject(group)
	}
	for _, id := range v.group {
		rd.mention(id)
	}
	if slot == "With" || slot == "with" {
		rd.b.WriteString(v.with)
	} else {
		rd.b.WriteString(v.company)
	}
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
