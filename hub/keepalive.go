package hub

import (
	"sync"
	"time"
)

// wheelSlots is how many parts the keepalive interval is cut into: every
// tick (interval/wheelSlots) the wheel visits one slot's connections.
const wheelSlots = 25

// flushAfter is how many ticks a due ping waits for a message to ride
// with before it is written on its own.
const flushAfter = 2

// keepalive pings the hub's accepted connections, every one once per
// interval, from one goroutine for the whole hub rather than a timer and
// a goroutine per connection. A round marks a connection's ping due; the
// ping then goes out in the same write(2) as the connection's next
// message (2 bytes more), or on its own flushAfter ticks later if none
// came. The next round, an interval later, cuts a peer from which
// nothing was read since its ping went out (its pong, or any frame), or
// whose ping could not be written in all that time. The goroutine runs
// only while some connection is pinged.
type keepalive struct {
	tick time.Duration

	mu      sync.Mutex
	slots   [wheelSlots][]*Client
	cur     int // the slot visited last
	next    int // the slot the next connection joins
	count   int
	running bool
	wake    chan struct{} // a connection left: the goroutine may end
}

func (k *keepalive) init(interval time.Duration) {
	k.tick = max(interval/wheelSlots, time.Millisecond)
	k.wake = make(chan struct{}, 1)
}

// add puts c on the wheel, slots taken in turn so that a burst of new
// connections is not pinged all at once.
func (k *keepalive) add(c *Client) {
	k.mu.Lock()
	defer k.mu.Unlock()
	s := k.next
	k.next = (k.next + 1) % wheelSlots
	c.kaSlot, c.kaIdx = s, len(k.slots[s])
	k.slots[s] = append(k.slots[s], c)
	k.count++
	if !k.running {
		k.running = true
		go k.run()
	}
}

// remove takes c off the wheel, if it is on it.
func (k *keepalive) remove(c *Client) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if c.kaSlot < 0 {
		return
	}
	slot := k.slots[c.kaSlot]
	last := len(slot) - 1
	slot[c.kaIdx] = slot[last]
	slot[c.kaIdx].kaIdx = c.kaIdx
	slot[last] = nil
	k.slots[c.kaSlot] = slot[:last]
	c.kaSlot = -1
	k.count--
	if k.count == 0 {
		select {
		case k.wake <- struct{}{}:
		default:
		}
	}
}

func (k *keepalive) run() {
	t := time.NewTicker(k.tick)
	defer t.Stop()
	var dead, flush []*Client
	for {
		select {
		case <-t.C:
		case <-k.wake:
		}
		k.mu.Lock()
		if k.count == 0 {
			k.running = false
			k.mu.Unlock()
			return
		}
		k.cur = (k.cur + 1) % wheelSlots
		dead, flush = dead[:0], flush[:0]
		for _, c := range k.slots[k.cur] {
			if !c.out.pingRound() {
				dead = append(dead, c)
			}
		}
		for _, c := range k.slots[(k.cur+wheelSlots-flushAfter)%wheelSlots] {
			if c.out.pingDue() {
				flush = append(flush, c)
			}
		}
		k.mu.Unlock()
		for _, c := range flush {
			c.flushPing()
		}
		for i, c := range dead {
			// Closing may wait for the socket; the wheel does not.
			go func() {
				c.hub.log.Debug("keepalive: no answer to a ping")
				c.conn.CloseNow()
				c.end()
			}()
			dead[i] = nil
		}
		clear(flush)
	}
}
