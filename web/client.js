// @ts-check
/**
 * Novel Engine JavaScript client, protocol version 1.
 *
 * A plain ES module with no dependencies: import it from the server
 * (`/client.js`) or copy it. It speaks the WebSocket protocol of
 * docs/protocol.md and offers a small REST helper.
 *
 * ```js
 * import { connect, api } from '/client.js';
 *
 * const client = connect({ url: '/v1/ws', token: localStorage.token });
 * client.addEventListener('state', (e) => console.log(e.detail.state));
 * const sub = client.subscribe('sim-1', (turn) => console.log(turn.seq, turn.narrative), {
 *   onSnapshot: (snap) => console.log('at turn', snap.seq),
 *   onPresence: (p) => console.log(p.watchers, 'watching'),
 * });
 * await client.claim('sim-1', 'mara');
 * const { turn } = await client.act('sim-1', 'mara', { kind: 'move', target: 'kitchen' });
 * ```
 *
 * Guarantees: for each subscription, `onTurn` is called once per seq, in
 * strictly increasing seq order, with no seq skipped, across reconnects
 * (the client resumes with `since` = the last seq it delivered, and
 * re-subscribes when it sees a gap). The only exception is a server that
 * answers a resume with `recovered: false` (its history is gone): the
 * client then delivers the snapshot to `onSnapshot` with `recovered:
 * false` and goes on from the snapshot's turns.
 *
 * @module novel-engine/client
 */

/** Version of the wire protocol this client speaks. */
export const PROTOCOL_VERSION = 1;
/** WebSocket subprotocol offered by the server. */
export const SUBPROTOCOL = 'novel.v1';

/**
 * @typedef {{kind: string, target?: string, text?: string}} Action
 * @typedef {{actor: string, kind: string, target?: string, text?: string,
 *   outcome: 'success'|'failure'|'partial', source: string}} TurnEvent
 * @typedef {{id: string, location: string, health: number, alive: boolean}} CharacterState
 * @typedef {{sim: string, seq: number, at: string, events: TurnEvent[], narrative: string,
 *   characters: CharacterState[], state_hash: string, finished: boolean}} Turn
 * @typedef {{id: string, name: string, exits: string[]}} Location
 * @typedef {{id: string, name: string, role: string, faction: string, location: string,
 *   health: number, alive: boolean, seat: null | {user_id: string, user_name: string}}} Character
 * @typedef {{id: string, title: string, scenario_id: string, status: string, seed: number,
 *   head: number, max_turns: number, turn_interval_ms: number, wait_for_players: boolean,
 *   created_by: string, created_at: string, updated_at: string, owner: string,
 *   characters: Character[], locations: Location[], actions: string[], watchers?: number}} Simulation
 * @typedef {{type: 'snapshot', sim: string, seq: number, simulation: Simulation, recent: Turn[],
 *   recovered: boolean}} Snapshot
 * @typedef {{type: 'status', sim: string, status: string, seq: number}} StatusMessage
 * @typedef {{type: 'presence', sim: string, watchers: number, seats: Object<string, string>}} PresenceMessage
 * @typedef {{type: 'vote', sim: string, turn: number, closes_at: string,
 *   options: {id: string, label: string, kind: string, tension: number}[]}} VoteMessage
 * @typedef {{type: string, id?: string, [key: string]: any}} Message
 */

/**
 * An error from the server (an `error` message on the socket, or an error
 * body from the REST API), or from the client itself.
 *
 * `code` is one of the protocol's codes (`bad_request`, `unauthorized`,
 * `forbidden`, `not_found`, `conflict`, `too_large`, `rate_limited`,
 * `internal`, `unavailable`) or one of the client's own: `disconnected`
 * (the socket closed before the reply came, or was not open), `timeout`
 * (no reply in time), `closed` (the client was closed).
 */
