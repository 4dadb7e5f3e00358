package hub

import "context"

// Broker carries publications to every node that has watchers of a
// simulation, and keeps what a node needs to close the gaps a lossy
// transport leaves. Implementations deliver a simulation's publications
// to the receiver in publish order, one at a time.
type Broker interface {
	// Bind sets where deliveries go. New calls it once, before anything
	// else, with the hub.
	Bind(r Receiver)
	Publish(ctx context.Context, pub Publication) error
	// Subscribe starts delivery of sim's publications to this node;
	// Unsubscribe stops it. The hub calls them as its first watcher of a
	// simulation arrives and its last one leaves.
	Subscribe(ctx context.Context, sim string) error
	Unsubscribe(ctx context.Context, sim string) error
	// History returns up to limit of sim's turn publications with
	// seq > since, in order, as far as the broker keeps them: the first
	// may come after since+1 (older ones trimmed or lost), and a broker
	// that keeps none returns none.
	History(ctx context.Context, sim string, since int64, limit int) ([]Publication, error)
	// Epoch names the generation of sim's history in the broker; it
	// changes when that history was lost. Empty when the broker keeps
	// no history of its own.
	Epoch(ctx context.Context, sim string) (string, error)
	// Ping reports whether the broker can carry publications now.
	Ping(ctx context.Context) error
}

// Receiver is what a broker delivers to: the hub.
type Receiver interface {
	// Deliver fans a publication out to this node's watchers.
	Deliver(ctx context.Context, pub Publication)
	// Recover delivers what this node's watchers of sim may have missed
	// while the broker could not receive (a dropped connection).
	Recover(ctx context.Context, sim string)
}
