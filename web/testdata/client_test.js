// Tests of client.js against a scripted server behind a fake WebSocket.
// Run in a real browser by client_test.go; results land in window.results.
import { NovelClient, NovelError, api, connect } from '/client.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(cond, what, ms = 3000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

function eq(a, b, msg) {
  const ja = JSON.stringify(a);
  const jb = JSON.stringify(b);
  if (ja !== jb) throw new Error(`${msg}: got ${ja}, want ${jb}`);
}

/** A server speaking protocol v1 for one simulation, scripted by the test. */
class FakeServer {
  constructor() {
    this.sockets = [];
    this.turns = [];
    this.log = [];
    this.skip = 0; // live turns not sent (as if lost between nodes)
    this.dup = false; // live turns sent twice
    this.replyToPing = true;
    this.historyFrom = 1; // oldest turn the server can replay
    this.welcomeUser = { id: 'u1', name: 'Ada', role: 'player' };
    const server = this;
    this.WebSocket = class FakeWS {
      constructor(url, protocol) {
        this.url = url;
        this.protocol = protocol;
        this.readyState = 0;
        this.subs = new Set();
        server.sockets.push(this);
        setTimeout(() => {
          if (this.readyState !== 0) return;
          this.readyState = 1;
          this.push({ type: 'welcome', protocol: 1, session: `s${server.sockets.length}`, node: 'n1', user: server.welcomeUser });
        }, 1);
      }
      send(data) {
        if (this.readyState !== 1) throw new Error('send on a closed socket');
        const msg = JSON.parse(data);
        server.log.push(msg);
        setTimeout(() => server.handle(this, msg), 0);
      }
      close(code = 1000, reason = '') {
        if (this.readyState === 3) return;
        this.readyState = 3;
        setTimeout(() => this.onclose && this.onclose({ code, reason }), 0);
      }
      push(msg) {
        if (this.readyState === 1 && this.onmessage) this.onmessage({ data: JSON.stringify(msg) });
      }
      // The server drops the connection with code.
      drop(code, reason = '') {
        if (this.readyState === 3) return;
        this.readyState = 3;
        this.onclose && this.onclose({ code, reason });
      }
    };
  }

  get live() { return this.sockets.filter((s) => s.readyState === 1); }

  turn(seq) {
    return { sim: 'sim1', seq, at: new Date(0).toISOString(), events: [], narrative: `Paragraph ${seq}.`, characters: [], state_hash: '', finished: false };
  }

  handle(ws, msg) {
    const reply = (m) => ws.push({ ...m, id: msg.id });
    switch (msg.type) {
      case 'subscribe': {
        if (msg.sim !== 'sim1') { reply({ type: 'error', code: 'not_found', message: `simulation "${msg.sim}" does not exist` }); return; }
        ws.subs.add(msg.sim);
        const head = this.turns.length;
        if (msg.since != null && msg.since + 1 >= this.historyFrom) {
          reply({ type: 'subscribed', sim: msg.sim, head, recovered: true });
          for (const t of this.turns) if (t.seq > msg.since) ws.push({ type: 'turn', sim: 'sim1', seq: t.seq, turn: t });
        } else {
          reply({ type: 'subscribed', sim: msg.sim, head, recovered: msg.since == null });
          const recent = this.turns.slice(-5);
          ws.push({ type: 'snapshot', sim: 'sim1', seq: head, simulation: { id: 'sim1', head }, recent });
        }
        return;
      }
      case 'unsubscribe': ws.subs.delete(msg.sim); reply({ type: 'unsubscribed', sim: msg.sim }); return;
      case 'claim':
        if (msg.character === 'taken') reply({ type: 'error', code: 'conflict', message: 'seat of "taken" is held by Bo' });
        else reply({ type: 'claimed', sim: msg.sim, character: msg.character });
        return;
      case 'act': reply({ type: 'accepted', sim: msg.sim, turn: this.turns.length + 1 }); return;
      case 'release': reply({ type: 'released', sim: msg.sim, character: msg.character }); return;
      case 'ballot': {
        if (msg.option === 'nope') { reply({ type: 'error', code: 'bad_request', message: `the vote for turn ${msg.turn} has no option "nope"` }); return; }
        const replaced = !!this.ballots;
        this.ballots = (this.ballots || 0) + 1;
        reply({ type: 'voted', sim: msg.sim, turn: msg.turn, option: msg.option, replaced });
        return;
      }
      case 'ping': if (this.replyToPing) reply({ type: 'pong' }); return;
      case 'hang': return; // never answered
      default: reply({ type: 'error', code: 'bad_request', message: `unknown type ${msg.type}` });
    }
  }

