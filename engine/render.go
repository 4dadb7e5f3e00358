package engine

import (
	"fmt"
	"strings"
)

// RenderMarkdown renders a whole story as Markdown: the title, the
// premise, then each turn's prose. A scene break marks each turn in
// which a scripted event happened.
func RenderMarkdown(title, premise string, turns []Turn) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", mdEscapeLine(title))
	if premise != "" {
		fmt.Fprintf(&b, "*%s*\n\n", strings.TrimSpace(premise))
	}
	for k, t := range turns {
		if k > 0 && scripted(t) {
			b.WriteString("* * *\n\n")
		}
		text := strings.TrimSpace(t.Narrative)
		if text == "" {
			continue
		}
		fmt.Fprintf(&b, "**%d.** %s\n\n", t.Seq, text)
		if t.Finished {
			b.WriteString("*The end.*\n")
		}
	}
	return b.String()
}

func scripted(t Turn) bool {
	for _, e := range t.Events {
		if e.Source == SourceScript {
			return true
		}
	}
	return false
}

func mdEscapeLine(s string) string {
	s = strings.ReplaceAll(strings.TrimSpace(s), "\n", " ")
	if s == "" {
		return "Untitled"
	}
	return s
}
