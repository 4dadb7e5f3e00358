package hub

import (
	"context"
	"sync"
)

// MemoryBroker is the in-process broker of a single node: Publish delivers
// straight to the hub, in the publisher's goroutine, so a simulation's
// publications (made by its one runner) arrive in order. It keeps no
// subscription list: the hub already drops publications nobody watches,
// and a second list could only disagree with the hub's when a watcher
// arrives just as the last one leaves.
type MemoryBroker struct {
	mu      sync.RWMutex
	deliver func(context.Context, Publication)
}

var _ Broker = (*MemoryBroker)(nil)

// NewMemoryBroker returns a broker for one node. Call SetHandler before use.
func NewMemoryBroker() *MemoryBroker { return &MemoryBroker{} }

// SetHandler sets where publications go (normally Hub.Deliver).
func (b *MemoryBroker) SetHandler(fn func(context.Context, Publication)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.deliver = fn
}

func (b *MemoryBroker) Publish(ctx context.Context, pub Publication) error {
	b.mu.RLock()
	fn := b.deliver
	b.mu.RUnlock()
	if fn != nil {
		fn(ctx, pub)
	}
	return nil
}

func (b *MemoryBroker) Subscribe(ctx context.Context, sim string) error   { return nil }
func (b *MemoryBroker) Unsubscribe(ctx context.Context, sim string) error { return nil }
