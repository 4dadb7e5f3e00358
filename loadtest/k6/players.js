// Players: each virtual user signs in as a guest, has a story started that
// waits for players, claims a character, and plays it turn by turn: it
// acts, and waits to see its action in the turn the server named. It
// measures the time from "accepted" to that turn. The stories are started
// by one host user, and the teardown stops those still running.
//
//   k6 run -e BASE=http://127.0.0.1:8080 -e VUS=50 loadtest/k6/players.js
//
// Only addresses on this machine should be targeted.
import http from 'k6/http';
import { check } from 'k6';
import { Counter, Trend } from 'k6/metrics';
import { WebSocket } from 'k6/websockets';

const BASE = __ENV.BASE || 'http://127.0.0.1:8080';
const WS = BASE.replace(/^http/, 'ws') + '/v1/ws';
const VUS = parseInt(__ENV.VUS || '20', 10);
const TURNS = parseInt(__ENV.TURNS || '20', 10);

const actToTurn = new Trend('act_to_turn', true);
const played = new Counter('actions_played');
const lost = new Counter('actions_lost');

export const options = {
  scenarios: {
    players: { executor: 'per-vu-iterations', vus: VUS, iterations: 1, maxDuration: '10m' },
  },
  thresholds: {
    actions_lost: ['count==0'],
  },
};

// setup signs in the host that starts every player's story, so that the
// teardown can find and stop them.
export function setup() {
  const auth = http.post(`${BASE}/v1/auth/guest`, JSON.stringify({ name: 'k6-host' }));
  check(auth, { 'host signed in': (r) => r.status === 201 });
  return { token: auth.json('token'), host: auth.json('user.id') };
}

// teardown stops every story the host started that has not ended: left
// alone they would run on for up to 1,000 turns.
export function teardown(data) {
  const headers = { Authorization: `Bearer ${data.token}` };
  for (const status of ['running', 'paused', 'created']) {
    let cursor = '';
    do {
      const page = http.get(`${BASE}/v1/simulations?status=${status}&limit=200&cursor=${encodeURIComponent(cursor)}`);
      for (const s of page.json('simulations') || []) {
        if (s.created_by !== data.host) continue;
        const r = http.post(`${BASE}/v1/simulations/${s.id}/stop`, null, { headers });
        check(r, { 'story stopped': (res) => res.status === 200 || res.status === 409 });
      }
      cursor = page.json('next_cursor') || '';
    } while (cursor);
  }
}

export default function (data) {
  const auth = http.post(`${BASE}/v1/auth/guest`, JSON.stringify({ name: `player-${__VU}` }));
  check(auth, { 'signed in': (r) => r.status === 201 });
  const token = auth.json('token');
  const scenario = http.get(`${BASE}/v1/scenarios`).json('scenarios')[__VU % 3 || 0].id;
  // Started now, as the host, so it has not run on before its player comes.
  const created = http.post(`${BASE}/v1/simulations`, JSON.stringify({
    scenario, seed: __VU, turn_interval_ms: 100, wait_for_players: true, max_turns: 1000,
  }), { headers: { Authorization: `Bearer ${data.token}` } });
  check(created, { 'story started': (r) => r.status === 201 });
  const sim = created.json();
  const me = sim.characters[0].id;
  const places = Object.fromEntries(sim.locations.map((l) => [l.id, l.exits]));
  let here = sim.characters[0].location;
  let pending = null; // {turn, sent}
  let n = 0;

  const ws = new WebSocket(`${WS}?token=${token}`, 'novel.v1');
  const act = () => {
    const exits = places[here] || [];
    const action = n % 2 === 0 && exits.length > 0
      ? { kind: 'move', target: exits[n % exits.length] }
      : { kind: 'speak', text: `Turn ${n}: I am still here.` };
    ws.send(JSON.stringify({ type: 'act', id: `a${n}`, sim: sim.id, character: me, action }));
    n++;
  };
  ws.onopen = () => {
    ws.send(JSON.stringify({ type: 'subscribe', id: 'sub', sim: sim.id, since: 0 }));
    ws.send(JSON.stringify({ type: 'claim', id: 'claim', sim: sim.id, character: me }));
  };
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    if (m.type === 'claimed') act();
    if (m.type === 'accepted') pending = { turn: m.turn, sent: Date.now() };
    if (m.type === 'error') console.error(`player ${__VU}: ${m.code} ${m.message}`);
    if (m.type === 'turn') {
      const mine = m.turn.characters.find((c) => c.id === me);
      if (mine) here = mine.location;
      if (pending && m.seq >= pending.turn) {
        const ev = m.turn.events.find((x) => x.actor === me && x.source === 'player');
        if (m.seq === pending.turn && ev) {
          played.add(1);
          actToTurn.add(Date.now() - pending.sent);
        } else {
          lost.add(1);
        }
        pending = null;
        if (m.turn.finished || n >= TURNS) {
          ws.close();
          return;
        }
        act();
      }
      if (m.turn.finished) ws.close();
    }
    if (m.type === 'status' && (m.status === 'finished' || m.status === 'failed')) ws.close();
  };
  ws.onerror = (e) => console.error(`player ${__VU}: ${e.error}`);
}
