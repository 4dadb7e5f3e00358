package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/novel-engine/novel-engine/hub"
	"github.com/novel-engine/novel-engine/store"
)

// maxStrikes is how many messages over its rate a connection may send
// before it is closed with 4029.
const maxStrikes = 20

// conn is one WebSocket session.
type conn struct {
	// set at construction
	s       *Server
	ws      *websocket.Conn
	client  *hub.Client
	user    User
	session string
	unadmit func() // gives back the connection's place in the limits
	flood   *flood // owned by the read loop
}

func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	if s.Draining() {
		s.writeError(w, r, Errorf(CodeUnavailable, "node is shutting down; connect to another"))
		return
	}
	u := userFrom(r.Context())
	release, ok := s.admitConn(w, r, u)
	if !ok {
		return
	}
	// The server's read and write timeouts are for REST: a WebSocket
	// lives as long as it is used, and pings keep it honest.
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Time{})
	ws, client, err := s.hub.Accept(w, r, s.accept)
	if err != nil {
		release()
		s.log.Debug("websocket accept", "err", err)
		return // Accept has answered
	}
	ws.SetReadLimit(maxFrameBytes)
	floodKey := "user:" + u.ID
	if u.Role == RoleAnonymous {
		floodKey = "addr:" + s.clientAddr(r)
	}
	c := &conn{
		s: s, ws: ws, client: client, user: u, session: randomID(12), unadmit: release,
		flood: newFlood(s.cfg.MessageRate, s.cfg.MessageBurst, s.userMsgs, floodKey),
	}
	s.metrics.connections.Inc()
	s.seats.connected(u)
	// A drain that began while this connection was being accepted must
	// still close it.
	if s.Draining() {
		c.client.Close(websocket.StatusGoingAway, "server shutting down")
	}
	// The connection is read in a goroutine of its own and this handler
	// returns, so that the request, its middlewares' state and the deep
	// stack they ran on are not kept for the connection's life.
	s.conns.Add(1)
	// Sent here, on the handler's deep stack, rather than by the reader.
	c.send(welcomeMsg{Type: "welcome", Protocol: 1, Session: c.session, Node: c.s.cfg.Node, User: c.user})
	go c.run()
}

// run owns the connection: it reads, while the hub's client writes and
// pings.
func (c *conn) run() {
	defer c.s.conns.Done()
	defer c.unadmit()
	defer c.s.metrics.connections.Dec()
	if !c.user.ExpiresAt.IsZero() {
		t := time.AfterFunc(time.Until(c.user.ExpiresAt), func() {
			c.client.Close(hub.StatusTokenExpired, "token expired")
		})
		defer t.Stop()
	}
	if c.user.Role == RoleAnonymous && c.s.cfg.AnonymousIdle > 0 {
		stop := c.closeWhenIdle(c.s.cfg.AnonymousIdle)
		defer stop()
	}
	c.readLoop()

	// Leaving. If the server is closing the connection, let the writer
	// finish the close handshake; otherwise the peer is gone.
	if c.client.Closing() {
		t := time.NewTimer(15 * time.Second)
		select {
		case <-c.client.Done():
		case <-t.C:
		}
		t.Stop()
	}
	ctx := context.WithoutCancel(c.s.ctx)
	c.s.hub.Disconnect(ctx, c.client)
	c.s.seats.disconnected(c.user)
	for _, sim := range c.client.Subs() {
		c.s.presence.mark(sim)
	}
}

// readLoop reads until the connection ends: the peer left, or the
// client closed it (a close, a failed write or ping, or the server's
// Abort). Reads take a context without Done, so that the library arms no
// timer per read; closing the connection is what stops them.
func (c *conn) readLoop() {
	for {
		typ, data, err := c.ws.Read(context.Background())
		if err != nil {
			// The peer left, the frame was too large (the library closes
			// with 1009), or the writer closed the socket.
			return
		}
		if typ != websocket.MessageText {
			c.client.CloseAfterQueued(websocket.StatusPolicyViolation, "text frames only")
			return
		}
		if !utf8.Valid(data) {
			c.client.CloseAfterQueued(websocket.StatusInvalidFramePayloadData, "text frames must be UTF-8")
			return
		}
		c.s.metrics.messagesIn.Inc()
		if ok, closeConn := c.flood.check(time.Now()); !ok {
			if closeConn {
				c.client.CloseAfterQueued(hub.StatusTooManyMessages, "too many messages")
				return
			}
			c.sendError("", Errorf(CodeRateLimited, "too many messages; slow down"))
			continue
		}
		c.handleOffStack(data)
	}
}

