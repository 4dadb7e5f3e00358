package cluster

import (
	"hash/fnv"
	"strconv"
	"strings"
)

// keys names every Redis key and channel of a cluster, under one prefix,
// so that several clusters (or tests) can share a Redis. A simulation's
// keys carry its id as a hash tag ({sim}), so the keys a script touches
// together live in one slot of a Redis Cluster. The other keys are one
// each, touched alone or in pipelines (which a cluster client splits by
// slot).
type keys struct{ prefix string }

// shardBuckets is how many groups a Redis Cluster's story channels fall
// in. A sharded subscription connection serves the channels of one slot
// (go-redis resubscribes them all in one SSUBSCRIBE, which must not cross
// slots), so a node holds one connection per bucket it watches: at most
// this many, however many stories it watches.
const shardBuckets = 64

func newKeys(prefix string) keys {
	if prefix == "" {
		prefix = "novel:"
	}
	return keys{prefix: prefix}
}

// Publications and their history.
func (k keys) turns(sim string) string   { return k.prefix + "turns:" + sim }
func (k keys) history(sim string) string { return k.prefix + "history:{" + sim + "}" }
func (k keys) epoch(sim string) string   { return k.prefix + "epoch:{" + sim + "}" }
func (k keys) brokerControl() string     { return k.prefix + "broker" }

// turnsSim returns the simulation whose turns channel is ch.
func (k keys) turnsSim(ch string) (string, bool) { return strings.CutPrefix(ch, k.prefix+"turns:") }

// shardTurns is sim's channel on a Redis Cluster (sharded pub/sub): its
// hash tag is sim's bucket, so each bucket's channels share a slot.
func (k keys) shardTurns(sim string) string {
	return k.prefix + "turns:{" + bucket(sim) + "}" + sim
}

// shardTurnsSim returns the simulation whose sharded channel is ch.
func (k keys) shardTurnsSim(ch string) (string, bool) {
	rest, ok := strings.CutPrefix(ch, k.prefix+"turns:{")
	if !ok {
		return "", false
	}
	_, sim, ok := strings.Cut(rest, "}")
	return sim, ok
}

// bucket is sim's group of channels on a Redis Cluster.
func bucket(sim string) string {
	h := fnv.New32a()
	h.Write([]byte(sim))
	return "b" + strconv.Itoa(int(h.Sum32()%shardBuckets))
}

// Membership, leases and notices.
func (k keys) lease(sim string) string { return k.prefix + "lease:{" + sim + "}" }
func (k keys) nodes() string           { return k.prefix + "nodes" }
func (k keys) loads() string           { return k.prefix + "loads" }
func (k keys) capacity() string        { return k.prefix + "capacity" }
func (k keys) notices() string         { return k.prefix + "cluster" }

// placed names the node a new simulation was placed on, for a few
// seconds after it was created: that node takes it, no other.
func (k keys) placed(sim string) string { return k.prefix + "placed:{" + sim + "}" }

// leaseIndex is a sorted set of the simulations that should run, each
// scored with the time (Unix ms) its lease lasts until unless renewed: 0
// for one released or never leased. The simulations scored before now
// are those without an owner, so finding them costs in proportion to
// them. indexSeeded exists while the index holds every simulation the
// store says should run; Redis losing it (a restart without
// persistence) has the index seeded again from the store.
func (k keys) leaseIndex() string  { return k.prefix + "leases" }
func (k keys) indexSeeded() string { return k.prefix + "leases:seeded" }

// Requests between nodes.
func (k keys) actions(sim string) string  { return k.prefix + "actions:{" + sim + "}" }
func (k keys) replies(node string) string { return k.prefix + "reply:" + node }

// actionsSim returns the simulation whose actions stream is key.
func (k keys) actionsSim(key string) string {
	return strings.TrimSuffix(strings.TrimPrefix(key, k.prefix+"actions:{"), "}")
}

// Presence.
func (k keys) watchers(sim string) string { return k.prefix + "watchers:{" + sim + "}" }
