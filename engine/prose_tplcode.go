// Templates parsed once: a template's slots are found, and what
// sentencePeople asks of it worked out, the first time any story renders
// it, not for every candidate of every sentence.

package engine

import (
	"strings"
	"sync"
	"sync/atomic"
)

// parsedTemplates holds the templates parsed, for every story: they are
// the chronicler's own literals, a few hundred. parsedCount bounds it all
// the same; past maxParsed a template is parsed each time.
var (
	parsedTemplates sync.Map // template → *tplCode
	parsedCount     atomic.Int32
)

const maxParsed = 4096

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
	// {cause} written empty. A parsed template is not changed again.
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
	c := &tplCode{}
	c.parse(tpl)
	if c.cause {
		c.noCause = &tplCode{}
		c.noCause.parse(strings.ReplaceAll(tpl, "{cause}", ""))
	}
	return c
}

// parse cuts tpl into c, reusing the room of c's lists.
func (c *tplCode) parse(tpl string) {
	*c = tplCode{src: tpl, cause: strings.Contains(tpl, "{cause}"), segs: c.segs[:0], at: c.at[:0]}
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
}

// template is tpl parsed, with a cause written into its {cause} slot:
// kept when the cause is empty, parsed afresh into the teller's own when
// it is not (a cause names the record's people; one rendering at a time
// uses it).
func (t *teller) template(tpl, cause string) *tplCode {
	var c *tplCode
	if v, ok := parsedTemplates.Load(tpl); ok {
		c = v.(*tplCode)
	} else {
		c = parseTemplate(tpl)
		if parsedCount.Load() < maxParsed {
			if _, loaded := parsedTemplates.LoadOrStore(tpl, c); !loaded {
				parsedCount.Add(1)
			}
		}
	}
	switch {
	case !c.cause:
		return c
	case cause != "":
		t.withCause.parse(strings.ReplaceAll(tpl, "{cause}", cause))
		return &t.withCause
	}
	return c.noCause
}