// handleOffStack handles one message on a goroutine of its own and waits
// for it, so messages are still handled one at a time and in order. The
// reader's stack then only ever holds a blocked read, a few KiB, where
// handling a subscribe grows it to 16 KiB, which the runtime does not
// give back while a quarter of it is in use; the handler's stack goes
// back to the runtime's cache when it ends, for the next handler.
func (c *conn) handleOffStack(data []byte) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.handle(c.s.ctx, data)
	}()
	<-done
}

// closeWhenIdle closes the connection with StatusIdle once it has had no
// subscription for d, checked every d; stop ends the checks.
func (c *conn) closeWhenIdle(d time.Duration) (stop func()) {
	var (
		mu      sync.Mutex
		t       *time.Timer
		stopped bool
	)
	mu.Lock()
	defer mu.Unlock()
	t = time.AfterFunc(d, func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		if len(c.client.Subs()) == 0 {
			c.client.Close(StatusIdle, "idle: no subscription")
			return
		}
		t.Reset(d)
	})
	return func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		t.Stop()
	}
}

func (c *conn) send(v any) {
	c.client.Enqueue(mustJSON(v))
}

func (c *conn) sendError(id string, err error) {
	e := toError(c.s.log, err)
	if e.Code == CodeUnavailable {
		// The WebSocket protocol has no unavailable code; internal is
		// the closest, and the message says to retry.
		e = &Error{Code: CodeInternal, Message: e.Message}
	}
	c.s.metrics.wsErrors.WithLabelValues(e.Code).Inc()
	c.send(errorMsg{Type: "error", ID: id, Code: e.Code, Message: e.Message})
}

// decodeClientMsg reads one client message and checks what every type
// shares; a refusal carries the message's id when it has one to name.
func decodeClientMsg(data []byte) (clientMsg, string, *Error) {
	var m clientMsg
	if jsonTooDeep(data, maxJSONDepth) {
		return m, "", Errorf(CodeBadRequest, "message nests deeper than %d levels", maxJSONDepth)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, "", Errorf(CodeBadRequest, "invalid JSON: %v", err)
	}
	if len(m.ID) > maxIDLen || hasControl(m.ID) {
		return m, "", Errorf(CodeBadRequest, "id must be at most %d characters, none a control character", maxIDLen)
	}
	if m.Type != "ping" && (m.Sim == "" || len(m.Sim) > maxIDLen) {
		switch m.Type {
		case "subscribe", "unsubscribe", "claim", "release", "act", "ballot":
			return m, m.ID, Errorf(CodeBadRequest, "sim must be 1 to %d characters", maxIDLen)
		}
	}
	return m, m.ID, nil
}

func (c *conn) handle(ctx context.Context, data []byte) {
	m, id, e := decodeClientMsg(data)
	if e != nil {
		c.sendError(id, e)
		return
	}
	var err error
	switch m.Type {
	case "ping":
		c.send(replyMsg{Type: "pong", ID: m.ID})
	case "subscribe":
		err = c.subscribe(ctx, m)
	case "unsubscribe":
		if !c.s.hub.Unsubscribe(ctx, c.client, m.Sim) {
			err = Errorf(CodeNotFound, "not subscribed to %q", m.Sim)
			break
		}
		c.s.presence.mark(m.Sim)
		c.send(replyMsg{Type: "unsubscribed", ID: m.ID, Sim: m.Sim})
	case "claim":
		err = c.claim(ctx, m)
	case "release":
		err = c.release(ctx, m)
	case "act":
		err = c.act(ctx, m)
	case "ballot":
		err = c.ballot(ctx, m)
	case "":
		err = Errorf(CodeBadRequest, "message has no type")
	default:
		err = Errorf(CodeBadRequest, "unknown message type %q", truncate(m.Type, 32))
	}
	if err != nil {
		c.sendError(m.ID, err)
	}
}

