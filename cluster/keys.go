package cluster

import "strings"

// keys names every Redis key and channel of a cluster, under one prefix,
// so that several clusters (or tests) can share a Redis. A simulation's
// keys carry its id as a hash tag ({sim}), so the keys a script touches
// together live in one slot of a Redis Cluster.
type keys struct{ prefix string }

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

// Membership, leases and notices.
func (k keys) lease(sim string) string { return k.prefix + "lease:{" + sim + "}" }
func (k keys) nodes() string           { return k.prefix + "nodes" }
func (k keys) loads() string           { return k.prefix + "loads" }
func (k keys) notices() string         { return k.prefix + "cluster" }

// Requests between nodes.
func (k keys) actions(sim string) string  { return k.prefix + "actions:{" + sim + "}" }
func (k keys) replies(node string) string { return k.prefix + "reply:" + node }

// actionsSim returns the simulation whose actions stream is key.
func (k keys) actionsSim(key string) string {
	return strings.TrimSuffix(strings.TrimPrefix(key, k.prefix+"actions:{"), "}")
}

// Presence.
func (k keys) watchers(sim string) string { return k.prefix + "watchers:{" + sim + "}" }
