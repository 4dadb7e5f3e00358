package runner

import (
	"sync"

	"github.com/novel-engine/novel-engine/engine"
)

// maxScenarioCache bounds the text of the scenarios kept parsed.
const maxScenarioCache = 16 << 20

// scenarioCache keeps the scenarios of the stories started here, parsed,
// by their stored text. Many stories share one (all those of a built-in
// scenario), parsing one costs about half a millisecond, and a takeover
// of thousands of stories paid that once per story. The engine only
// reads a scenario, so stories share it.
type scenarioCache struct {
	mu    sync.Mutex
	byTxt map[string]*engine.Scenario
	bytes int
}

// Scenario returns the scenario data holds, parsed, from the cache the
// stories started here share: a node describing its stories (to each new
// watcher) need not parse again what it runs.
func (r *Runner) Scenario(data []byte) (*engine.Scenario, error) { return r.scenarios.parse(data) }

// parse returns the scenario data holds, parsed once while it is kept.
func (c *scenarioCache) parse(data []byte) (*engine.Scenario, error) {
	c.mu.Lock()
	sc, ok := c.byTxt[string(data)]
	c.mu.Unlock()
	if ok {
		return sc, nil
	}
	sc, err := engine.ParseScenario(data)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byTxt == nil || c.bytes+len(data) > maxScenarioCache {
		// Forget them all: the ones in use come back at their next start.
		c.byTxt, c.bytes = make(map[string]*engine.Scenario), 0
	}
	if _, ok := c.byTxt[string(data)]; !ok {
		c.byTxt[string(data)] = sc
		c.bytes += len(data)
	}
	return sc, nil
}
