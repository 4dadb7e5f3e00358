package postgres

import (
	"bytes"
	"container/list"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
)

// A world state changes little from one turn to the next, but it is
// 11-12 KB for the built-in stories and up to ~49 KB for the largest
// scenarios: rewriting it whole with every turn costs a new TOAST value
// and its WAL each time. So a simulation's row keeps a base (state: the
// full state after some turn, named by a random state_tag) and each turn
// writes only a delta (state_delta): the state after the head, encoded
// against the base. When the delta would grow past a share of the state,
// the turn writes the full state as the new base instead, with no delta.
//
// The delta is a format byte, then operations, each a literal (bytes of
// the new state) followed by a copy (a run of the base), and a last
// literal:
//
//	uvarint(len(literal)<<1 | moved)  literal
//	uvarint(copy length)  [varint(copy start - end of the previous copy), if moved]
//
// Most of a state is where it was in the base, so most copies start where
// the previous one ended and cost two or three bytes. This encoding was
// measured against DEFLATE with the base as history (compress/flate): its
// deltas are about twice as long, but it takes a fifth of the CPU, and it
// has no 32 KB window, so large states encode as well as small ones.
//
// The writer needs the base it encodes against; the Store keeps the base
// it wrote or loaded last for each simulation in a bounded cache, and the
// append writes a delta only if the row's state_tag is still the one the
// delta was made against, else writes the full state (see appendSQL).

// deltaFormat is the first byte of a state_delta: the encoding above.
const deltaFormat = 1

// rebaseShare: a turn whose delta would be longer than 1/rebaseShare of
// its state writes the full state as a new base. Measured on the built-in
// stories, 1/8 wrote the fewest bytes per turn of 1/4, 1/8 and 1/16.
const rebaseShare = 8

const (
	minMatch = 8 // the shortest copy looked up in the base's index
	ways     = 4 // the index keeps the last 4 places of each hash
	// The index has a bucket for every 4 bytes of the base (4,096 for
	// a built-in story's), between these bounds.
	minBits, maxBits = 10, 15
)

// baseIndex maps a hash of 8 bytes to the last places (+1, 0 for none) in
// the base where bytes of that hash start.
type baseIndex struct {
	bits    uint
	buckets [][ways]int32
}

var baseIndexes = sync.Pool{New: func() any { return &baseIndex{buckets: make([][ways]int32, 1<<maxBits)} }}

func (x *baseIndex) reset(base []byte) {
	x.bits = minBits
	for x.bits < maxBits && 1<<x.bits*ways < len(base) {
		x.bits++
	}
	clear(x.buckets[:1<<x.bits])
	for p := 0; p+minMatch <= len(base); p++ {
		b := x.at(base[p:])
		copy(b[1:], b[:ways-1])
		b[0] = int32(p + 1)
	}
}

// at is the bucket of the 8 bytes b starts with.
func (x *baseIndex) at(b []byte) *[ways]int32 {
	return &x.buckets[(binary.LittleEndian.Uint64(b)*0x9E3779B185EBCA87)>>(64-x.bits)]
}

// encodeDelta returns state encoded against base (see above), or nil as
// soon as the delta would be longer than limit: the state is then written
// in full, and the encoder need not go on through a state unlike its base.
func encodeDelta(base, state []byte, limit int) []byte {
	index := baseIndexes.Get().(*baseIndex)
	defer baseIndexes.Put(index)
	index.reset(base)
	out := make([]byte, 1, 64+len(state)/rebaseShare)
	out[0] = deltaFormat
	// lit is where the pending literal starts, next where the base goes
	// on if the state goes on as it did, end where the last copy ended.
	lit, i, next, end := 0, 0, 0, 0
	for i+minMatch <= len(state) {
		if len(out)+i-lit > limit {
			return nil
		}
		from, n := -1, 0
		// A short run where the base goes on pays, since its start need
		// not be written; a byte or two either side covers a number that
		// grew or shrank by a digit.
		for _, d := range [...]int{0, 1, -1, 2, -2} {
			p := next + d
			if p < 0 || p >= len(base) {
				continue
			}
			if m := matchLen(base[p:], state[i:]); m >= 4+2*min(1, abs(d)) && m > n {
				from, n = p, m
				if d == 0 {
					break
				}
			}
		}
		if from < 0 {
			// Else the longest run among the places these bytes are in
			// the base, the nearest to where it was expected on a tie.
			for _, p := range index.at(state[i:]) {
				if p--; p < 0 {
					break
				}
				m := matchLen(base[p:], state[i:])
				if m >= minMatch && (m > n || m == n && abs(int(p)-next) < abs(from-next)) {
					from, n = int(p), m
				}
			}
		}
		if from < 0 {
			i++
			next++
			continue
		}
		for i > lit && from > 0 && base[from-1] == state[i-1] {
			i, from, n = i-1, from-1, n+1
		}
		moved := uint64(0)
		if from != end {
			moved = 1
		}
		out = binary.AppendUvarint(out, uint64(i-lit)<<1|moved)
		out = append(out, state[lit:i]...)
		out = binary.AppendUvarint(out, uint64(n))
		if moved == 1 {
			out = binary.AppendVarint(out, int64(from-end))
		}
		i += n
		lit, next, end = i, from+n, from+n
	}
	out = binary.AppendUvarint(out, uint64(len(state)-lit)<<1)
	if len(out)+len(state)-lit > limit {
		return nil
	}
	return append(out, state[lit:]...)
}

