package engine

import (
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
)

//go:embed scenarios/*.yaml
var builtinFS embed.FS

var builtins = sync.OnceValue(func() []*Scenario {
	entries, err := fs.ReadDir(builtinFS, "scenarios")
	if err != nil {
		panic(fmt.Sprintf("engine: read built-in scenarios: %v", err))
	}
	var out []*Scenario
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		data, err := builtinFS.ReadFile("scenarios/" + e.Name())
		if err != nil {
			panic(fmt.Sprintf("engine: read built-in scenario %s: %v", e.Name(), err))
		}
		sc, err := ParseScenario(data)
		if err != nil {
			// Built-ins are tested; a broken one is a build defect.
			panic(fmt.Sprintf("engine: built-in scenario %s: %v", e.Name(), err))
		}
		out = append(out, sc)
	}
	slices.SortFunc(out, func(a, b *Scenario) int { return strings.Compare(a.ID, b.ID) })
	return out
})

// Builtins returns the built-in scenarios, sorted by id. They are shared:
// callers must not modify them.
func Builtins() []*Scenario { return slices.Clone(builtins()) }

// Builtin returns the built-in scenario with this id.
func Builtin(id string) (*Scenario, bool) {
	for _, sc := range builtins() {
		if sc.ID == id {
			return sc, true
		}
	}
	return nil, false
}
