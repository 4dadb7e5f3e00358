package hub

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// A publication to many watchers is written to their sockets by the
// goroutine that delivers it (Enqueue writes at once to a connection that
// keeps up), one write(2) after another, so the last watcher waits for all
// the others. To spread that over cores, a channel's list of watchers is
// cut into shards: the delivering goroutine asks helpers to take some and
// takes shards itself until none is left, then waits for the shards the
// helpers took. Each watcher is in one shard, and the channel's lock is
// held throughout, so each still receives the channel's publications
// once and in order.
const (
	maxShards = 16
	// minShardSubs is the fewest watchers worth handing to a helper: waking
	// one costs about as much as a write or two.
	minShardSubs = 8
	// fanQueue bounds the requests for help waiting for a helper. When it
	// is full, the delivering goroutine does the shards itself.
	fanQueue = 64
	// helperLinger is how long a helper waits for a request before it
	// ends: a few publication intervals of a busy node.
	helperLinger = 50 * time.Millisecond
)

// fanout is the hub's helpers. A helper is a goroutine that runs while
// requests come and ends when none came for helperLinger, so an idle hub
// has none; at most helpers of them run at once. Lingering spares a busy
// hub a goroutine start (and its allocation) per publication.
type fanout struct {
	helpers int32
	running atomic.Int32
	jobs    chan fanJob
}

// fanJob asks a helper to take shards of the publication of generation
// gen of ch; those already taken are skipped, and a request that comes
// after the publication went out finds nothing to do.
type fanJob struct {
	ch  *channel
	gen uint32
}

// fanState is a channel's publication being fanned out. claim is what
// helpers read before taking a shard; the rest is written by the
// delivering goroutine, under the channel's lock, before claim announces
// it, and stays until every shard is done.
type fanState struct {
	claim       atomic.Uint64 // gen<<32 | shards<<16 | shards taken
	gen         uint32
	pub         Publication
	maxBuffered int
	done        sync.WaitGroup
	lows        [maxShards]int64 // each shard's newest turn all its live watchers have
}

func (f *fanout) init(helpers int) {
	f.helpers = int32(min(helpers, maxShards-1))
	if f.helpers > 0 {
		f.jobs = make(chan fanJob, fanQueue)
	}
}

// shards returns how many shards n watchers are cut into.
func (f *fanout) shards(n int) int {
	return max(1, min(int(f.helpers)+1, n/minShardSubs))
}

// ask requests help with n shards of j, and starts helpers for them, as
// many as may run.
func (f *fanout) ask(j fanJob, n int) {
	for i := 0; i < n; i++ {
		select {
		case f.jobs <- j:
		default:
			n = i
		}
	}
	for started := 0; started < n && f.reserve(); started++ {
		go f.help()
	}
}

// reserve counts one more helper running, unless as many as may run do.
func (f *fanout) reserve() bool {
	for {
		r := f.running.Load()
		if r >= f.helpers {
			return false
		}
		if f.running.CompareAndSwap(r, r+1) {
			return true
		}
	}
}

// help is a helper: it takes requests until none came for helperLinger.
func (f *fanout) help() {
	idle := time.NewTimer(helperLinger)
	defer idle.Stop()
	for {
		select {
		case j := <-f.jobs:
			j.ch.work(j.gen)
			idle.Reset(helperLinger)
		case <-idle.C:
			f.running.Add(-1)
			// A request sent as this helper gave up, by a goroutine that
			// found every helper running, would wait for the next
			// publication's helpers: take it on.
			if len(f.jobs) == 0 || !f.reserve() {
				return
			}
			idle.Reset(helperLinger)
		}
	}
}

// deliverLocked queues pub to every live subscription that lacks it and
// holds it for the others, and notes the newest turn all live ones have.
func (ch *channel) deliverLocked(f *fanout, pub Publication, maxBuffered int) {
	var low int64
	if n := f.shards(len(ch.list)); n > 1 {
		low = ch.fanOutLocked(f, pub, maxBuffered, n)
	} else {
		low = deliverTo(ch.list, pub, maxBuffered)
	}
	if pub.Seq > 0 && ch.live > 0 {
		ch.low = low
	}
}

// fanOutLocked delivers pub in n shards, with helpers, and returns the
// newest turn every live watcher has.
func (ch *channel) fanOutLocked(f *fanout, pub Publication, maxBuffered, n int) int64 {
	st := &ch.fan
	st.gen++
	st.pub, st.maxBuffered = pub, maxBuffered
	st.done.Add(n)
	st.claim.Store(uint64(st.gen)<<32 | uint64(n)<<16)
	f.ask(fanJob{ch: ch, gen: st.gen}, n-1)
	ch.work(st.gen)
	st.done.Wait()
	st.pub = Publication{} // not kept alive until the next one
	low := int64(math.MaxInt64)
	for _, l := range st.lows[:n] {
		low = min(low, l)
	}
	return low
}

// work delivers shards of the publication of generation gen until every
// shard is taken.
func (ch *channel) work(gen uint32) {
	st := &ch.fan
	for {
		v := st.claim.Load()
		n, i := int(v>>16&0xffff), int(v&0xffff)
		if uint32(v>>32) != gen || i >= n {
			return
		}
		if !st.claim.CompareAndSwap(v, v+1) {
			continue
		}
		lo, hi := i*len(ch.list)/n, (i+1)*len(ch.list)/n
		st.lows[i] = deliverTo(ch.list[lo:hi], st.pub, st.maxBuffered)
		st.done.Done()
	}
}

// deliverTo queues pub to subs as deliverLocked does, and returns the
// newest turn all of them that are live have.
func deliverTo(subs []*Sub, pub Publication, maxBuffered int) int64 {
	low := int64(math.MaxInt64)
	for _, s := range subs {
		if !s.live {
			if len(s.buf) >= maxBuffered {
				s.overflow = true
				continue
			}
			s.buf = append(s.buf, pub)
			continue
		}
		if pub.Seq > 0 {
			if pub.Seq > s.last {
				s.last = pub.Seq
				s.client.Enqueue(pub.Data)
			}
			low = min(low, s.last)
			continue
		}
		s.client.Enqueue(pub.Data)
	}
	return low
}
