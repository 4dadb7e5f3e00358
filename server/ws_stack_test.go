package server

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/novel-engine/novel-engine/store"
)

// gatedStore blocks GetSimulation, once entered is signalled, until open
// is closed.
type gatedStore struct {
	*store.Memory
	entered chan struct{}
	open    chan struct{}
}

func (g *gatedStore) GetSimulation(ctx context.Context, id string) (*store.Simulation, error) {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	<-g.open
	return g.Memory.GetSimulation(ctx, id)
}

// TestMessagesHandledOffTheReader: a message is handled on a goroutine
// other than the connection's reader, so that the reader's stack, which
// lasts as long as the connection, never grows to what handling needs.
func TestMessagesHandledOffTheReader(t *testing.T) {
	g := &gatedStore{Memory: store.NewMemory(), entered: make(chan struct{}, 1), open: make(chan struct{})}
	_, hs := newTestServer(t, g, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, strings.Replace(hs.URL, "http", "ws", 1)+"/v1/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if _, _, err := c.Read(ctx); err != nil { // welcome
		t.Fatal(err)
	}
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"subscribe","id":"1","sim":"nope"}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-g.entered:
	case <-ctx.Done():
		t.Fatal("the subscribe was not handled")
	}
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	close(g.open)
	found := false
	for _, s := range strings.Split(stacks, "\n\n") {
		if !strings.Contains(s, "server.(*conn).handle(") {
			continue
		}
		found = true
		if strings.Contains(s, "server.(*conn).readLoop(") {
			t.Fatalf("the message is handled on the reader's stack:\n%s", s)
		}
	}
	if !found {
		t.Fatalf("no goroutine handles the message:\n%s", stacks)
	}
	if _, _, err := c.Read(ctx); err != nil { // the error reply
		t.Fatal(err)
	}
}