export class NovelError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {{status?: number, retryAfter?: number}} [extra]
   */
  constructor(code, message, extra = {}) {
    super(message);
    this.name = 'NovelError';
    /** @type {string} */
    this.code = code;
    /** HTTP status, for REST errors. @type {number|undefined} */
    this.status = extra.status;
    /** Seconds to wait, from Retry-After on 429. @type {number|undefined} */
    this.retryAfter = extra.retryAfter;
  }
}

/**
 * Calls the REST API. Sends and parses JSON; a non-2xx answer rejects
 * with a {@link NovelError} built from the `{"error":{code,message}}` body
 * (or from the status when the body is not of that shape).
 *
 * @param {string} path path such as `/v1/simulations`, or a full URL
 * @param {{method?: string, body?: any, token?: string|null, base?: string,
 *   signal?: AbortSignal, query?: Object<string, string|number|boolean|undefined>}} [opts]
 * @returns {Promise<any>} the parsed JSON body, or the text for non-JSON answers
 */
export async function api(path, opts = {}) {
  const url = new URL(path, opts.base || globalThis.location?.href);
  for (const [k, v] of Object.entries(opts.query || {})) {
    if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, String(v));
  }
  /** @type {Record<string, string>} */
  const headers = { Accept: 'application/json' };
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  let body;
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  let res;
  try {
    res = await fetch(url, { method: opts.method || (body ? 'POST' : 'GET'), headers, body, signal: opts.signal });
  } catch (err) {
    if (err && /** @type {any} */ (err).name === 'AbortError') throw err;
    throw new NovelError('unavailable', `cannot reach the server: ${/** @type {any} */ (err)?.message || err}`);
  }
  const type = res.headers.get('Content-Type') || '';
  const data = type.includes('json') ? await res.json().catch(() => null) : await res.text();
  if (!res.ok) {
    const e = data && typeof data === 'object' && data.error;
    const retry = Number(res.headers.get('Retry-After')) || undefined;
    throw new NovelError(
      (e && e.code) || codeForStatus(res.status),
      (e && e.message) || `${res.status} ${res.statusText}`,
      { status: res.status, retryAfter: retry },
    );
  }
  return data;
}

/** @param {number} status */
function codeForStatus(status) {
  return ({ 400: 'bad_request', 401: 'unauthorized', 403: 'forbidden', 404: 'not_found', 409: 'conflict',
    413: 'too_large', 429: 'rate_limited', 503: 'unavailable' })[status] || 'internal';
}

/**
 * The WebSocket URL of the server that served this page: `ws(s)://host/v1/ws`.
 * @param {string} [base] page URL; defaults to `location.href`
 */
export function defaultSocketURL(base) {
  const u = new URL('/v1/ws', base || globalThis.location?.href);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.toString();
}

/**
 * @typedef {object} ConnectOptions
 * @property {string} [url] WebSocket URL (absolute, or relative to the page). Defaults to `/v1/ws` of the page's server.
 * @property {string|null|(() => string|null|Promise<string|null>)} [token]
 *   JWT sent as the `token` query parameter, or a function called before each
 *   (re)connection that returns it (so a refreshed token is used). Empty: anonymous.
 * @property {number} [backoffInitialMs] first reconnect delay. Defaults to 250.
 * @property {number} [backoffMaxMs] longest reconnect delay. Defaults to 15000.
 * @property {number} [pingIntervalMs] keepalive ping period. Defaults to 20000.
 * @property {number} [pongTimeoutMs] the socket is dropped and reconnected when
 *   nothing arrives this long after a ping. Defaults to 10000.
 * @property {number} [requestTimeoutMs] a request with no reply in this time
 *   rejects with code `timeout`. Defaults to 15000.
 * @property {typeof WebSocket} [WebSocket] constructor to use (for tests or Node).
 */