// subscribe sends what the client missed (or a snapshot), then live turns,
// with no gap and no duplicate: the subscription holds live publications
// while history is read, and the hub merges the two by seq.
func (c *conn) subscribe(ctx context.Context, m clientMsg) error {
	s := c.s
	if n := s.cfg.MaxSubscriptions; n > 0 {
		if subs := c.client.Subs(); len(subs) >= n && !slices.Contains(subs, m.Sim) {
			return Errorf(CodeQuotaExceeded, "at most %d subscriptions per connection; unsubscribe from one first", n)
		}
	}
	// A crowd resuming at once (a dead node's watchers, all on the
	// survivors within a second) reads its history a few at a time:
	// unbounded, the reads hold every store connection and the takeover's
	// reads and the turns' appends queue behind them for seconds. Taken
	// before the subscription, so no live turn is held while waiting.
	select {
	case s.histories <- struct{}{}:
	case <-c.client.Done():
		return nil // gone while waiting
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.histories }()
	sub, err := s.hub.Subscribe(ctx, c.client, m.Sim)
	if err != nil {
		return err
	}
	last, err := c.sendHistory(ctx, m)
	if err == nil {
		err = s.hub.Activate(ctx, sub, last)
	}
	if err != nil {
		s.hub.Unsubscribe(ctx, c.client, m.Sim)
		return err
	}
	s.presence.mark(m.Sim)
	s.metrics.subscriptions.Inc()
	return nil
}

// sendHistory queues the subscribed reply and the turns after since, or a
// snapshot, and returns the seq of the newest turn queued.
func (c *conn) sendHistory(ctx context.Context, m clientMsg) (int64, error) {
	s := c.s
	rec, err := s.simulation(ctx, m.Sim)
	if err != nil {
		return 0, err
	}
	head := rec.Head
	epoch := s.epoch(ctx, m.Sim)
	if m.Since != nil && *m.Since >= 0 && *m.Since <= head {
		recovered := true
		c.send(replyMsg{Type: "subscribed", ID: m.ID, Sim: m.Sim, Head: &head, Recovered: &recovered, Epoch: epoch})
		last := *m.Since
		for {
			turns, err := s.store.ListTurns(ctx, m.Sim, last, turnsPageLimit)
			if err != nil {
				return 0, err
			}
			for _, t := range turns {
				c.client.Enqueue(turnMessage(m.Sim, t.Seq, t.Body))
				last = t.Seq
			}
			if len(turns) < turnsPageLimit {
				if v := openVote(rec, time.Now()); v != nil && last == head {
					c.client.Enqueue(v)
				}
				return last, nil
			}
		}
	}
	// No since, or one this simulation's history cannot answer: a snapshot.
	recovered := false
	var recent []store.Turn
	if head > 0 {
		from := max(0, head-maxRecentTurns)
		if recent, err = s.store.ListTurns(ctx, m.Sim, from, int(head-from)); err != nil {
			return 0, err
		}
	}
	var lastBody []byte
	raw := make([]json.RawMessage, len(recent))
	for i, t := range recent {
		raw[i] = t.Body
		lastBody = t.Body
	}
	view, err := s.describe(ctx, rec, lastBody)
	if err != nil {
		return 0, err
	}
	c.send(replyMsg{Type: "subscribed", ID: m.ID, Sim: m.Sim, Head: &head, Recovered: &recovered, Epoch: epoch})
	c.send(snapshotMsg{Type: "snapshot", Sim: m.Sim, Seq: head, Simulation: view, Recent: raw})
	if view.Vote != nil {
		c.client.Enqueue(view.Vote)
	}
	return head, nil
}

