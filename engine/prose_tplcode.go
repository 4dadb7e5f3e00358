// Templates parsed once: a template's slots are found, and what
// sentencePeople asks of it worked out, the first time it is rendered,
// not for every candidate of every sentence.

package engine

import "strings"

// tplCode is a template cut into literal runs and slots, in order, with
// whom it can mention.
type tplCode struct {
	src  string
	segs []tplSeg
	// actor, target, group: it has an {A…}/{a…}, a {T…}/{t…}, or a
	// group slot; at, the ids of its {@id…} slots.
	actor, target, group bool
	at                   []string
	// cause: it has a {cause} slot. noCause is the template with its
	// {cause} written empty, parsed when first needed.
	cause   bool
	noCause *tplCode
}

// tplSeg is a literal run (slot false) or the name of a slot.
type tplSeg struct {
	text string
	slot bool
}

// parseTemplate cuts tpl as render reads it: a slot runs from '{' to
// the next '}', and a '{' with no '}' after it is text.
func parseTemplate(tpl string) *tplCode {
	c := &tplCode{src: tpl, cause: strings.Contains(tpl, "{cause}")}
	c.actor = strings.Contains(tpl, "{A") || strings.Contains(tpl, "{a")
	c.target = strings.Contains(tpl, "{T") || strings.Contains(tpl, "{t")
	c.group = strings.Contains(tpl, "{With") || strings.Contains(tpl, "{with") ||
		strings.Contains(tpl, "{Company") || strings.Contains(tpl, "{company")
	for rest := tpl; ; {
		i := strings.Index(rest, "{@")
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			break
		}
		id, _, _ := strings.Cut(rest[i+2:i+j], "'")
		id, _, _ = strings.Cut(id, ".")
		c.at = append(c.at, id)
		rest = rest[i+j:]
	}
	lit := func(s string) {
		if s != "" {
			c.segs = append(c.segs, tplSeg{text: s})
		}
	}
	for rest := tpl; len(rest) > 0; {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			lit(rest)
			break
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			lit(rest)
			break
		}
		lit(rest[:i])
		c.segs = append(c.segs, tplSeg{text: rest[i+1 : i+j], slot: true})
		rest = rest[i+j+1:]
	}
	return c
}

// template is tpl parsed, with a cause written into its {cause} slot:
// kept for the story when the cause is empty (templates are the
// chronicler's own, a bounded set), parsed afresh when it is not (a
// cause names the record's people).
func (t *teller) template(tpl, cause string) *tplCode {
	x := t.ix()
	c := x.templates[tpl]
	if c == nil {
		if x.templates == nil {
			x.templates = map[string]*tplCode{}
		}
		c = parseTemplate(tpl)
		x.templates[tpl] = c
	}
	if !c.cause {
		return c
	}
	if cause != "" {
		return parseTemplate(strings.ReplaceAll(tpl, "{cause}", cause))
	}
	if c.noCause == nil {
		c.noCause = parseTemplate(strings.ReplaceAll(tpl, "{cause}", ""))
	}
	return c.noCause
}