/**
 * @typedef {object} SubscribeOptions
 * @property {number} [since] resume after this seq: turns with seq > since are
 *   delivered. Without it the server sends a snapshot and its recent turns first.
 * @property {(snap: Snapshot) => void} [onSnapshot] the simulation as a whole;
 *   `snap.recovered` is false when a resume failed and turns were lost.
 * @property {(msg: StatusMessage) => void} [onStatus] the simulation's status changed.
 * @property {(msg: PresenceMessage) => void} [onPresence] watcher count and seats.
 * @property {(msg: VoteMessage) => void} [onVote] a vote on the next twist opened
 *   (an extension: stories with audience votes); answer with {@link NovelClient#ballot}.
 * @property {(msg: Message) => void} [onSubscribed] each `subscribed` reply (also after a resume).
 * @property {(err: NovelError) => void} [onError] the server refused the subscription;
 *   it is then dropped.
 */

/**
 * Connection states, emitted as `state` events (a CustomEvent whose
 * `detail` is `{state, attempt, delay, code, reason}`):
 *
 * - `connecting`: the first connection is being made, or one asked for
 *   with {@link NovelClient#reconnect};
 * - `open`: `welcome` received, subscriptions resumed;
 * - `reconnecting`: the socket closed; `detail.delay` ms until the next try
 *   (`detail.code` and `detail.reason` tell why it closed);
 * - `closed`: {@link NovelClient#close} was called, or the token expired
 *   (close code 4001) and no token function was given;
 * - `idle`: not connected yet, or the server closed an anonymous
 *   connection that watched nothing (close code 4008, `detail.code`); the
 *   next {@link NovelClient#subscribe} connects again.
 *
 * @typedef {'idle'|'connecting'|'open'|'reconnecting'|'closed'} ConnectionState
 */

/**
 * A WebSocket client with reconnect, resume and dedupe. Events (listen
 * with `addEventListener`):
 *
 * - `state`: see {@link ConnectionState};
 * - `welcome`: `detail` is the server's `welcome` message (user, node, session);
 * - `message`: `detail` is every message received, after the client handled it;
 * - `servererror`: `detail` is a {@link NovelError} for an `error` message that
 *   answered no pending request.
 */
export class NovelClient extends EventTarget {
  /** @param {ConnectOptions} [opts] */
  constructor(opts = {}) {
    super();
    // Set at construction.
    this.opts = {
      backoffInitialMs: 250, backoffMaxMs: 15000, pingIntervalMs: 20000,
      pongTimeoutMs: 10000, requestTimeoutMs: 15000, ...opts,
    };
    this.url = opts.url ? absoluteSocketURL(opts.url) : defaultSocketURL();
    this.WS = opts.WebSocket || globalThis.WebSocket;

    // Connection state.
    /** @type {ConnectionState} */
    this.state = 'idle';
    /** @type {WebSocket|null} */
    this.ws = null;
    /** The last `welcome` message. @type {Message|null} */
    this.welcome = null;
    this.attempt = 0;
    this.idled = false; // closed with 4008: connect again on the next subscribe
    /** @type {any} */ this.retryTimer = null;
    /** @type {any} */ this.pingTimer = null;
    /** @type {any} */ this.pongTimer = null;
    this.nextId = 1;
    /** @type {Map<string, {resolve: (m: Message) => void, reject: (e: NovelError) => void, timer: any, onReply?: (m: Message) => void}>} */
    this.pending = new Map();
    /** @type {Map<string, SimSub>} */
    this.subs = new Map();
  }

  /** Opens the connection (again, after {@link close}). */
  connect() {
    if (this.state === 'open' || this.state === 'connecting') return this;
    this.attempt = 0;
    this._open();
    return this;
  }

  /** Closes the connection for good: no reconnect. Pending requests reject with `closed`. */
  close() {
    this._drop('bye');
    this._failPending('closed', 'the client was closed');
    this._setState('closed', {});
  }

