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
// cut into pieces: the delivering goroutine asks helpers to take pieces,
// takes pieces itself until none is left, then waits for those the
// helpers took. Pieces are small so that a helper that starts late, or
// whose thread the system holds back, leaves the delivering goroutine
// little to wait for. Each watcher is in one piece, and the channel's
// lock is held throughout, so each still receives the channel's
// publications once and in order.
const (
	maxHelpers = 15
	// pieceSubs is the fewest watchers in a piece: waking a helper costs
	// about as much as a write or two.
	pieceSubs = 8
	// fanQueue bounds the requests for help waiting for a helper. When it
	// is full, the delivering goroutine does the pieces itself.
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

// fanJob asks a helper to take pieces of the publication of generation
// gen of ch; those already taken are skipped, and a request that comes
// after the publication went out finds nothing to do.
type fanJob struct {
	ch  *channel
	gen uint32
}

// fanState is a channel's publication being fanned out. claim is what
// helpers read before taking a piece; the rest is written by the
// delivering goroutine, under the channel's lock, before claim announces
// it, and stays until every piece is done.
type fanState struct {
	claim       atomic.Uint64 // gen<<32 | pieces<<16 | pieces taken
	gen         uint32
	pub         Publication
	maxBuffered int
	size        int // watchers per piece
	done        sync.WaitGroup
	low         atomic.Int64 // newest turn all live watchers of the pieces done have
}

func (f *fanout) init(helpers int) {
	f.helpers = int32(min(helpers, maxHelpers))
	if f.helpers > 0 {
		f.jobs = make(chan fanJob, fanQueue)
	}
}

// pieces returns how many pieces n watchers are cut into, and their size;
// one piece when no helper may run.
func (f *fanout) pieces(n int) (count, size int) {
	if f.helpers == 0 || n < 2*pieceSubs {
		return 1, n
	}
	size = max(pieceSubs, (n+0xfffe)/0xffff) // the count fits in claim
	return (n + size - 1) / size, size
}

// ask requests help with j from n helpers, and starts helpers for them, as
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
	if n, size := f.pieces(len(ch.list)); n > 1 {
		low = ch.fanOutLocked(f, pub, maxBuffered, n, size)
	} else {
		low = deliverTo(ch.list, pub, maxBuffered)
	}
	if pub.Seq > 0 && ch.live > 0 {
		ch.low = low
	}
}

// fanOutLocked delivers pub in n pieces of size watchers, with helpers,
// and returns the newest turn every live watcher has.
func (ch *channel) fanOutLocked(f *fanout, pub Publication, maxBuffered, n, size int) int64 {
	st := &ch.fan
	st.gen++
	st.pub, st.maxBuffered, st.size = pub, maxBuffered, size
	st.low.Store(math.MaxInt64)
	st.done.Add(n)
	st.claim.Store(uint64(st.gen)<<32 | uint64(n)<<16)
	f.ask(fanJob{ch: ch, gen: st.gen}, min(int(f.helpers), n-1))
	ch.work(st.gen)
	st.done.Wait()
	st.pub = Publication{} // not kept alive until the next one
	return st.low.Load()
}

// work delivers pieces of the publication of generation gen until every
// piece is taken.
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
		lo := i * st.size
		low := deliverTo(ch.list[lo:min(lo+st.size, len(ch.list))], st.pub, st.maxBuffered)
		for {
			cur := st.low.Load()
			if low >= cur || st.low.CompareAndSwap(cur, low) {
				break
			}
		}
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