// matchLen is the length of the common prefix of a and b.
func matchLen(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	for i+8 <= n && binary.LittleEndian.Uint64(a[i:]) == binary.LittleEndian.Uint64(b[i:]) {
		i += 8
	}
	for i < n && a[i] == b[i] {
		i++
	}
	return i
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// decodeDelta returns the state that delta encodes against base.
func decodeDelta(base, delta []byte) ([]byte, error) {
	if len(delta) == 0 || delta[0] != deltaFormat {
		return nil, errors.New("state delta: unknown format")
	}
	delta = delta[1:]
	out := make([]byte, 0, len(base)+len(base)/8)
	end := 0
	for {
		h, k := binary.Uvarint(delta)
		if k <= 0 || h>>1 > uint64(len(delta)-k) {
			return nil, errors.New("state delta: bad literal")
		}
		l := int(h >> 1)
		out = append(out, delta[k:k+l]...)
		if delta = delta[k+l:]; len(delta) == 0 {
			if h&1 != 0 {
				return nil, errors.New("state delta: truncated")
			}
			return out, nil
		}
		n, k := binary.Uvarint(delta)
		if k <= 0 {
			return nil, errors.New("state delta: bad copy")
		}
		delta = delta[k:]
		from := int64(end)
		if h&1 != 0 {
			d, k := binary.Varint(delta)
			if k <= 0 {
				return nil, errors.New("state delta: bad copy")
			}
			from += d
			delta = delta[k:]
		}
		if from < 0 || n > uint64(len(base)) || from > int64(len(base))-int64(n) {
			return nil, fmt.Errorf("state delta: a copy of %d bytes at %d, out of the base", n, from)
		}
		out = append(out, base[from:from+int64(n)]...)
		end = int(from) + int(n)
	}
}

// stateColumns are the columns that hold a simulation's state, read by
// rowState.
const stateColumns = `state, state_tag, state_delta`

// rowState is a simulation's state as its row holds it.
type rowState struct {
	state, delta []byte
	tag          *int64
}

func (r *rowState) dest() []any { return []any{&r.state, &r.tag, &r.delta} }

// resolve returns the state after the head: the row's state, or the state
// its delta encodes against it. It keeps the row's base, so that the next
// turn written here is a delta against it.
func (s *Store) resolve(simID string, r *rowState) ([]byte, error) {
	base, state := r.state, r.state
	if r.delta != nil {
		var err error
		if state, err = decodeDelta(base, r.delta); err != nil {
			return nil, err
		}
	} else {
		base = bytes.Clone(state) // the caller's copy is its own
	}
	if r.tag != nil {
		s.bases.put(simID, *r.tag, base)
	} else {
		s.bases.drop(simID)
	}
	return state, nil
}

// LoadState returns the head and the state after it (see resolve).
func (s *Store) LoadState(ctx context.Context, simID string) (int64, []byte, error) {
	var (
		head int64
		row  rowState
	)
	err := s.pool.QueryRow(ctx, `select head, `+stateColumns+` from simulations where id = $1`,
		simID).Scan(append([]any{&head}, row.dest()...)...)
	if err != nil {
		return 0, nil, fmt.Errorf("load state of %q: %w", simID, translate(err))
	}
	state, err := s.resolve(simID, &row)
	if err != nil {
		return 0, nil, fmt.Errorf("load state of %q at %d: %w", simID, head, err)
	}
	return head, state, nil
}

// newStateTag names a new base. Random, so that two nodes never write
// different bases under one tag, even for a story id used again.
func newStateTag() int64 { return rand.Int64() }

// baseCache holds, per simulation, the base its row holds as far as this
// Store knows, up to a number of bytes; the least recently used go first.
// A simulation that is not in it writes its next turn in full.
type baseCache struct {
	mu    sync.Mutex
	max   int
	size  int
	order *list.List // of *cachedBase, most recently used first
	byID  map[string]*list.Element
}

type cachedBase struct {
	simID string
	tag   int64
	state []byte
}

func newBaseCache(limit int) *baseCache {
	return &baseCache{max: limit, order: list.New(), byID: make(map[string]*list.Element)}
}

// get returns simID's base, if known.
func (c *baseCache) get(simID string) (tag int64, state []byte, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byID[simID]
	if !ok {
		return 0, nil, false
	}
	c.order.MoveToFront(e)
	b := e.Value.(*cachedBase)
	return b.tag, b.state, true
}

// put records that simID's row holds state as its base, under tag. The
// cache keeps state: the caller must not change it.
func (c *baseCache) put(simID string, tag int64, state []byte) {
	if len(state) > c.max {
		c.drop(simID)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byID[simID]; ok {
		b := e.Value.(*cachedBase)
		c.size += len(state) - len(b.state)
		b.tag, b.state = tag, state
		c.order.MoveToFront(e)
	} else {
		c.byID[simID] = c.order.PushFront(&cachedBase{simID: simID, tag: tag, state: state})
		c.size += len(state)
	}
	for c.size > c.max {
		b := c.order.Remove(c.order.Back()).(*cachedBase)
		delete(c.byID, b.simID)
		c.size -= len(b.state)
	}
}

// drop forgets simID's base.
func (c *baseCache) drop(simID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byID[simID]; ok {
		c.size -= len(e.Value.(*cachedBase).state)
		c.order.Remove(e)
		delete(c.byID, simID)
	}
}
