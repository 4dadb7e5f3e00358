package llm

import (
	"container/list"
	"sync"

	"github.com/novel-engine/novel-engine/engine"
)

// lru keeps the most recently used answers, keyed by the sha256 of the
// request that got them.
type lru struct {
	// Set at construction.
	size int

	mu    sync.Mutex
	order *list.List                 // of *lruEntry, most recently used first; guarded by mu
	items map[[32]byte]*list.Element // guarded by mu
}

type lruEntry struct {
	key [32]byte
	a   engine.Action
}

func newLRU(size int) *lru {
	return &lru{size: size, order: list.New(), items: make(map[[32]byte]*list.Element, min(size, 1024))}
}

func (c *lru) get(key [32]byte) (engine.Action, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[key]
	if !ok {
		return engine.Action{}, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*lruEntry).a, true
}

func (c *lru) put(key [32]byte, a engine.Action) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		e.Value.(*lruEntry).a = a
		c.order.MoveToFront(e)
		return
	}
	c.items[key] = c.order.PushFront(&lruEntry{key: key, a: a})
	for c.order.Len() > c.size {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*lruEntry).key)
	}
}

func (c *lru) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