  /**
   * Drops the current socket and connects again at once, for example after
   * the token changed. Subscriptions resume with `since`.
   */
  reconnect() {
    this._drop('reconnect');
    this._failPending('disconnected', 'reconnecting');
    this.attempt = 0;
    this._open(true);
  }

  /** Stops retrying and pinging, and closes the current socket, if any. @param {string} reason */
  _drop(reason) {
    clearTimeout(this.retryTimer);
    this._stopKeepalive();
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      detach(ws);
      try { ws.close(1000, reason); } catch { /* already closed */ }
    }
  }

  /** True when the socket is open and the server said welcome. */
  get isOpen() { return this.state === 'open'; }

  /**
   * Follows a simulation. `onTurn` is called once per turn, in seq order,
   * with no duplicate and no gap (see the module's guarantees), including
   * after reconnects. Subscribing again to the same simulation adds the
   * callbacks to the existing subscription; they see turns from then on.
   *
   * @param {string} sim simulation id
   * @param {(turn: Turn) => void} onTurn
   * @param {SubscribeOptions} [opts]
   * @returns {Subscription}
   */
  subscribe(sim, onTurn, opts = {}) {
    let s = this.subs.get(sim);
    const listener = { onTurn, ...opts };
    if (s) {
      s.listeners.add(listener);
    } else {
      s = new SimSub(this, sim, opts.since);
      s.listeners.add(listener);
      this.subs.set(sim, s);
      if (this.state === 'open') s.send();
      else if (this.idled) this._open(true); // closed for watching nothing: something to watch now
    }
    const sub = s;
    return {
      sim,
      get lastSeq() { return sub.lastSeq; },
      ready: sub.ready,
      unsubscribe: () => {
        sub.listeners.delete(listener);
        if (sub.listeners.size === 0 && this.subs.get(sim) === sub) {
          this.subs.delete(sim);
          if (this.state === 'open') this.request({ type: 'unsubscribe', sim }).catch(() => {});
        }
      },
    };
  }

  /**
   * Claims a character's seat. Needs a player or admin token. With
   * `aiFill`, the AI plays the character on turns you send no action for;
   * without it the character holds its ground until you act. Claiming a
   * seat you hold again changes that choice.
   * @param {string} sim @param {string} character @param {{aiFill?: boolean}} [opts]
   * @returns {Promise<Message>} the `claimed` reply
   */
  claim(sim, character, opts = {}) {
    /** @type {any} */ const m = { type: 'claim', sim, character };
    if (opts.aiFill) m.ai_fill = true;
    return this.request(m);
  }

  /**
   * Frees a seat you hold.
   * @param {string} sim @param {string} character
   * @returns {Promise<Message>} the `released` reply
   */
  release(sim, character) { return this.request({ type: 'release', sim, character }); }

  /**
   * Submits the next action of a character whose seat you hold.
   * @param {string} sim @param {string} character @param {Action} action
   * @returns {Promise<Message>} the `accepted` reply; `turn` is the seq of the
   *   turn the action will be played in.
   */
  act(sim, character, action) { return this.request({ type: 'act', sim, character, action }); }

  /**
   * Casts a ballot in the vote open for a turn of a story with audience
   * votes (an extension). A second ballot for the same vote replaces the
   * first: the last one counts.
   * @param {string} sim @param {number} turn @param {string} option an option's id
   * @returns {Promise<Message>} the `voted` reply; `replaced` tells that it
   *   replaced your earlier ballot.
   */
  ballot(sim, turn, option) { return this.request({ type: 'ballot', sim, turn, option }); }

  /** @returns {Promise<Message>} the `pong` reply */
  ping() { return this.request({ type: 'ping' }); }

  /**
   * Sends a message with a fresh `id` and resolves with the reply that
   * echoes it, or rejects with a {@link NovelError} for an `error` reply,
   * a timeout, or a socket that closes first.
   * @param {Message} msg
   * @returns {Promise<Message>}
   */
  request(msg) {
    return this._request(msg);
  }

  /**
   * @param {Message} msg
   * @param {(m: Message) => void} [onReply] called synchronously when the
   *   reply is handled, before later messages.
   * @returns {Promise<Message>}
   */
  _request(msg, onReply) {
    if (this.state !== 'open' || !this.ws) {
      return Promise.reject(new NovelError('disconnected', 'not connected to the server'));
    }
    const id = `c${this.nextId++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new NovelError('timeout', `no reply to ${msg.type} in time`));
      }, this.opts.requestTimeoutMs);
      this.pending.set(id, { resolve, reject, timer, onReply });
      this._send({ ...msg, id });
    });
  }

  // ---- internals ----

  /** @param {Message} msg */
  _send(msg) {
    if (!this.ws || this.ws.readyState !== 1) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  /** @param {boolean} [asked] the caller asked for a new connection: not a failure to report */
  async _open(asked = false) {
    this.idled = false;
    this._setState(asked || (this.attempt === 0 && !this.welcome) ? 'connecting' : 'reconnecting', { attempt: this.attempt, delay: 0 });
    let token = this.opts.token;
    if (typeof token === 'function') {
      try {
        token = await token();
      } catch {
        token = null;
      }
    }
    if (this.state === 'closed') return;
    const u = new URL(this.url);
    if (token) u.searchParams.set('token', String(token));
    let ws;
    try {
      ws = new this.WS(u.toString(), SUBPROTOCOL);
    } catch (err) {
      this._scheduleReconnect(1006, String(err));
      return;
    }
    this.ws = ws;
    ws.onmessage = (ev) => this._onMessage(ev);
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this._onClose(ev.code, ev.reason);
    };
    ws.onerror = () => { /* a close event follows */ };
  }

  /** @param {number} code @param {string} reason */
  _onClose(code, reason) {
    this._stopKeepalive();
    this._failPending('disconnected', `connection closed (${code}${reason ? ` ${reason}` : ''})`);
    for (const s of this.subs.values()) s.onDisconnect();
    if (code === 4008 && this.subs.size === 0) {
      // The server closes anonymous sockets that watch nothing: no
      // failure, and nothing to come back for until a subscribe.
      this.idled = true;
      this._setState('idle', { code, reason: reason || 'idle' });
      return;
    }
    if (code === 4001 && typeof this.opts.token !== 'function') {
      this._setState('closed', { code, reason: reason || 'token expired' });
      return;
    }
    this._scheduleReconnect(code, reason);
  }

  /** @param {number} code @param {string} reason */
  _scheduleReconnect(code, reason) {
    // Full jitter on an exponential ceiling: spreads a crowd of clients
    // dropped at once (a node shutting down) over the whole window.
    const ceiling = Math.min(this.opts.backoffMaxMs, this.opts.backoffInitialMs * 2 ** this.attempt);
    const delay = Math.round(ceiling / 2 + Math.random() * ceiling / 2);
    this.attempt++;
    this._setState('reconnecting', { attempt: this.attempt, delay, code, reason });
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this._open(), delay);
  }

  /** @param {MessageEvent} ev */
  _onMessage(ev) {
    this._alive();
    /** @type {Message} */
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (!msg || typeof msg !== 'object') return;
    if (msg.type === 'welcome') {
      this.welcome = msg;
      this.attempt = 0;
      this._setState('open', {});
      this._startKeepalive();
      this.dispatchEvent(new CustomEvent('welcome', { detail: msg }));
      for (const s of this.subs.values()) s.send();
    } else if (msg.id && this.pending.has(msg.id)) {
      const p = /** @type {any} */ (this.pending.get(msg.id));
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.type === 'error') {
        p.reject(new NovelError(msg.code || 'internal', msg.message || 'error'));
      } else {
        if (p.onReply) p.onReply(msg);
        p.resolve(msg);
      }
    } else if (msg.type === 'error') {
      this.dispatchEvent(new CustomEvent('servererror', { detail: new NovelError(msg.code || 'internal', msg.message || 'error') }));
    } else if (msg.sim && this.subs.has(msg.sim)) {
      /** @type {SimSub} */ (this.subs.get(msg.sim)).onMessage(msg);
    }
    this.dispatchEvent(new CustomEvent('message', { detail: msg }));
  }

  _alive() {
    clearTimeout(this.pongTimer);
    this.pongTimer = null;
  }

  _startKeepalive() {
    this._stopKeepalive();
    this.pingTimer = setInterval(() => {
      if (this.state !== 'open') return;
      this._send({ type: 'ping', id: `k${this.nextId++}` });
      if (!this.pongTimer) {
        this.pongTimer = setTimeout(() => {
          // Nothing came back: the connection is dead without a close.
          const ws = this.ws;
          this.ws = null;
          if (ws) { detach(ws); try { ws.close(4000, 'no pong'); } catch { /* ignore */ } }
          this._onClose(1006, 'keepalive timeout');
        }, this.opts.pongTimeoutMs);
      }
    }, this.opts.pingIntervalMs);
  }

  _stopKeepalive() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    this.pingTimer = this.pongTimer = null;
  }

  /** @param {string} code @param {string} message */
  _failPending(code, message) {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) {
      clearTimeout(p.timer);
      p.reject(new NovelError(code, message));
    }
  }

  /** @param {ConnectionState} state @param {object} extra */
  _setState(state, extra) {
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: { state, attempt: this.attempt, ...extra } }));
  }
}

/**
 * @typedef {object} Subscription
 * @property {string} sim
 * @property {number|null} lastSeq seq of the last turn delivered (null before the first)
 * @property {Promise<Message>} ready resolves with the first `subscribed` reply
 * @property {() => void} unsubscribe
 */

/** The state of one simulation followed on a client. */
class SimSub {
  /** @param {NovelClient} client @param {string} sim @param {number} [since] */
  constructor(client, sim, since) {
    this.client = client;
    this.sim = sim;
    /** @type {Set<{onTurn: (t: Turn) => void} & SubscribeOptions>} */
    this.listeners = new Set();
    /** Seq of the last turn delivered; null until known. @type {number|null} */
    this.lastSeq = since != null ? since : null;
    /** True while a subscribe is in flight: turns that do not follow lastSeq are dropped, not resynced. */
    this.syncing = false;
    /** False when the server's last `subscribed` reply said it could not resume. */
    this.recovered = true;
    /** Turns that came before the first snapshot told where we are. @type {Turn[]} */
    this.early = [];
    /** @type {(m: Message) => void} */
    let resolveReady = () => {};
    /** @type {Promise<Message>} */
    this.ready = new Promise((r) => { resolveReady = r; });
    this.resolveReady = resolveReady;
  }

  /** Sends subscribe, resuming after lastSeq when known. */
  send() {
    /** @type {Message} */
    const msg = { type: 'subscribe', sim: this.sim };
    if (this.lastSeq != null) msg.since = this.lastSeq;
    this.syncing = true;
    this.client._request(msg, (reply) => {
      // Runs before any turn that follows the reply.
      this.syncing = false;
      this.recovered = reply.recovered !== false;
      this.resolveReady(reply);
      this.each((l) => l.onSubscribed && l.onSubscribed(reply));
    }).catch((err) => {
      if (err.code === 'disconnected' || err.code === 'closed') return; // resumes on reconnect
      if (err.code === 'timeout') {
        // The reply may still come; ask again rather than hang.
        if (this.client.subs.get(this.sim) === this && this.client.state === 'open') this.send();
        return;
      }
      if (this.client.subs.get(this.sim) === this) this.client.subs.delete(this.sim);
      this.each((l) => l.onError && l.onError(err));
    });
  }

  /**
   * Fills a gap: drops the server's subscription and subscribes again
   * with since = the last turn delivered. Whatever the server does with a
   * second subscribe on one connection, this asks for exactly the turns
   * after lastSeq.
   */
  resync() {
    this.syncing = true;
    this.client._request({ type: 'unsubscribe', sim: this.sim }).catch(() => {});
    this.send();
  }

  onDisconnect() {
    this.syncing = false;
  }

  /** @param {(l: {onTurn: (t: Turn) => void} & SubscribeOptions) => void} fn */
  each(fn) {
    for (const l of [...this.listeners]) {
      try { fn(l); } catch (err) { setTimeout(() => { throw err; }); }
    }
  }

  /** @param {Message} msg */
  onMessage(msg) {
    switch (msg.type) {
      case 'turn': {
        const turn = msg.turn || {};
        if (turn.seq == null) turn.seq = msg.seq;
        if (turn.sim == null) turn.sim = msg.sim;
        this.onTurn(turn);
        break;
      }
      case 'snapshot': this.onSnapshot(/** @type {any} */ (msg)); break;
      case 'status': this.each((l) => l.onStatus && l.onStatus(/** @type {any} */ (msg))); break;
      case 'presence': this.each((l) => l.onPresence && l.onPresence(/** @type {any} */ (msg))); break;
      case 'vote': this.each((l) => l.onVote && l.onVote(/** @type {any} */ (msg))); break;
      default: break;
    }
  }

  /** @param {Turn} turn */
  onTurn(turn) {
    if (this.lastSeq == null) {
      // No position yet: a snapshot will say where we are.
      this.early.push(turn);
      return;
    }
    if (turn.seq <= this.lastSeq) return; // duplicate
    if (turn.seq > this.lastSeq + 1) {
      // A gap: ask for everything after the last turn we have. Turns in
      // flight until the reply are dropped; the resume resends them.
      if (!this.syncing && this.client.state === 'open') this.resync();
      return;
    }
    this.lastSeq = turn.seq;
    this.each((l) => l.onTurn(turn));
  }

  /** @param {Snapshot} snap */
  onSnapshot(snap) {
    const recent = Array.isArray(snap.recent) ? [...snap.recent].sort((a, b) => a.seq - b.seq) : [];
    const known = this.lastSeq;
    const head = Math.max(Number(snap.seq) || 0, recent.length ? recent[recent.length - 1].seq : 0);
    const filled = recent.length > 0 ? recent[0].seq <= known + 1 : head <= known;
    const full = { ...snap, recent, recovered: known == null || (this.recovered && filled) };
    this.each((l) => l.onSnapshot && l.onSnapshot(full));
    // Turns of the snapshot that are new to us, then any that came early.
    let floor = known;
    const first = recent.length ? recent[0].seq - 1 : head;
    if (floor == null || head < floor) {
      // Fresh subscription, or the simulation's history restarted.
      floor = first;
    } else if (first > floor) {
      // A gap the server could not fill: go on from the snapshot.
      floor = first;
    }
    this.lastSeq = floor;
    for (const t of recent) {
      if (t.sim == null) t.sim = this.sim;
      this.onTurn(t);
    }
    if (this.lastSeq < head) this.lastSeq = head;
    const early = this.early;
    this.early = [];
    for (const t of early) this.onTurn(t);
  }
}

/**
 * Creates a client and connects it.
 * @param {ConnectOptions} [opts]
 * @returns {NovelClient}
 */
export function connect(opts = {}) {
  return new NovelClient(opts).connect();
}

/** @param {string} url */
function absoluteSocketURL(url) {
  const u = new URL(url, globalThis.location?.href);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  if (u.protocol === 'https:') u.protocol = 'wss:';
  return u.toString();
}

/** @param {WebSocket} ws */
function detach(ws) {
  ws.onmessage = ws.onclose = ws.onerror = null;
}
