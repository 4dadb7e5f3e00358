// Sentence templates: choosing a template of a family (avoiding recent
// ones and a repeated opening word), filling its slots and emitting the
// sentence with what is known about it.

package engine

import (
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// say chooses a template of a family, avoiding recently used ones and
// the opening word of the previous sentence, renders and emits it.
//
// Each candidate is rendered on trial, since whether it names someone
// where it meant a pronoun shows only then. A trial's effects stand
// until the next trial undoes them, so the chosen sentence, most often
// the last one tried, is not rendered twice; and a candidate whose score
// could not beat the best even before it is rendered is not rendered.
func (t *teller) say(family string, v slots, templates []string) {
	if len(templates) == 0 {
		return
	}
	start := t.rng.IntN(len(templates))
	best, bestScore := "", -100
	bestK := 0
	var bestSentence string
	var bestInfo toldSentence
	bestPending := false // the last trial is the best, its effects standing
	// The key "family#k" is looked up from a stack buffer and made a
	// string only for the template chosen.
	var kb [64]byte
	for n := range templates {
		k := (start + n) % len(templates)
		key := strconv.AppendInt(append(append(kb[:0], family...), '#'), int64(k), 10)
		score := 2
		if t.recent[string(key)] {
			score = 0
		}
		if score <= bestScore {
			continue // rendering only ever lowers a score
		}
		t.undoTrial()
		sentence, info := t.render(templates[k], v, true)
		if firstWordIs(sentence, t.lastFirst) {
			score--
		}
		if t.shapeTold(sentence) {
			// The same sentence, names aside, told before in the
			// story reads as the machine repeating itself.
			score -= 3
		}
		if info.clumsy {
			// Naming someone twice where a pronoun was meant reads
			// worse than any repetition.
			score -= 3
		}
		bestPending = score > bestScore
		if bestPending {
			best, bestScore, bestK = templates[k], score, k
			bestSentence, bestInfo = sentence, info
		}
		if score == 2 {
			break
		}
	}
	bestKey := family + "#" + strconv.Itoa(bestK)
	sentence, info := bestSentence, bestInfo
	if bestPending {
		t.keepTrial()
		// The trial's list was borrowed.
		people := info.people
		info.people = nil
		if len(people) > 0 {
			info.people = slices.Clone(people)
		}
	} else {
		t.undoTrial()
		sentence, info = t.render(best, v, false)
	}
	info.key, info.family = bestKey, family
	t.used = append(t.used, bestKey)
	t.recent[bestKey] = true
	t.emit(sentence, info)
}

// undoTrial undoes the names and introductions the last trial rendering
// made, if they still stand.
func (t *teller) undoTrial() {
	for _, id := range t.trialNamed {
		delete(t.named, id)
	}
	for _, id := range t.trialIntro {
		delete(t.intro, id)
		t.introduced = slices.DeleteFunc(t.introduced, func(x string) bool { return x == id })
	}
	t.keepTrial()
}

// keepTrial lets the last trial rendering's effects stand.
func (t *teller) keepTrial() {
	t.trialNamed, t.trialIntro = t.trialNamed[:0], t.trialIntro[:0]
}

// emit writes a sentence and remembers who it was about.
func (t *teller) emit(sentence string, info toldSentence) {
	if strings.TrimSpace(sentence) == "" {
		return
	}
	sentence = t.introduceIn(sentence)
	t.noteShape(sentence)
	t.lastFirst = firstWord(sentence)
	t.lastSubj = info.subject
	t.lastPeople = info.people
	info.text = sentence
	info.para = t.para
	info.rec = t.rec
	info.claims, t.claims = t.claims, nil
	if info.family == "" {
		info.family = FamilyVerbatim
		info.key = FamilyVerbatim
	}
	t.out = append(t.out, sentence)
	t.told = append(t.told, info)
}

// verbatim emits a scenario's own text. Its grammar is unknown, so it
// leaves nobody as the subject a following pronoun could stand for.
func (t *teller) verbatim(text string, people ...string) {
	people = slices.DeleteFunc(people, func(id string) bool { return id == "" })
	refs := map[string]byte{}
	t.textRefs(text, refs)
	for _, id := range t.sortedPeople() {
		if _, ok := refs[id]; ok && !slices.Contains(people, id) {
			people = append(people, id)
		}
	}
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
	clumsy  bool
	// key and family: the template used; rec: the record told (-1 for
	// none); cause: the sentence says why; claims: what it asserts.
	key, family string
	rec         int
	cause       bool
	claims      []Claim
}

// firstWordIs reports whether firstWord(s) == w, without lowering a copy
// of s (strings.ToLower maps rune by rune, as this compares).
func firstWordIs(s, w string) bool {
	s = strings.TrimLeft(s, "\"“'— ")
	if i := strings.IndexFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && r != '\'' }); i > 0 {
		s = s[:i]
	}
	for _, r := range s {
		if len(w) == 0 {
			return false
		}
		wr, n := utf8.DecodeRuneInString(w)
		if unicode.ToLower(r) != wr {
			return false
		}
		w = w[n:]
	}
	return len(w) == 0
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
// subject-case slot, or a possessive that opens it. With trial set,
// whom it names and introduces first is noted for undoTrial, and the
// sentence's list of people is borrowed.
func (t *teller) render(tpl string, v slots, trial bool) (string, toldSentence) {
	// A cause is written into the template, so that the people it
	// names are named the sentence's way.
	code := t.template(tpl, v.cause)
	hasCause := v.cause != "" && strings.Contains(tpl, "{cause}")
	rd := rendering{v: v, named: t.named, lastSubj: t.lastSubj, lastPeople: t.lastPeople}
	// The teller lends its buffers: one rendering at a time.
	rd.forms, rd.people = t.formsBuf[:0], t.peopleBuf[:0]
	defer func() { t.formsBuf, t.peopleBuf = rd.forms[:0], rd.people[:0] }()
	// Whom this rendering named first matters only until it returns.
	rd.added = t.addedBuf[:0]
	defer func() { t.addedBuf = rd.added[:0] }()
	if trial {
		// A trial's sentence info is most often not kept: it borrows too.
		rd.info.people = t.dryPeopleBuf[:0]
		defer func() { t.dryPeopleBuf = rd.info.people[:0] }()
	}
	// Room for the template and the names it takes, grown once.
	rd.b.Grow(len(code.src) + 64)
	t.sentencePeople(&rd, code)
	rd.info.cause = hasCause
	if trial {
		defer func() {
			t.trialNamed = append(t.trialNamed[:0], rd.added...)
			t.trialIntro = append(t.trialIntro[:0], rd.introAdded...)
		}()
	}
	segs := code.segs
	for k := 0; k < len(segs); k++ {
		if !segs[k].slot {
			rd.b.WriteString(segs[k].text)
			continue
		}
		// rest is what follows the slot, as far as a slot reads it:
		// the text up to the next slot, or a slot's opening brace.
		text := k+1 < len(segs) && !segs[k+1].slot
		switch {
		case text:
			rd.rest = segs[k+1].text
		case k+1 < len(segs):
			rd.rest = "{"
		default:
			rd.rest = ""
		}
		t.fill(&rd, segs[k].text)
		if text {
			rd.b.WriteString(rd.rest)
			k++
		}
	}
	rd.info.clumsy = rd.clumsy
	// Whom a following pronoun could be taken for: everyone the
	// sentence mentions, in its texts too.
	for _, id := range rd.people {
		rd.mention(id)
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
	rest string // what follows the slot being filled (see render)
	// named is the teller's record of who has been named; added, who
	// this rendering named first. lastSubj is the previous sentence's
	// subject.
	named    map[string]bool
	added    []string
	lastSubj string
	info     toldSentence
	// people: everyone the sentence will mention, whom a pronoun could
	// point at; lastPeople, everyone the sentence before mentioned.
	// forms: how the sentence has named each person so far; hints: how
	// its quoted texts name them. introduced: the sentence carries an
	// introduction (one is enough); introAdded, whom it introduced.
	people, lastPeople []string
	forms              []personForm
	hints              map[string]byte
	introduced         bool
	introAdded         []string
	// clumsy: a pronoun slot had to be filled with a name.
	clumsy bool
	// hasSubject: the sentence's subject is settled.
	hasSubject bool
}

// personForm is how a sentence has named one person.
type personForm struct {
	id string
	f  byte
}

// form is how the sentence has named id so far, if it has.
func (rd *rendering) form(id string) (byte, bool) {
	for _, x := range rd.forms {
		if x.id == id {
			return x.f, true
		}
	}
	return 0, false
}

func (rd *rendering) setForm(id string, f byte) {
	for k := range rd.forms {
		if rd.forms[k].id == id {
			rd.forms[k].f = f
			return
		}
	}
	rd.forms = append(rd.forms, personForm{id, f})
}

// noteIntro introduces id in this sentence.
func (rd *rendering) noteIntro(t *teller, id string) {
	if !t.intro[id] {
		rd.introAdded = append(rd.introAdded, id)
		t.markIntro(id)
	}
}

// sentencePeople finds everyone a template will mention, and how the
// texts it quotes name them.
func (t *teller) sentencePeople(rd *rendering, code *tplCode) {
	v := &rd.v
	add := func(id string) {
		if id != "" && !slices.Contains(rd.people, id) {
			rd.people = append(rd.people, id)
		}
	}
	if code.actor {
		add(v.a)
	}
	if code.target {
		add(v.t)
	}
	if code.group {
		for _, id := range v.group {
			add(id)
		}
	}
	for _, id := range code.at {
		add(id)
	}
	// Who the texts name depends only on the slots: a template's trial
	// renderings share it.
	if key := [5]string{v.text, v.extra, v.item, v.place, v.from}; t.hints == nil || key != t.hintsV {
		t.hintsV, t.hints = key, map[string]byte{}
		for _, s := range key {
			t.textRefs(s, t.hints)
		}
	}
	rd.hints = t.hints
	for _, id := range t.sortedPeople() {
		if _, ok := rd.hints[id]; ok {
			add(id)
		}
	}
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
	if strings.HasPrefix(slot, "@") {
		// {@id}, {@id's}, {@id.obj}, {@id.sub}: anyone the record names.
		id = strings.TrimPrefix(slot, "@")
		switch {
		case strings.HasSuffix(id, "'s"):
			id, slot = strings.TrimSuffix(id, "'s"), "X's"
		case strings.HasSuffix(id, ".obj"):
			id, slot = strings.TrimSuffix(id, ".obj"), "x"
		case strings.HasSuffix(id, ".sub"):
			id, slot = strings.TrimSuffix(id, ".sub"), "A"
		default:
			slot = "x"
		}
	}
	switch slot {
	case "A", "T", "a", "t", "A's", "T's", "x", "X's":
		t.fillPerson(rd, slot, id, opening)
	case "a.pos", "t.pos", "a.obj", "t.obj", "a.sub", "t.sub":
		t.fillPronoun(rd, slot, id, opening)
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
		rd.info.cause = rd.info.cause || v.cause != ""
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
	ref, isPronoun := t.refer(rd, id, strings.HasSuffix(slot, "'s"), opening)
	pr := t.cast.People[id].Pronoun
	switch slot {
	case "a", "t", "x":
		if isPronoun {
			ref = pronoun(pr, "obj")
		}
	case "A's", "T's", "X's":
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

// fillPronoun writes a pronoun slot ({a.pos}, {t.obj}, {a.sub}): the
// pronoun where it can only mean this person, else a name or role.
func (t *teller) fillPronoun(rd *rendering, slot, id string, opening bool) {
	pr := t.cast.People[id].Pronoun
	form := slot[2:]
	if !t.ambiguous(rd, id) {
		ref := pronoun(pr, form)
		if form == "sub" {
			rd.rest = agreeVerb(ref, rd.rest)
			rd.setSubject(id)
		}
		rd.mention(id)
		rd.b.WriteString(ref)
		return
	}
	// The pronoun could point at two people: name them instead, and
	// let the teller prefer a template that needs no such help.
	rd.clumsy = true
	switch form {
	case "pos":
		t.fillPerson(rd, "X's", id, opening)
	case "obj":
		t.fillPerson(rd, "x", id, opening)
	default:
		t.fillPerson(rd, "A", id, opening)
	}
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
			u := unicode.ToUpper(r)
			if u == r {
				return s // already a capital: no copy
			}
			return s[:i] + string(u) + s[i+utf8.RuneLen(r):]
		}
		if r != '"' && r != '“' && r != '\'' {
			return s
		}
	}
	return s
}

func quoteKey(s string) string {
	var kb [16]byte
	return string(appendQuoteKey(kb[:0], s))
}

// appendQuoteKey appends quoteKey(s) to b: "q#" and the FNV-1a hash of
// s in base 36.
func appendQuoteKey(b []byte, s string) []byte {
	h := uint32(2166136261)
	for k := 0; k < len(s); k++ {
		h = (h ^ uint32(s[k])) * 16777619
	}
	return strconv.AppendUint(append(b, quotePrefix...), uint64(h), 36)
}