  /** Makes the next turn and sends it to subscribers, subject to skip/dup. */
  produce(n = 1) {
    for (let i = 0; i < n; i++) {
      const t = this.turn(this.turns.length + 1);
      this.turns.push(t);
      if (this.skip > 0) { this.skip--; continue; }
      for (const ws of this.live) {
        if (!ws.subs.has('sim1')) continue;
        ws.push({ type: 'turn', sim: 'sim1', seq: t.seq, turn: t });
        if (this.dup) ws.push({ type: 'turn', sim: 'sim1', seq: t.seq, turn: t });
      }
    }
  }
}

function newClient(server, extra = {}) {
  return connect({ url: 'ws://example.invalid/v1/ws', WebSocket: server.WebSocket, backoffInitialMs: 20, backoffMaxMs: 200, ...extra });
}

function contiguous(seqs, from, to, what) {
  const want = [];
  for (let i = from; i <= to; i++) want.push(i);
  eq(seqs, want, what);
}

const tests = {
  async 'subscribe without since: snapshot, its recent turns, then live'() {
    const s = new FakeServer();
    s.produce(8);
    const c = newClient(s);
    const seqs = [];
    let snap = null;
    c.subscribe('sim1', (t) => seqs.push(t.seq), { onSnapshot: (m) => { snap = m; } });
    await until(() => seqs.length >= 5, 'recent turns');
    assert(snap && snap.seq === 8 && snap.recovered, 'snapshot delivered');
    s.produce(3);
    await until(() => seqs.length >= 8, 'live turns');
    contiguous(seqs, 4, 11, 'recent then live, in order');
    c.close();
  },

  async 'token goes in the query and the subprotocol is offered'() {
    const s = new FakeServer();
    const c = newClient(s, { token: 'abc.def' });
    await until(() => c.isOpen, 'open');
    const u = new URL(s.sockets[0].url);
    eq(u.searchParams.get('token'), 'abc.def', 'token parameter');
    eq(s.sockets[0].protocol, 'novel.v1', 'subprotocol');
    c.close();
  },

  async 'duplicates are delivered once'() {
    const s = new FakeServer();
    const c = newClient(s);
    const seqs = [];
    c.subscribe('sim1', (t) => seqs.push(t.seq), { since: 0 });
    await until(() => c.isOpen, 'open');
    await sleep(20);
    s.dup = true;
    s.produce(5);
    await until(() => seqs.length >= 5, 'turns');
    await sleep(30);
    contiguous(seqs, 1, 5, 'no duplicate');
    c.close();
  },

  async 'a gap makes the client resubscribe with since = last seq'() {
    const s = new FakeServer();
    const c = newClient(s);
    const seqs = [];
    c.subscribe('sim1', (t) => seqs.push(t.seq), { since: 0 });
    await until(() => c.isOpen, 'open');
    await sleep(20);
    s.produce(3);
    await until(() => seqs.length === 3, 'first turns');
    s.skip = 2; // turns 4 and 5 are lost on the way
    s.produce(4); // 6 and 7 arrive: a gap
    await until(() => seqs.length === 7, 'gap filled');
    s.produce(2);
    await until(() => seqs.length === 9, 'live after the gap');
    await sleep(30);
    contiguous(seqs, 1, 9, 'no gap, no duplicate');
    const subs = s.log.filter((m) => m.type === 'subscribe');
    eq(subs.map((m) => m.since), [0, 3], 'resubscribed from the last seq seen');
    c.close();
  },

  async 'reconnect after 1001 resumes with since and jittered backoff'() {
    const s = new FakeServer();
    const c = newClient(s, { backoffInitialMs: 40, backoffMaxMs: 400 });
    const seqs = [];
    const states = [];
    c.addEventListener('state', (e) => states.push(e.detail));
    c.subscribe('sim1', (t) => seqs.push(t.seq), { since: 0 });
    await until(() => c.isOpen, 'open');
    await sleep(20);
    s.produce(4);
    await until(() => seqs.length === 4, 'first turns');
    s.sockets[0].drop(1001, 'going away');
    s.produce(3); // made while the client is away
    await until(() => c.isOpen && s.sockets.length === 2, 'reconnected');
    s.produce(2);
    await until(() => seqs.length === 9, 'caught up');
    await sleep(30);
    contiguous(seqs, 1, 9, 'resumed with no gap and no duplicate');
    const subs = s.log.filter((m) => m.type === 'subscribe');
    eq(subs.map((m) => m.since), [0, 4], 'resubscribe with since = last seq');
    const rec = states.find((d) => d.state === 'reconnecting' && d.delay > 0);
    assert(rec && rec.code === 1001, `reconnecting state with the close code (${JSON.stringify(states)})`);
    assert(rec.delay >= 20 && rec.delay <= 40, `first delay within [initial/2, initial]: ${rec.delay}`);
    c.close();
  },

  async 'backoff grows exponentially up to the cap'() {
    const s = new FakeServer();
    // Every socket is refused right away.
    const Refusing = class extends s.WebSocket {
      constructor(url, p) { super(url, p); this.readyState = 2; setTimeout(() => this.drop(1006), 1); }
    };
    const c = connect({ url: 'ws://example.invalid/v1/ws', WebSocket: Refusing, backoffInitialMs: 10, backoffMaxMs: 80 });
    const delays = [];
    c.addEventListener('state', (e) => { if (e.detail.delay > 0) delays.push(e.detail.delay); });
    await until(() => delays.length >= 6, 'six retries', 5000);
    c.close();
    const ceilings = [10, 20, 40, 80, 80, 80];
    delays.slice(0, 6).forEach((d, i) => assert(d >= ceilings[i] / 2 && d <= ceilings[i], `delay ${i} = ${d}, want within [${ceilings[i] / 2}, ${ceilings[i]}]`));
  },

  async 'resume after a server lost the history yields a snapshot marked not recovered'() {
    const s = new FakeServer();
    const c = newClient(s);
    const seqs = [];
    const snaps = [];
    c.subscribe('sim1', (t) => seqs.push(t.seq), { since: 0, onSnapshot: (m) => snaps.push(m) });
    await until(() => c.isOpen, 'open');
    await sleep(20);
    s.produce(2);
    await until(() => seqs.length === 2, 'first turns');
    s.sockets[0].drop(1001);
    s.skip = 10;
    s.produce(10);
    s.historyFrom = 9; // turns 3..8 are gone
    await until(() => snaps.length === 1, 'snapshot');
    assert(snaps[0].recovered === false, 'snapshot says not recovered');
    await until(() => seqs.length === 7, 'recent turns');
    eq(seqs, [1, 2, 8, 9, 10, 11, 12], 'goes on from the snapshot, never backwards');
    c.close();
  },

  async 'requests resolve by id and reject on error with code and message'() {
    const s = new FakeServer();
    const c = newClient(s);
    await until(() => c.isOpen, 'open');
    const claimed = await c.claim('sim1', 'mara');
    eq([claimed.type, claimed.character], ['claimed', 'mara'], 'claimed reply');
    const acc = await c.act('sim1', 'mara', { kind: 'move', target: 'hall' });
    eq([acc.type, acc.turn], ['accepted', 1], 'accepted reply with turn');
    const act = s.log.find((m) => m.type === 'act');
    eq(act.action, { kind: 'move', target: 'hall' }, 'action sent');
    assert(act.id && act.id.length <= 64, 'id sent');
    let err = null;
    try { await c.claim('sim1', 'taken'); } catch (e) { err = e; }
    assert(err instanceof NovelError, 'NovelError');
    eq([err.code, err.message], ['conflict', 'seat of "taken" is held by Bo'], 'code and message');
    const rel = await c.release('sim1', 'mara');
    eq(rel.type, 'released', 'released');
    const pong = await c.ping();
    eq(pong.type, 'pong', 'pong');
    c.close();
  },

  async 'votes reach onVote; ballots are answered, the second replacing the first'() {
    const s = new FakeServer();
    s.produce(1);
    const c = newClient(s);
    const votes = [];
    const seqs = [];
    c.subscribe('sim1', (t) => seqs.push(t.seq), { since: 0, onVote: (v) => votes.push(v) });
    await until(() => seqs.length === 1, 'the first turn');
    const vote = { type: 'vote', sim: 'sim1', turn: 2, options: [{ id: 'omen', label: 'A raven.' }, { id: 'thaw', label: 'Water.' }], closes_at: new Date(Date.now() + 5000).toISOString() };
    for (const ws of s.live) ws.push(vote);
    await until(() => votes.length === 1, 'the vote');
    eq([votes[0].turn, votes[0].options.map((o) => o.id)], [2, ['omen', 'thaw']], 'the vote as sent');
    const first = await c.ballot('sim1', 2, 'omen');
    eq([first.type, first.turn, first.option, first.replaced], ['voted', 2, 'omen', false], 'first ballot');
    const second = await c.ballot('sim1', 2, 'thaw');
    eq([second.type, second.replaced], ['voted', true], 'second ballot replaces the first');
    const sent = s.log.filter((m) => m.type === 'ballot');
    eq(sent.map((m) => [m.sim, m.turn, m.option]), [['sim1', 2, 'omen'], ['sim1', 2, 'thaw']], 'ballots sent');
    let err = null;
    try { await c.ballot('sim1', 2, 'nope'); } catch (e) { err = e; }
    eq(err && err.code, 'bad_request', 'unknown option refused');
    s.produce(1);
    await until(() => seqs.length === 2, 'the voted turn');
    eq(seqs, [1, 2], 'turns go on in order, the vote counting as none');
    c.close();
  },

  async 'pending requests reject when the socket closes; requests while down reject at once'() {
    const s = new FakeServer();
    const c = newClient(s, { backoffInitialMs: 500, backoffMaxMs: 500 });
    await until(() => c.isOpen, 'open');
    const p = c.request({ type: 'hang' });
    await sleep(5);
    s.sockets[0].drop(1001);
    let err = null;
    try { await p; } catch (e) { err = e; }
    eq(err && err.code, 'disconnected', 'pending rejected');
    err = null;
    try { await c.claim('sim1', 'mara'); } catch (e) { err = e; }
    eq(err && err.code, 'disconnected', 'rejected while down');
    c.close();
  },

  async 'a request with no reply times out'() {
    const s = new FakeServer();
    const c = newClient(s, { requestTimeoutMs: 50 });
    await until(() => c.isOpen, 'open');
    let err = null;
    try { await c.request({ type: 'hang' }); } catch (e) { err = e; }
    eq(err && err.code, 'timeout', 'timeout');
    c.close();
  },

  async 'keepalive pings, and a silent server is dropped and reconnected'() {
    const s = new FakeServer();
    const c = newClient(s, { pingIntervalMs: 30, pongTimeoutMs: 40 });
    await until(() => c.isOpen, 'open');
    await until(() => s.log.some((m) => m.type === 'ping'), 'a ping');
    s.replyToPing = false;
    await until(() => s.sockets.length >= 2 && c.isOpen, 'reconnect after silence');
    c.close();
  },

  async 'token expiry (4001) closes for good without a token function, reconnects with one'() {
    const s = new FakeServer();
    const states = [];
    const c = newClient(s, { token: 'old' });
    c.addEventListener('state', (e) => states.push(e.detail.state));
    await until(() => c.isOpen, 'open');
    s.sockets[0].drop(4001, 'token expired');
    await until(() => c.state === 'closed', 'closed');
    await sleep(50);
    eq(s.sockets.length, 1, 'no reconnect');

    let n = 0;
    const c2 = newClient(s, { token: () => `t${++n}` });
    await until(() => c2.isOpen, 'open 2');
    s.sockets[1].drop(4001);
    await until(() => c2.isOpen && s.sockets.length === 3, 'reconnected with a new token');
    eq(new URL(s.sockets[2].url).searchParams.get('token'), 't2', 'fresh token');
    c2.close();
  },

  async 'an idle close (4008) waits quietly, and the next subscribe connects again'() {
    const s = new FakeServer();
    const states = [];
    const c = newClient(s);
    c.addEventListener('state', (e) => states.push(e.detail.state));
    await until(() => c.isOpen, 'open');
    s.sockets[0].drop(4008, 'idle: no subscription');
    await until(() => c.state === 'idle', 'idle');
    await sleep(50);
    eq(s.sockets.length, 1, 'no reconnect while idle');
    assert(!states.includes('reconnecting'), `no reconnecting shown: ${states}`);
    const seqs = [];
    c.subscribe('sim1', (t) => seqs.push(t.seq));
    await until(() => c.isOpen && s.sockets.length === 2, 'connected again for the subscription');
    await until(() => s.log.some((m) => m.type === 'subscribe'), 'subscribed');
    assert(!states.includes('reconnecting'), `no reconnecting shown: ${states}`);
    c.close();
  },

  async 'subscribe to an unknown simulation calls onError and drops it'() {
    const s = new FakeServer();
    const c = newClient(s);
    let err = null;
    c.subscribe('nope', () => {}, { onError: (e) => { err = e; } });
    await until(() => err, 'error');
    eq(err.code, 'not_found', 'code');
    assert(!c.subs.has('nope'), 'dropped');
    c.close();
  },

  async 'unsubscribe stops delivery and tells the server'() {
    const s = new FakeServer();
    const c = newClient(s);
    const seqs = [];
    const sub = c.subscribe('sim1', (t) => seqs.push(t.seq), { since: 0 });
    await sub.ready;
    s.produce(2);
    await until(() => seqs.length === 2, 'turns');
    sub.unsubscribe();
    await until(() => s.log.some((m) => m.type === 'unsubscribe'), 'unsubscribe sent');
    s.produce(2);
    await sleep(30);
    eq(seqs, [1, 2], 'nothing after unsubscribe');
    c.close();
  },

  async 'status and presence reach their callbacks'() {
    const s = new FakeServer();
    const c = newClient(s);
    const got = [];
    const sub = c.subscribe('sim1', () => {}, { since: 0, onStatus: (m) => got.push(m.status), onPresence: (m) => got.push(m.watchers) });
    await sub.ready;
    s.live[0].push({ type: 'presence', sim: 'sim1', watchers: 3, seats: { mara: 'Ada' } });
    s.live[0].push({ type: 'status', sim: 'sim1', status: 'paused', seq: 0 });
    await until(() => got.length === 2, 'events');
    eq(got, [3, 'paused'], 'callbacks');
    c.close();
  },

  async 'api() returns JSON and turns error bodies into NovelError'() {
    const ok = await api('/test/ok');
    eq(ok, { hello: 'world' }, 'json');
    let err = null;
    try { await api('/test/error', { method: 'POST', body: { a: 1 }, token: 'tok' }); } catch (e) { err = e; }
    assert(err instanceof NovelError, 'NovelError');
    eq([err.code, err.message, err.status, err.retryAfter], ['rate_limited', 'slow down', 429, 2], 'fields');
    const echo = await api('/test/echo', { method: 'POST', body: { a: 1 }, token: 'tok', query: { x: 'y' } });
    eq(echo, { auth: 'Bearer tok', body: '{"a":1}', query: 'x=y', type: 'application/json' }, 'request');
  },

  async 'NovelClient is an EventTarget with a welcome event'() {
    const s = new FakeServer();
    const c = new NovelClient({ url: 'ws://example.invalid/v1/ws', WebSocket: s.WebSocket });
    let welcome = null;
    c.addEventListener('welcome', (e) => { welcome = e.detail; });
    c.connect();
    await until(() => welcome, 'welcome');
    eq(welcome.user.name, 'Ada', 'user');
    c.close();
  },
};

window.results = [];
for (const [name, fn] of Object.entries(tests)) {
  const start = performance.now();
  try {
    await fn();
    window.results.push({ name, ok: true, ms: Math.round(performance.now() - start) });
  } catch (err) {
    window.results.push({ name, ok: false, error: String(err && err.stack || err) });
  }
}
window.done = true;
