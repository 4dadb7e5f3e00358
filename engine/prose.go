package engine

import (
	"context"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

var defaultChronicler = NewChronicler()

// NewChronicler returns the built-in chronicler: template grammars with
// rotating referring expressions, penalties for recently used templates
// and opening words, and causes told with the deed.
func NewChronicler() Chronicler { return proseChronicler{} }

type proseChronicler struct{}

var _ Chronicler = proseChronicler{}

// teller writes one turn.
type teller struct {
	sc     *Scene
	cast   *Cast
	r      *rand.Rand
	recent map[string]bool
	used   []string
	// Referring expressions: who has been named this turn, who the last
	// sentence was about, and the opening word of the last sentence.
	named       map[string]bool
	lastSubj    string
	lastFirst   string
	out         []string
	companyTold bool
	// told describes each sentence written, para the paragraph it is in.
	told []toldSentence
	para int
}

// Priorities decide what to keep when a turn is crowded.
func priority(r *Record) int {
	switch r.Kind {
	case "ending", "outcome":
		return 100
	case "death", "goal":
		return 90
	case EffectArrival, EffectDiscovery, EffectWeather, EffectMessage, "tip":
		return 80
	case ActAttack:
		if r.Outcome == OutcomeSuccess {
			return 75
		}
		return 55
	case ActTake:
		if r.Outcome == OutcomeSuccess {
			return 72
		}
		return 50
	case "bond":
		return 65
	case "reaction", "reversal":
		return 85
	case ActGive:
		return 62
	case ActSpeak:
		switch r.Detail {
		case "fact", "persuade", "whereabouts":
			return 64
		case "refuse", "denied":
			return 52
		}
		return 30
	case ActSearch:
		switch r.Detail {
		case "item", "fact":
			return 66
		}
		return 12
	case ActHelp:
		return 50
	case ActMove:
		if r.Cause == "fear" {
			return 58
		}
		if r.Detail == "bearing" {
			return 60
		}
		if r.Cause == "goal" {
			return 40
		}
		return 15
	}
	return 5
}

const maxSentences = 7

func (proseChronicler) Narrate(_ context.Context, sc Scene) (Narration, error) {
	n, _ := narrate(sc)
	return n, nil
}

// narrate writes a turn and says what it knows of each sentence.
func narrate(sc Scene) (Narration, []toldSentence) {
	t := &teller{
		sc: &sc, cast: sc.Cast,
		r:      rand.New(rand.NewPCG(sc.Seed, 0x70726f7365)),
		recent: make(map[string]bool, len(sc.Recent)),
		named:  map[string]bool{},
	}
	for _, k := range sc.Recent {
		t.recent[k] = true
	}
	keep := chooseRecords(&sc)
	if sc.PhaseChanged {
		t.phaseLead()
	}
	var outcomes []*Record
	for k := range sc.Records {
		r := &sc.Records[k]
		if !keep[k] {
			continue
		}
		if r.Kind == "outcome" {
			outcomes = append(outcomes, r)
			continue
		}
		t.tell(r)
	}
	t.out = slices.DeleteFunc(t.out, func(s string) bool { return strings.TrimSpace(s) == "" })
	text := strings.Join(t.out, " ")
	if len(outcomes) > 0 {
		t.named = map[string]bool{}
		t.out = nil
		t.lastSubj, t.lastFirst = "", ""
		t.para++
		t.epilogue(outcomes)
		text = strings.TrimSpace(text + "\n\n" + strings.Join(t.out, " "))
	}
	return Narration{Text: text, Used: t.used}, t.told
}

// chooseRecords decides which of a turn's records are told: everything
// that matters, then the rest while there is room. A bond that changed
// both ways at once is marked to be told once, as mutual.
func chooseRecords(sc *Scene) []bool {
	// Choose what to tell: everything that matters, then the rest while
	// there is room, in the order it happened.
	keep := make([]bool, len(sc.Records))
	idx := make([]int, 0, len(sc.Records))
	for k := range sc.Records {
		r := &sc.Records[k]
		if r.Kind == ActWait && r.Cause != "wounds" {
			continue
		}
		// Reaching for someone who had already walked off changed
		// nothing: not worth a sentence.
		if r.Outcome == OutcomeFailure && r.Detail == "gone" {
			continue
		}
		idx = append(idx, k)
	}
	slices.SortStableFunc(idx, func(a, b int) int { return priority(&sc.Records[b]) - priority(&sc.Records[a]) })
	// Routine comings and goings make a turn read like a timetable. When
	// something that matters happened they are left out, save one meeting
	// on a quiet turn; otherwise at most two are told, purposeful and
	// meetings first.
	substantive := 0
	for _, k := range idx {
		if !routine(&sc.Records[k]) && priority(&sc.Records[k]) >= 50 {
			substantive++
		}
	}
	if substantive == 0 {
		slices.SortStableFunc(idx, func(a, b int) int { return routineRank(&sc.Records[b]) - routineRank(&sc.Records[a]) })
	}
	routines := 0
	n := 0
	for _, k := range idx {
		r := &sc.Records[k]
		if routine(r) {
			routines++
			switch {
			case substantive >= 3:
				continue
			case substantive > 0 && (routines > 1 || len(r.With) == 0 || r.Kind != ActMove):
				continue
			case routines > 2:
				continue
			}
		}
		if r.Kind == "outcome" || r.Kind == "ending" {
			keep[k] = true
			continue
		}
		if n < maxSentences || priority(r) >= 80 {
			keep[k] = true
			n++
		}
	}
	// A bond that changed both ways at once is told once, as mutual.
	for k := range sc.Records {
		r := &sc.Records[k]
		if r.Kind != "bond" || !keep[k] || r.Detail == "mutual-skip" {
			continue
		}
		for j := k + 1; j < len(sc.Records); j++ {
			o := &sc.Records[j]
			if o.Kind == "bond" && o.Actor == r.Target && o.Target == r.Actor && o.Amount == r.Amount {
				o.Detail = "mutual-skip"
				r.Detail = "mutual:" + r.Detail
			}
		}
	}
	return keep
}

// routine reports whether a record is an everyday coming, going or
// poking about, worth telling only on a quiet turn: a move that carries
// nothing anyone wants and flees nobody, or a search that found nothing.
func routine(r *Record) bool {
	switch r.Kind {
	case ActMove:
		return r.Outcome == OutcomeSuccess && r.Cause != "fear" && r.Detail != "bearing"
	case ActSearch:
		return r.Detail != "item" && r.Detail != "fact"
	case ActSpeak:
		// Small talk that changed nothing; a player's words are always told.
		return (r.Detail == "talk" || r.Detail == "address") && r.Source != SourcePlayer
	}
	return false
}

// routineRank orders routine records on a quiet turn: a meeting first,
// then a purposeful move, then the rest.
func routineRank(r *Record) int {
	if !routine(r) {
		return 100 + priority(r)
	}
	rank := 0
	if r.Kind == ActSpeak {
		rank += 2
	}
	if len(r.With) > 0 {
		rank += 2
	}
	if r.Cause == "goal" {
		rank++
	}
	return rank
}

// say chooses a template of a family, avoiding recently used ones and
// the opening word of the previous sentence, renders and emits it.
func (t *teller) say(family string, v vars, templates []string) {
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

// vars are the slots of a template.
type vars struct {
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
func (t *teller) render(tpl string, v vars, dry bool) (string, toldSentence) {
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
					tpl = agree(ref, tpl)
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
			tpl = agree(ref, tpl)
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

// agree makes the verb that follows a subject "they" plural.
func agree(subject, rest string) string {
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

// refer names a character: in full at first mention, by pronoun when
// they were the subject of the last sentence and nobody else in this one
// shares the pronoun, otherwise by their role. It reports whether it
// chose the (subject) pronoun.
func (t *teller) refer(id string, named map[string]bool, lastSubj string, v vars) (string, bool) {
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
func (t *teller) sharesPronoun(id string, v vars) bool {
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

func (t *teller) person(id string) string { return t.cast.People[id].Name }

func (t *teller) place(id string) string {
	if n, ok := t.cast.Places[id]; ok {
		return n
	}
	return "somewhere"
}

// item names an item: by the scenario's name, or else by its id made
// readable ("brass_key" is "the brass key").
func (t *teller) item(id string) string {
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
		n, _ := t.refer(id, t.named, "", vars{})
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

func quoteKey(s string) string {
	h := fnv.New32a()
	h.Write([]byte(s))
	return "q#" + strconv.FormatUint(uint64(h.Sum32()), 36)
}

// goalPhrase turns "to carry the ledger home" into "carry the ledger home".
func goalPhrase(text string) string {
	return strings.TrimPrefix(strings.TrimSpace(text), "to ")
}

func (t *teller) phaseLead() {
	switch t.sc.Phase {
	case PhasePeak:
		t.say("lead.peak", vars{}, []string{
			"Then it all came to a head.",
			"Nobody could pretend any longer.",
			"What followed happened fast.",
			"After that, there was no going back.",
		})
	case PhaseRelax:
		t.say("lead.relax", vars{}, []string{
			"For a while, nobody raised a hand.",
			"The worst seemed, for the moment, to have passed.",
			"A lull followed, thin as ice.",
			"Quiet settled, of a kind.",
		})
	case PhaseBuildup:
		t.say("lead.build", vars{}, []string{
			"The quiet did not last.",
			"Old trouble stirred again.",
			"It was only a pause.",
		})
	}
}

// causeClause tells why, from the record's cause and callback.
func (t *teller) causeClause(r *Record) string {
	var opts []string
	switch r.Cause {
	case "prize":
		it := t.item(r.CauseRef)
		opts = []string{", wanting " + it, ", for the sake of " + it, ", with " + it + " within reach", ", eyes on " + it}
	case "revenge":
		where := ""
		if r.Callback != nil {
			where = " at " + t.place(r.Callback.Place)
		}
		opts = []string{", remembering what had happened" + where, ", paying back the harm done" + where, ", for old injury"}
	case "loyalty":
		n := t.person(r.CauseRef)
		opts = []string{", for " + n + "'s sake", ", answering for what had been done to " + n, ", in " + n + "'s name"}
	case "hatred":
		opts = []string{", out of plain hatred", ", with no love lost between them", ", because old hate needs little reason"}
	case "temper":
		opts = []string{", on a flash of temper", ", for no reason anyone could name", ", spoiling for a fight"}
	case "greed":
		opts = []string{", because it was there for the taking", ", with a glance to see who watched", ""}
	case "fear":
		opts = []string{", afraid for " + pronoun(t.cast.People[r.Actor].Pronoun, "pos") + " life", ", not daring to stay", ", fear at " + pronoun(t.cast.People[r.Actor].Pronoun, "pos") + " heels"}
	case "debt":
		opts = []string{", repaying an old kindness", ", because one good turn deserved another", ", not forgetting who had helped " + pronoun(t.cast.People[r.Actor].Pronoun, "obj")}
	case "kin":
		opts = []string{", as one of " + pronoun(t.cast.People[r.Actor].Pronoun, "pos") + " own", ", because " + t.cast.People[r.Target].Faction + " look after their own", ""}
	case "kindness":
		opts = []string{"", ", unasked", ", gently"}
	case "side":
		opts = []string{", because " + t.person(r.CauseRef) + " had more need of it", ", so that it stayed on the right side", ", for safekeeping"}
	case "curiosity":
		opts = []string{"", ", curious", ", on a hunch"}
	}
	if len(opts) == 0 {
		return ""
	}
	return opts[t.r.IntN(len(opts))]
}

// moveCause tells what a purposeful move was for.
func (t *teller) moveCause(r *Record) string {
	if r.Cause != "goal" {
		return ""
	}
	g, ok := t.cast.Goals[r.Actor][r.CauseRef]
	if !ok {
		return ""
	}
	pos := pronoun(t.cast.People[r.Actor].Pronoun, "pos")
	var opts []string
	switch g.Kind {
	case GoalDeliver:
		it := t.item(g.Item)
		if r.Detail == "carry" && g.Target != "" {
			n := t.person(g.Target)
			opts = []string{", " + it + " held close for " + n, ", carrying " + it + " to " + n, ", keeping " + it + " for " + n + "'s eyes alone"}
		} else if r.Detail == "carry" {
			opts = []string{", bound for " + t.place(g.Location) + " with " + it, ", " + it + " held close", ", carrying " + it + " towards " + t.place(g.Location)}
		} else {
			opts = []string{", on the trail of " + it, ", " + pos + " mind on " + it, ", looking for " + it}
		}
	case GoalObtain:
		it := t.item(g.Item)
		opts = []string{", on the trail of " + it, ", hunting for " + it, ", hoping to lay hands on " + it}
	case GoalReach:
		opts = []string{", with " + t.place(g.Location) + " in mind", ", where " + pos + " business lay"}
	case GoalDefeat:
		n := t.person(g.Target)
		opts = []string{", hunting " + n, ", looking for " + n + " with murder in " + pos + " eyes"}
	case GoalBefriend, GoalProtect:
		n := t.person(g.Target)
		opts = []string{", looking for " + n, ", hoping to find " + n, ", to be near " + n}
	}
	if len(opts) == 0 {
		return ""
	}
	return opts[t.r.IntN(len(opts))]
}

func (t *teller) tell(r *Record) {
	v := vars{a: r.Actor, t: r.Target, item: t.item(r.Item), place: t.place(r.Place), from: t.place(r.From), text: r.Text}
	if r.Outcome == OutcomeFailure && (r.Detail == "gone" || r.Detail == "dead") && (r.Kind == ActSpeak || r.Kind == ActGive || r.Kind == ActHelp) {
		if r.Detail == "dead" {
			t.say("gone.dead", v, []string{"{A} turned to {T}, but {T} was past hearing anything.", "{A} knelt by {T}, too late for anything but grief."})
			return
		}
		if r.Kind == ActSpeak && r.Text != "" {
			t.say("gone.call", v, []string{"\"{qtext}\" {A} called, but {T} had already gone to {place}.", "{A} turned to speak to {t} and found {t.obj} gone."})
			return
		}
		t.say("gone", v, []string{"{A} looked for {t}, who had slipped away to {place}.", "{A} turned to {t}, but {T} had already gone.", "By the time {A} turned round, {T} was gone."})
		return
	}
	switch r.Kind {
	case ActMove:
		t.tellMove(r, v)
	case ActTake:
		t.tellTake(r, v)
	case ActSpeak:
		t.tellSpeak(r, v)
	case ActGive:
		if r.Outcome == OutcomeFailure {
			// Nothing changed hands: the giver had nothing left to give,
			// having lost it or given it already.
			t.say("give.empty", v, []string{
				"{A} turned to give {t} what {a.sub} carried, and found {a.pos} hands empty.",
				"{A} had nothing left to give {t}.",
			})
			return
		}
		if r.Detail == "wanted" {
			v.extra = ", exactly what " + pronoun(t.cast.People[r.Target].Pronoun, "sub") + " needed"
		}
		t.say("give", v, []string{
			"{A} gave {item} to {t}{extra}.",
			"{A} pressed {item} into {T's} hands{extra}.",
			"Without a word, {A} handed {item} to {t}{extra}.",
			"{A} made {t} a gift of {item}{extra}.",
		})
	case ActSearch:
		t.tellSearch(r, v)
	case ActAttack:
		t.tellAttack(r, v)
	case "death":
		t.tellDeath(r, v)
	case ActHelp:
		t.tellHelp(r, v)
	case ActWait:
		t.say("wait", v, []string{
			"{A} rested, nursing {a.pos} hurts.",
			"{A} kept still and let {a.pos} wounds close.",
			"{A} sat a while to get {a.pos} breath back.",
			"Hurt, {A} stayed where {a.sub} was.",
		})
	case EffectArrival, EffectDiscovery, EffectWeather, EffectMessage:
		t.verbatim(r.Text, r.Actor)
		if r.Actor != "" {
			t.named[r.Actor] = false
		}
	case "reaction":
		t.tellReaction(r, v)
	case "reversal":
		t.say("reversal", v, []string{
			"And just like that, what had seemed settled was not settled at all.",
			"It was not over after all.",
		})
	case "tip":
		v.with, v.group = t.listNames(r.With), r.With
		t.say("tip", v, []string{
			"Word got about, as word does: {With} heard that {A} had {item}, and was at {place}.",
			"Somebody always talks. Before long {With} knew that {item} was with {a}, at {place}.",
			"News came sideways, the way it does, and {With} learned that {A} had {item} at {place}.",
		})
	case "goal":
		t.tellGoal(r, v)
	case "bond":
		if r.Detail == "mutual-skip" {
			return
		}
		t.tellBond(r, v)
	case "ending":
		if r.Text != "" {
			t.verbatim(r.Text)
			return
		}
		switch r.Detail {
		case "last-standing":
			t.say("end.last", v, []string{"In the end only one was left standing, and the story had no one else to follow.", "And then there was no one left to stand against anyone."})
		case "cap":
			t.say("end.cap", v, []string{"Time ran out on all of them before anything was settled.", "The days ran on, and nothing was ever settled."})
		default:
			t.say("end.res", v, []string{"And so it was settled, one way or another.", "That was how it ended.", "Nothing was left to fight over."})
		}
	}
}

func (t *teller) tellMove(r *Record, v vars) {
	switch r.Cause {
	case "fear":
		v.t = r.CauseRef
		t.say("move.fear", v, []string{
			"{A} fled {from} for {place}, away from {t}.",
			"{A} got out of {from} before {T} could strike again.",
			"{A} limped out of {from}, afraid for {a.pos} life.",
			"Not daring to stay near {t}, {A} slipped away to {place}.",
		})
	case "side":
		v.t = r.CauseRef
		t.say("move.side", v, []string{
			"{A} took {item} to {place}, looking for {t}.",
			"{A} carried {item} off to {place}, meaning to put it in {T's} hands.",
			"With {item} hidden about {a.obj}, {A} went to find {t} at {place}.",
		})
	case "goal":
		v.cause = t.moveCause(r)
		if r.Detail == "bearing" {
			t.say("move.bearing", v, []string{
				"{A} took {item} to {place}{cause}.",
				"{A} carried {item} off to {place}{cause}.",
				"With {item} in {a.pos} keeping, {A} went on to {place}{cause}.",
			})
			break
		}
		t.say("move.goal", v, []string{
			"{A} set off for {place}{cause}.",
			"{A} made for {place}{cause}.",
			"{A} went on to {place}{cause}.",
			"{A} hurried across to {place}{cause}.",
			"{A} took the way from {from} to {place}{cause}.",
			"Leaving {from} behind, {A} headed for {place}{cause}.",
			"{A} was next seen at {place}{cause}.",
		})
	case "wander":
		if r.Detail == "bearing" {
			t.say("move.bearing", v, []string{
				"{A} took {item} to {place}.",
				"{A} carried {item} off to {place}.",
				"With {item} still in {a.pos} keeping, {A} went to {place}.",
			})
			break
		}
		fallthrough
	default:
		t.say("move.wander", v, []string{
			"{A} wandered over to {place}.",
			"{A} drifted out to {place}.",
			"{A} walked to {place}, for want of anything better to do.",
			"Restless, {A} went to {place}.",
			"{A} looked in at {place}.",
			"{A} left {from} for {place}.",
		})
	}
	if len(r.With) > 0 && r.Cause != "wander" && !t.companyTold {
		t.companyTold = true
		company := t.listNames(r.With)
		verb := "was"
		if len(r.With) > 1 {
			verb = "were"
		}
		cv := vars{a: r.Actor, company: company, group: r.With, extra: verb, place: v.place}
		// "There" is where the sentence before took the mover, if it
		// said; one that told only what was left names the place.
		if n := len(t.told); n > 0 && t.told[n-1].subject == r.Actor && strings.Contains(t.told[n-1].text, v.place) {
			t.say("move.company", cv, []string{
				"{Company} {extra} already there.",
				"There {a.sub} found {company}.",
				"{Company} looked up as {a.sub} came in.",
				"{A} was not alone there: {company} {extra} waiting.",
			})
		} else {
			t.say("move.company.at", cv, []string{
				"{Company} {extra} already at {place}.",
				"At {place} {a.sub} found {company}.",
				"{A} was not alone at {place}: {company} {extra} waiting.",
			})
		}
		if n := len(t.told); n > 0 {
			t.told[n-1].company = r.Place
		}
	}
}

func (t *teller) tellTake(r *Record, v vars) {
	switch {
	case r.Outcome == OutcomeSuccess && r.Detail == "steal":
		t.say("take.steal", v, []string{
			"{A} slipped {item} out of {T's} keeping.",
			"Quick fingers: {A} lifted {item} from {t} without a sound.",
			"{A} stole {item} from under {T's} nose.",
			"{T} looked away for a moment, and {A} had {item}.",
		})
	case r.Outcome == OutcomeSuccess && r.Detail == "strip":
		t.say("take.strip", v, []string{
			"{A} took {item} from {T's} body.",
			"{A} knelt by {t} and took {item} from the still hands.",
		})
	case r.Outcome == OutcomeSuccess:
		v.cause = t.causeClause(r)
		t.say("take", v, []string{
			"{A} snatched up {item}{cause}.",
			"{A} took {item}{cause}.",
			"{A} scooped up {item} from {place}{cause}.",
			"{A} pocketed {item}{cause}.",
			"Before anyone else could, {A} had {item}.",
		})
	case r.Detail == "caught":
		t.say("take.caught", v, []string{
			"{A} reached for {item}, but {T} caught {a.obj} by the wrist.",
			"{T} felt {A's} hand reach for {item} and knocked it away.",
			"{A} tried to lift {item} from {t}, and got caught at it.",
			"{A} went for {item}; {T} was quicker.",
		})
	default:
		if r.Target != "" {
			t.say("take.gone.held", v, []string{
				"{A} came for {item}, but {T} had it first.",
				"{A} found {item} already in {T's} hands.",
			})
			return
		}
		t.say("take.gone", v, []string{
			"{A} came for {item}, but it was already gone.",
			"{A} found only the mark where {item} had lain.",
		})
	}
}

func (t *teller) tellSpeak(r *Record, v vars) {
	quoted := r.Text != "" && !t.recent[quoteKey(r.Text)]
	if r.Source == SourcePlayer && r.Text != "" {
		quoted = true
	}
	if quoted && r.Detail != "fact" {
		t.used = append(t.used, quoteKey(r.Text))
		t.recent[quoteKey(r.Text)] = true
	}
	switch r.Detail {
	case "whereabouts":
		v.place = t.place(r.From)
		if r.CauseRef == "" {
			t.say("speak.where.loose", v, []string{
				"{A} told {t} where to look: {item} lay in {place}.",
				"From {a}, {T} learned that {item} was lying in {place}.",
			})
			return
		}
		v.extra = t.person(r.CauseRef)
		if r.CauseRef == r.Actor {
			v.extra = pronoun(t.cast.People[r.Actor].Pronoun, "obj") + "self"
			if v.extra == "themself" {
				v.extra = "themselves"
			}
		}
		t.say("speak.where", v, []string{
			"{A} drew {t} aside: {extra} had {item}, last seen at {place}.",
			"{A} told {t} where {item} had gone: to {extra}, at {place}.",
			"It was {A} who put {t} on the trail: {item} was with {extra}, at {place}.",
		})
	case "fact":
		t.say("speak.fact", v, []string{
			"{A} told {t} what {a.sub} knew: {text}.",
			"{A} drew {t} aside and told {t.obj} that {text}.",
			"From {a}, {T} learned that {text}.",
			"{A} let it slip to {t} that {text}.",
			"It was {A} who told {t} that {text}.",
		})
	case "refuse":
		if r.Callback != nil {
			v.extra = ", not forgetting " + t.place(r.Callback.Place)
		}
		t.say("speak.refuse", v, []string{
			"{A} tried to speak to {t}, but {T} turned away{extra}.",
			"{T} would not hear a word from {a}{extra}.",
			"{A} opened {a.pos} mouth; {T} walked off before the first word.",
			"{A} called after {t}, and got only a cold back{extra}.",
		})
	case "persuade":
		t.say("speak.persuade", v, []string{
			"{A} talked {t} round, and {T} handed over {item}.",
			"{T} listened to {a}, sighed, and gave up {item}.",
			"{A} asked for {item}, and {T}, to everyone's surprise, let {a.obj} have it.",
		})
	case "denied":
		t.say("speak.denied", v, []string{
			"{A} asked {t} for {item}; {T} only shook {t.pos} head.",
			"{A} tried to talk {t} out of {item} and got nowhere.",
			"{T} heard {a} out and kept a tight hold on {item}.",
		})
	case "address":
		if !quoted {
			t.say("speak.address.q", v, []string{
				"{A} muttered something nobody caught.",
				"{A} said what {a.sub} always said, and nobody answered.",
			})
			return
		}
		t.say("speak.address", v, []string{
			"\"{qtext}\" {A} said to nobody in particular.",
			"{A} spoke up in {place}: \"{text}\"",
			"\"{qtext}\" {A} told the room.",
		})
	default:
		if !quoted {
			t.say("speak.talk.q", v, []string{
				"{A} and {T} talked in low voices.",
				"{A} passed the time with {t}.",
				"{A} kept {t} company for a while.",
				"{A} traded a few words with {t}.",
				"{A} sat with {t} and talked of small things.",
				"{T} let {a} talk, and listened.",
			})
			return
		}
		t.say("speak.talk", v, []string{
			"\"{qtext}\" {A} said to {t}.",
			"{A} turned to {t}. \"{text}\"",
			"\"{qtext}\" {A} told {t}.",
			"{A} leaned close to {t}: \"{text}\"",
			"To {t}, {A} said only: \"{text}\"",
		})
	}
}

func (t *teller) tellSearch(r *Record, v vars) {
	switch r.Detail {
	case "item":
		t.say("search.item", v, []string{
			"{A} searched {place} and turned up {item}.",
			"Under a loose board in {place}, {A} found {item}.",
			"{A's} search of {place} paid off: {item}.",
			"{A} went through {place} inch by inch and came up with {item}.",
		})
	case "fact":
		t.say("search.fact", v, []string{
			"Searching {place}, {A} learned that {text}.",
			"In {place} {A} found proof that {text}.",
			"{A} pieced it together in {place}: {text}.",
		})
	case "nothing":
		t.say("search.nothing", v, []string{
			"{A} searched {place} and found nothing.",
			"{A} turned {place} over, for nothing.",
			"{A's} search of {place} came up empty.",
		})
	default:
		t.say("search.not", v, []string{
			"{A} searched {place}, without luck so far.",
			"{A} poked about {place} but found nothing yet.",
			"{A} started going through {place}.",
		})
	}
}

func (t *teller) tellAttack(r *Record, v vars) {
	if r.Outcome == OutcomeFailure && r.Detail == "gone" {
		t.say("attack.gone", v, []string{
			"{A} turned on {t}, but {T} had already gone.",
			"{A} looked round, but {T} had slipped away.",
		})
		return
	}
	v.cause = t.causeClause(r)
	if r.Outcome == OutcomeFailure {
		missed := "{A} went for {t} and missed."
		if v.cause != "" {
			// The cause is a parenthesis: close it before going on.
			missed = "{A} went for {t}{cause}, and missed."
		}
		t.say("attack.miss", v, []string{
			"{A} swung at {t}{cause}, but {T} twisted clear.",
			missed,
			"{A} lunged at {t}{cause}; the blow found only air.",
			"{T} saw {a} coming and stepped aside.",
		})
		return
	}
	if r.Item != "" && r.Detail != "wrest" {
		v.with = " with " + t.item(r.Item)
	}
	if r.Detail == "wrest" {
		t.say("attack.wrest", v, []string{
			"{A} struck {t} and tore {item} from {t.pos} grip.",
			"{A's} blow sent {item} flying from {T's} hands, and {A} snatched it up.",
			"{A} hit {t} hard enough to loosen {t.pos} hold, and came away with {item}.",
		})
		return
	}
	t.say("attack.hit", v, []string{
		"{A} struck {t}{with}{cause}.",
		"{A} went for {t}{with}{cause}, and drew blood.",
		"{A} hit {t} hard{with}{cause}.",
		"{A} lashed out at {t}{with}{cause}.",
		"{A} caught {t} with a blow{with}{cause}.",
		"{T} took a blow from {a}{with}{cause}.",
	})
}

func (t *teller) tellDeath(r *Record, v vars) {
	if r.Detail == "wrest" && r.Item != "" {
		v.extra = ", and took " + t.item(r.Item) + " from the body"
	}
	t.say("death", v, []string{
		"{A} fell at {T's} hands in {place}, and did not rise.",
		"{T} struck once more, and {A} lay still{extra}.",
		"{A} died there in {place}, {T} standing over {a.obj}.",
		"That blow was the last: {A} was dead{extra}.",
	})
	if v.extra != "" {
		return
	}
}

func (t *teller) tellHelp(r *Record, v vars) {
	if r.Outcome == OutcomeFailure {
		t.say("help.gone", v, []string{
			"{A} looked for {t} to help, but {T} had gone.",
			"{A} came to help {t}, too late to find {t.obj}.",
		})
		return
	}
	if r.Detail == "unhurt" {
		t.say("help.unhurt", v, []string{"{A} fussed over {t}, who needed no tending.", "{A} checked {t} for hurts and found none."})
		return
	}
	v.cause = t.causeClause(r)
	if r.Detail == "remedy" {
		t.say("help.remedy", v, []string{
			"{A} gave {t} {item}{cause}, and the colour came back into {t.pos} face.",
			"{A} made {t} drink {item}{cause}.",
		})
		return
	}
	t.say("help", v, []string{
		"{A} bound {T's} wounds{cause}.",
		"{A} tended to {t}{cause}.",
		"{A} knelt by {t} and saw to {t.pos} hurts{cause}.",
		"{A} patched {t} up as well as {a.sub} could{cause}.",
	})
}

func (t *teller) tellGoal(r *Record, v vars) {
	if r.Cause == "scripted" {
		t.verbatim(r.Text, r.Actor)
		t.named[r.Actor] = true
		return
	}
	v.text, v.extra = goalPhrase(r.Text), r.Text
	switch r.Detail {
	case GoalWon:
		t.say("goal.won", v, []string{
			"{A} had set out {extra}, and now it was done.",
			"It was done: {A} had managed to {text}.",
			"{A} got what {a.sub} had come for.",
		})
	case "slipped":
		v.place = ""
		if r.Callback != nil && r.Callback.Place != "" {
			v.place = ", for all it had cost at " + t.place(r.Callback.Place)
		}
		if r.Target == "" {
			t.say("goal.slip.loose", v, []string{
				"{A} no longer had {item}, and went looking for it again.",
				"{item} had slipped out of {A's} keeping.",
			})
			return
		}
		t.say("goal.slip", v, []string{
			"{A} had lost {item} to {t}{place}, and meant to have it back.",
			"Now {T} had {item}, not {a}, and {A} would not let that stand.",
			"{item} was in {T's} hands now{place}; {A} set {a.pos} jaw and went after it.",
		})
	case "regained":
		t.say("goal.regain", v, []string{
			"{item} was back where {A} wanted it.",
			"{A} had {item} back in friendly hands.",
			"So {item} changed hands again, and {A} breathed easier.",
		})
	case GoalReconciled:
		t.say("goal.rec", v, []string{
			"{A} found {a.sub} had no anger left for {t}.",
			"Whatever {A} had meant to do to {t}, {a.sub} let it go.",
		})
	default:
		t.say("goal.lost", v, []string{
			"{A} would never {text} now.",
			"For {a}, the hope to {text} was gone.",
			"{A} had meant to {text}; that was finished.",
		})
	}
}

// memoryClause calls back an older memory behind a reaction.
func (t *teller) memoryClause(r *Record) string {
	cb := r.Callback
	if cb == nil {
		return ""
	}
	at := " at " + t.place(cb.Place)
	them := t.person(r.Target)
	switch {
	case cb.Kind == ActAttack && cb.Actor == r.Target && cb.Target == r.Actor:
		return ", remembering the blow " + them + " had dealt " + pronoun(t.cast.People[r.Actor].Pronoun, "obj") + at
	case cb.Kind == ActAttack && cb.Actor == r.Target && cb.Target != "":
		return ", remembering what " + them + " had done to " + t.person(cb.Target) + at
	case cb.Kind == ActAttack && cb.Target == r.Target:
		return ", remembering " + them + " bleeding" + at
	case cb.Kind == ActTake && cb.Actor == r.Target:
		return ", remembering " + them + "'s quick hands" + at
	case (cb.Kind == ActHelp || cb.Kind == ActGive || cb.Kind == "told") && cb.Actor == r.Target:
		return ", remembering " + them + "'s kindness" + at
	case cb.Kind == "death":
		return ", remembering the dead" + at
	}
	return ", thinking back to what had happened" + at
}

func (t *teller) tellReaction(r *Record, v vars) {
	v.cause = t.memoryClause(r)
	if r.Detail == "glad" {
		t.say("react.glad", v, []string{
			"{A} found {t} afterwards and gripped {t.pos} hand{cause}.",
			"When it was over, {A} sat down beside {t}{cause}, and neither of them needed to say much.",
			"{A} laughed for the first time in days and threw an arm round {t}{cause}.",
			"Afterwards {A} made a point of thanking {t}{cause}.",
		})
		return
	}
	t.say("react.bitter", v, []string{
		"{A} would not look at {t}{cause}.",
		"Afterwards {A} stood a long while apart from {t}{cause}, and said nothing.",
		"{A} spat at {T's} feet{cause}.",
		"{A} told {t} to {t.pos} face that it was not finished{cause}.",
	})
}

func (t *teller) tellBond(r *Record, v vars) {
	detail, mutual := strings.CutPrefix(r.Detail, "mutual:")
	was, _ := strconv.Atoi(detail)
	now := r.Amount
	switch {
	case mutual && now > 0:
		t.say("bond.mutual.warm", v, []string{
			"Something had changed between {a} and {t}, and both of them knew it.",
			"{A} and {T} were friends now, whatever came next.",
			"By then {A} and {T} trusted each other.",
		})
	case mutual && now < 0:
		t.say("bond.mutual.cold", v, []string{
			"{A} and {T} could no longer stand the sight of each other.",
			"There was bad blood now between {a} and {t}.",
		})
	case now == 2:
		t.say("bond.devoted", v, []string{
			"{A} would have followed {t} anywhere by now.",
			"Whatever else happened, {A} was {T's} to the end.",
		})
	case now == 1 && was < 1:
		t.say("bond.warm", v, []string{
			"Something warmed between {a} and {t}.",
			"{A} began, against all sense, to trust {t}.",
			"{A} looked at {t} differently after that.",
		})
	case now == -2:
		t.say("bond.enemy", v, []string{
			"From then on {A} counted {t} an enemy.",
			"{A} would not forgive {t}.",
			"Whatever had been between {a} and {t}, it was hate now.",
		})
	case now < was:
		t.say("bond.cool", v, []string{
			"{A's} trust in {t} cooled.",
			"{A} no longer looked at {t} the way {a.sub} had.",
		})
	default:
		t.say("bond.thaw", v, []string{
			"{A's} hatred of {t} began to soften.",
			"{A} found it harder to hate {t} than before.",
		})
	}
}

// epilogue sums up how each character's goals came out.
func (t *teller) epilogue(rs []*Record) {
	for _, r := range rs {
		v := vars{a: r.Actor, t: r.Target, text: goalPhrase(r.Text), extra: r.Text}
		switch r.Detail {
		case GoalWon, GoalReconciled:
			t.say("epi.won", v, []string{
				"{A} had set out {extra}, and did.",
				"{A} had managed {a.pos} part, which was {extra}.",
				"As for {a}, {a.sub} had wanted {extra}, and got it.",
				"{A} could say {a.sub} had done what {a.sub} came for: {extra}.",
			})
		default:
			t.say("epi.lost", v, []string{
				"{A} had wanted {extra}, and never did.",
				"{A} never managed {extra}.",
				"As for {a}, the wish {extra} came to nothing.",
				"{A} had set out {extra}, and failed.",
			})
		}
	}
}
