// Watchers: each virtual user opens one WebSocket, subscribes to one of the
// stories the setup started, and records how long each turn took from its
// "at" to arrival, with a check that no turn is missed or repeated. The
// teardown stops the stories.
//
//   k6 run -e BASE=http://127.0.0.1:8080 -e SIMS=20 -e VUS=500 loadtest/k6/watchers.js
//
// Only addresses on this machine should be targeted.
import http from 'k6/http';
import { check } from 'k6';
import { Counter, Trend } from 'k6/metrics';
import { WebSocket } from 'k6/websockets';

const BASE = __ENV.BASE || 'http://127.0.0.1:8080';
const WS = BASE.replace(/^http/, 'ws') + '/v1/ws';
const SIMS = parseInt(__ENV.SIMS || '20', 10);
const VUS = parseInt(__ENV.VUS || '200', 10);
const HOLD = __ENV.HOLD || '60s';
const INTERVAL = parseInt(__ENV.INTERVAL_MS || '1000', 10);

const delivery = new Trend('turn_delivery', true);
const turns = new Counter('turns_received');
const gaps = new Counter('turn_gaps');

export const options = {
  scenarios: {
    watchers: { executor: 'per-vu-iterations', vus: VUS, iterations: 1, maxDuration: '10m' },
  },
  thresholds: {
    turn_delivery: ['p(99)<50'],
    turn_gaps: ['count==0'],
  },
};

// setup signs in and starts the stories; the built-in scenarios lose their
// endings so that they run for the whole test.
export function setup() {
  const auth = http.post(`${BASE}/v1/auth/guest`, JSON.stringify({ name: 'k6' }));
  check(auth, { 'signed in': (r) => r.status === 201 });
  const token = auth.json('token');
  const list = http.get(`${BASE}/v1/scenarios`).json('scenarios');
  const scenarios = list.map((s) => {
    const sc = http.get(`${BASE}/v1/scenarios/${s.id}`).json();
    delete sc.end;
    sc.id = `${s.id}-endless`;
    sc.length = 10000;
    return sc;
  });
  const sims = [];
  for (let i = 0; i < SIMS; i++) {
    const body = { scenario: scenarios[i % scenarios.length], seed: i, turn_interval_ms: INTERVAL, max_turns: 100000 };
    const r = http.post(`${BASE}/v1/simulations`, JSON.stringify(body), {
      headers: { Authorization: `Bearer ${token}` },
    });
    check(r, { 'story started': (res) => res.status === 201 });
    sims.push(r.json('id'));
  }
  return { sims, token };
}

// teardown stops the stories setup started: left alone they would run for
// up to 100,000 turns.
export function teardown(data) {
  stopAll(data.sims, data.token);
}

export default function (data) {
  const sim = data.sims[(__VU - 1) % data.sims.length];
  const ws = new WebSocket(WS, 'novel.v1');
  let last = 0;
  ws.onopen = () => ws.send(JSON.stringify({ type: 'subscribe', sim, id: 'sub' }));
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    if (m.type === 'snapshot') {
      last = m.seq;
    } else if (m.type === 'turn') {
      if (last > 0 && m.seq !== last + 1) gaps.add(1);
      last = m.seq;
      turns.add(1);
      delivery.add(Date.now() - Date.parse(m.turn.at));
    }
  };
  ws.onerror = (e) => console.error(`watcher ${__VU}: ${e.error}`);
  setTimeout(() => ws.close(), parseDuration(HOLD));
}

function parseDuration(s) {
  const m = /^(\d+)(ms|s|m)$/.exec(s);
  if (!m) return 60000;
  return parseInt(m[1], 10) * { ms: 1, s: 1000, m: 60000 }[m[2]];
}

// stopAll stops each story (its creator's token); one that already ended
// answers conflict, which is fine.
export function stopAll(sims, token) {
  for (const id of sims) {
    const r = http.post(`${BASE}/v1/simulations/${id}/stop`, null, { headers: { Authorization: `Bearer ${token}` } });
    check(r, { 'story stopped': (res) => res.status === 200 || res.status === 409 });
  }
}
