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
// arrives just as the last one leaves. It keeps no history either: the
// store has every turn, and nothing is lost on the way.
type MemoryBroker struct {
	mu   sync.RWMutex
	recv Receiver
}

var _ Broker = (*MemoryBroker)(nil)

// NewMemoryBroker returns a broker for one node.
func NewMemoryBroker() *MemoryBroker { return &MemoryBroker{} }

func (b *MemoryBroker) Bind(r Receiver) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.recv = r
}

func (b *MemoryBroker) Publish(ctx context.Context, pub Publication) error {
	b.mu.RLock()
	r := b.recv
	b.mu.RUnlock()
	if r != nil {
		r.Deliver(ctx, pub)
	}
	return nil
}

func (b *MemoryBroker) Subscribe(ctx context.Context, sim string) error   { return nil }
func (b *MemoryBroker) Unsubscribe(ctx context.Context, sim string) error { return nil }

func (b *MemoryBroker) History(ctx context.Context, sim string, since int64, limit int) ([]Publication, error) {
	return nil, nil
}

func (b *MemoryBroker) Epoch(ctx context.Context, sim string) (string, error) { return "", nil }
func (b *MemoryBroker) Ping(ctx context.Context) error                        { return ctx.Err() }
