package server

import (
	"context"
	"errors"
	"sync"

	"github.com/novel-engine/novel-engine/store"
)

// CodeQuotaExceeded (extension) refuses what would take a user or an
// address past one of its quotas, such as running stories.
const CodeQuotaExceeded = "quota_exceeded"

// quotaRetryAfter is the Retry-After of a quota refusal: a quota frees up
// when a story ends, which is not soon.
const quotaRetryAfter = 60

// ledger counts the stories started through this node that have not
// ended, per user and per guest address, for the quotas on running
// stories. An entry is dropped when the store shows its story ended (it
// is read only when a key is at its limit), so the count holds on a
// cluster whichever node runs the stories.
type ledger struct {
	st store.Store // set at construction

	mu   sync.Mutex
	sims map[string][]string // key → ids of stories not known to have ended
	keys map[string][]string // story id → its keys in sims
}

func newLedger(st store.Store) *ledger {
	return &ledger{st: st, sims: make(map[string][]string), keys: make(map[string][]string)}
}

// quota is one count a new story must fit in.
type quota struct {
	key   string
	limit int // ≤ 0: unlimited
	what  string
}

// reserve records sim against every quota, or none if one is full; the
// returned function takes it back (the story was not created).
func (l *ledger) reserve(ctx context.Context, sim string, qs []quota) (func(), error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, q := range qs {
		if q.limit <= 0 || len(l.sims[q.key]) < q.limit {
			continue
		}
		l.prune(ctx, q.key)
		if len(l.sims[q.key]) >= q.limit {
			e := Errorf(CodeQuotaExceeded, "%s may run at most %d stories at once; stop one or wait for one to end", q.what, q.limit)
			e.RetryAfter = quotaRetryAfter
			return nil, e
		}
	}
	for _, q := range qs {
		if q.limit > 0 {
			l.sims[q.key] = append(l.sims[q.key], sim)
			l.keys[sim] = append(l.keys[sim], q.key)
		}
	}
	return func() { l.ended(sim) }, nil
}

// prune drops key's stories that ended or no longer exist.
func (l *ledger) prune(ctx context.Context, key string) {
	kept := l.sims[key][:0]
	for _, id := range l.sims[key] {
		rec, err := l.st.GetSimulation(ctx, id)
		switch {
		case err == nil && (rec.Status == store.StatusFinished || rec.Status == store.StatusFailed):
			delete(l.keys, id)
		case errors.Is(err, store.ErrNotFound):
			delete(l.keys, id)
		default:
			kept = append(kept, id) // running, or unknown for now: it counts
		}
	}
	l.set(key, kept)
}

func (l *ledger) remove(key, sim string) {
	ids := l.sims[key]
	for i, id := range ids {
		if id == sim {
			l.set(key, append(ids[:i:i], ids[i+1:]...))
			return
		}
	}
}

func (l *ledger) set(key string, ids []string) {
	if len(ids) == 0 {
		delete(l.sims, key)
		return
	}
	l.sims[key] = ids
}

// ended drops a story from every count at once, when this node sees it
// end (or it was not created).
func (l *ledger) ended(sim string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, key := range l.keys[sim] {
		l.remove(key, sim)
	}
	delete(l.keys, sim)
}
