package hub

import (
	"context"
	"sync"
)

// MemoryBroker is the in-process broker of a single node: Publish delivers
// straight to the hub, in the publisher's goroutine, so a simulation's
// publications (made by its one runner) arrive in order.
type MemoryBroker struct {
	mu      sync.RWMutex
	deliver func(context.Context, Publication)
	subs    map[string]bool
}

var _ Broker = (*MemoryBroker)(nil)

// NewMemoryBroker returns a broker for one node. Call SetHandler before use.
func NewMemoryBroker() *MemoryBroker {
	return &MemoryBroker{subs: make(map[string]bool)}
}

// SetHandler sets where publications go (normally Hub.Deliver).
func (b *MemoryBroker) SetHandler(fn func(context.Context, Publication)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.deliver = fn
}

func (b *MemoryBroker) Publish(ctx context.Context, pub Publication) error {
	b.mu.RLock()
	fn, ok := b.deliver, b.subs[pub.Sim]
	b.mu.RUnlock()
	if ok && fn != nil {
		fn(ctx, pub)
	}
	return nil
}

func (b *MemoryBroker) Subscribe(ctx context.Context, sim string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.subs[sim] = true
	return nil
}

func (b *MemoryBroker) Unsubscribe(ctx context.Context, sim string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.subs, sim)
	return nil
}