// act queues an action with the node that runs the simulation. The
// client's turns of that simulation are held until the answer is queued,
// so that "accepted" reaches it before the turn that plays the action,
// whichever node runs it and whichever arrives here first.
func (c *conn) act(ctx context.Context, m clientMsg) error {
	release := c.s.hub.Hold(c.client, m.Sim)
	defer release(context.WithoutCancel(ctx))
	acc, err := c.s.act(ctx, c.user, m.Sim, m.Character, m.Action)
	if err != nil {
		return err
	}
	c.send(replyMsg{Type: "accepted", ID: m.ID, Sim: m.Sim, Turn: &acc.Turn, Replaced: acc.Replaced})
	return nil
}

func (c *conn) claim(ctx context.Context, m clientMsg) error {
	s := c.s
	switch c.user.Role {
	case RoleAnonymous:
		return Errorf(CodeUnauthorized, "sign in to claim a character")
	case RoleViewer:
		return Errorf(CodeForbidden, "only players may claim a character")
	}
	rec, err := s.simulation(ctx, m.Sim)
	if err != nil {
		return err
	}
	in, err := s.views.info(rec)
	if err != nil {
		return err
	}
	if !hasCharacter(in, m.Character) {
		return Errorf(CodeNotFound, "simulation %q has no character %q", m.Sim, truncate(m.Character, maxIDLen))
	}
	if rec.Status == store.StatusFinished || rec.Status == store.StatusFailed {
		return Errorf(CodeConflict, "simulation %q has ended", rec.ID)
	}
	seat := store.Seat{UserID: c.user.ID, UserName: c.user.Name, AIFill: m.AIFill}
	if c.user.Role != RoleAdmin && s.cfg.MaxSeatsPerUser > 0 {
		seat.MaxPerUser = s.cfg.MaxSeatsPerUser
	}
	err = s.store.ClaimSeat(ctx, rec.ID, m.Character, seat)
	if errors.Is(err, store.ErrConflict) {
		return Errorf(CodeConflict, "character %q is already claimed", m.Character)
	}
	if errors.Is(err, store.ErrTooManySeats) {
		return Errorf(CodeQuotaExceeded, "one player may hold at most %d seats of a story; release one first", s.cfg.MaxSeatsPerUser)
	}
	if err != nil {
		return err
	}
	s.seats.claimed(c.user.ID, rec.ID, m.Character)
	c.send(replyMsg{Type: "claimed", ID: m.ID, Sim: m.Sim, Character: m.Character, AIFill: &m.AIFill})
	s.seatsChanged(ctx, rec.ID)
	return nil
}

func hasCharacter(in *simInfo, id string) bool {
	for _, c := range in.initial {
		if c.ID == id {
			return true
		}
	}
	return false
}

func (c *conn) release(ctx context.Context, m clientMsg) error {
	s := c.s
	if c.user.Role == RoleAnonymous {
		return Errorf(CodeUnauthorized, "sign in to release a character")
	}
	rec, err := s.simulation(ctx, m.Sim)
	if err != nil {
		return err
	}
	seats, err := s.store.Seats(ctx, rec.ID)
	if err != nil {
		return err
	}
	seat, ok := seats[m.Character]
	switch {
	case !ok:
		return Errorf(CodeNotFound, "character %q has no seat to release", truncate(m.Character, maxIDLen))
	case seat.UserID != c.user.ID && c.user.Role != RoleAdmin && rec.CreatedBy != c.user.ID:
		// The story's creator may free a seat, so one who holds them
		// all cannot stall a wait_for_players story.
		return Errorf(CodeForbidden, "character %q is held by someone else; only the story's creator or an admin may free it", m.Character)
	}
	if err := s.store.ReleaseSeat(ctx, rec.ID, m.Character, seat.UserID); err != nil {
		return err
	}
	s.seats.released(seat.UserID, rec.ID, m.Character)
	c.send(replyMsg{Type: "released", ID: m.ID, Sim: m.Sim, Character: m.Character})
	s.seatsChanged(ctx, rec.ID)
	return nil
}

// epoch returns the broker's epoch of sim's history, or "" when the
// broker has none (a single node) or cannot say.
func (s *Server) epoch(ctx context.Context, sim string) string {
	v, err := s.broker.Epoch(ctx, sim)
	if err != nil {
		s.log.Debug("history epoch", "sim", sim, "err", err)
		return ""
	}
	return v
}
