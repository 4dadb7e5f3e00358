// @ts-check
/**
 * The Novel Engine browser UI: lobby, story view, playing. Routes are
 * real paths ("/" and "/story/{id}") served by the same page.
 */
import { NovelClient, api, NovelError } from './client.js';
import { MapView, factionColor, initials } from './map.js';

// ---------------------------------------------------------------- helpers

/**
 * Builds an element. Text is always set as text, never parsed as HTML.
 * @param {string} tag e.g. "div.card#x"
 * @param {Record<string, any>|Node|string|null} [attrs] attributes (on* are listeners), or a first child
 * @param {...(Node|string|number|null|undefined|false)} children
 * @returns {HTMLElement}
 */
function h(tag, attrs, ...children) {
  const [name, ...rest] = tag.split(/(?=[.#])/);
  const e = document.createElement(name || 'div');
  for (const r of rest) {
    if (r[0] === '.') e.classList.add(r.slice(1));
    else e.id = r.slice(1);
  }
  if (attrs instanceof Node || typeof attrs === 'string') {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k === 'text') e.textContent = v;
    else if (k === 'style') {
      // Through the CSSOM: the content security policy forbids style attributes.
      for (const decl of String(v).split(';')) {
        const i = decl.indexOf(':');
        if (i > 0) e.style.setProperty(decl.slice(0, i).trim(), decl.slice(i + 1).trim());
      }
    }
    else if (v === true) e.setAttribute(k, '');
    else e.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    e.append(typeof c === 'object' ? c : String(c));
  }
  return e;
}

/** @param {string} sel */
const $ = (sel) => /** @type {HTMLElement} */ (document.querySelector(sel));

/** @param {string} s */
function timeAgo(s) {
  const t = Date.parse(s);
  if (!t) return '';
  const d = Math.max(0, (Date.now() - t) / 1000);
  if (d < 60) return 'just now';
  if (d < 3600) return `${Math.floor(d / 60)} min ago`;
  if (d < 86400) return `${Math.floor(d / 3600)} h ago`;
  return new Date(t).toLocaleDateString();
}

/** @param {string} message @param {'info'|'error'} [kind] */
function toast(message, kind = 'info') {
  const t = h(`div.toast.${kind}`, null, message);
  $('#toasts').append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 6000 : 3500);
}

/** @param {unknown} err */
function errText(err) {
  if (err instanceof NovelError) return err.message;
  return String(/** @type {any} */ (err)?.message || err);
}

const STATUS_LABEL = /** @type {Record<string, string>} */ ({
  created: 'Not started', running: 'Live', paused: 'Paused', finished: 'Finished', failed: 'Failed',
});

/** @param {string} status */
function statusPill(status) {
  return h(`span.pill.s-${status || 'unknown'}`, null, STATUS_LABEL[status] || status || '…');
}

// ---------------------------------------------------------------- session

const SESSION_KEY = 'novel.session';

/** The signed-in guest (or nobody): token and user, kept in localStorage. */
const session = {
  /** @type {string|null} */ token: null,
  /** @type {{id: string, name: string, role: string}|null} */ user: null,
  /** @type {string|null} */ expiresAt: null,

  load() {
    try {
      const s = JSON.parse(localStorage.getItem(SESSION_KEY) || 'null');
      if (s && s.token && (!s.expires_at || Date.parse(s.expires_at) > Date.now() + 5000)) {
        this.token = s.token; this.user = s.user; this.expiresAt = s.expires_at || null;
      }
    } catch { /* no storage or bad data: anonymous */ }
  },

  /** @param {{token: string, user: any, expires_at?: string}} r */
  save(r) {
    this.token = r.token; this.user = r.user; this.expiresAt = r.expires_at || null;
    try { localStorage.setItem(SESSION_KEY, JSON.stringify(r)); } catch { /* private mode */ }
  },

  clear() {
    this.token = this.user = this.expiresAt = null;
    try { localStorage.removeItem(SESSION_KEY); } catch { /* ignore */ }
  },

  get canPlay() { return !!this.user && (this.user.role === 'player' || this.user.role === 'admin'); },
};

// ---------------------------------------------------------------- connection

session.load();
const client = new NovelClient({ token: () => session.token });

/** @type {any} */
let bannerTimer = null;
client.addEventListener('state', (ev) => {
  const d = /** @type {CustomEvent} */ (ev).detail;
  const conn = $('#conn');
  conn.dataset.state = d.state;
  /** @type {HTMLElement} */ (conn.querySelector('.conn-label')).textContent = d.state === 'idle' && d.code === 4008
    ? 'Standby' // closed for watching nothing; opening a story connects again
    : ({ idle: 'Offline', connecting: 'Connecting…', open: 'Live', reconnecting: 'Reconnecting…', closed: 'Offline' })[d.state] || d.state;
  const banner = $('#banner');
  clearInterval(bannerTimer);
  if (d.state === 'reconnecting') {
    const until = Date.now() + (d.delay || 0);
    const show = () => {
      const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
      // replaceChildren would show a null as the text "null": leave it out.
      const parts = [
        h('span.banner-icon', { 'aria-hidden': 'true' }, '!'),
        h('span', null, left > 0 ? `Connection lost. Reconnecting in ${left} s…` : 'Connection lost. Reconnecting…',
          d.attempt > 1 ? ` (attempt ${d.attempt})` : ''),
      ];
      if (left > 0) parts.push(h('button.link', { type: 'button', onclick: () => client.reconnect() }, 'Retry now'));
      banner.replaceChildren(...parts);
    };
    show();
    if (d.delay > 1000) bannerTimer = setInterval(show, 1000);
    banner.hidden = false;
    banner.dataset.kind = 'down';
  } else if (d.state === 'closed' && d.code === 4001) {
    banner.replaceChildren(h('span', null, 'Your session expired. Sign in again to keep playing.'));
    banner.hidden = false;
    banner.dataset.kind = 'down';
    session.clear();
    renderAccount();
    client.connect();
  } else if (d.state === 'open') {
    if (banner.dataset.kind === 'down') {
      banner.replaceChildren(h('span', null, 'Reconnected. Caught up.'));
      banner.dataset.kind = 'up';
      bannerTimer = setTimeout(() => { banner.hidden = true; banner.dataset.kind = ''; }, 2000);
    } else {
      banner.hidden = true;
    }
  }
});

// ---------------------------------------------------------------- account

function renderAccount() {
  const box = $('#account');
  if (session.user) {
    box.replaceChildren(
      h('span.who-am-i', { title: `Signed in as ${session.user.name} (${session.user.role})` },
        h('span.avatar', { 'aria-hidden': 'true', style: 'background:var(--accent)' }, initials(session.user.name)),
        h('span.user-name', null, session.user.name)),
      h('button.ghost', { type: 'button', onclick: signOut }, 'Sign out'),
    );
    return;
  }
  const input = h('input', { name: 'name', id: 'guest-name', placeholder: 'Your name', 'aria-label': 'Your name', maxlength: 40, required: true, autocomplete: 'nickname' });
  box.replaceChildren(h('form.signin', { onsubmit: (/** @type {Event} */ e) => { e.preventDefault(); signIn(/** @type {HTMLInputElement} */ (input).value); } },
    input, h('button', { type: 'submit' }, 'Sign in as guest')));
}

/** @param {string} name */
async function signIn(name) {
  name = name.trim();
  if (!name) return;
  try {
    const r = await api('/v1/auth/guest', { method: 'POST', body: { name } });
    session.save(r);
    renderAccount();
    client.reconnect();
    toast(`Signed in as ${r.user.name}.`);
    view?.onSession?.();
  } catch (err) {
    toast(`Could not sign in: ${errText(err)}`, 'error');
  }
}

function signOut() {
  session.clear();
  renderAccount();
  client.reconnect();
  view?.onSession?.();
}

// ---------------------------------------------------------------- router

/** @type {{destroy: () => void, onSession?: () => void}|null} */
let view = null;

/** @param {string} path */
function navigate(path) {
  if (path === location.pathname) return;
  history.pushState(null, '', path);
  route();
}

let firstRoute = true;

function route() {
  view?.destroy();
  view = null;
  const main = $('#main');
  main.replaceChildren();
  const m = location.pathname.match(/^\/story\/([^/]+)\/?$/);
  view = m ? storyView(main, decodeURIComponent(m[1])) : lobbyView(main);
  // After a navigation, start keyboard and screen reader users at the new
  // page's heading, as a page load would.
  if (!firstRoute) (/** @type {HTMLElement|null} */ (main.querySelector('h1')) || main).focus({ preventScroll: true });
  firstRoute = false;
  window.scrollTo(0, 0);
}

document.addEventListener('click', (e) => {
  const a = /** @type {HTMLElement} */ (e.target)?.closest?.('a[data-nav]');
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  navigate(/** @type {HTMLAnchorElement} */ (a).pathname);
});
window.addEventListener('popstate', route);

// ---------------------------------------------------------------- lobby

/** @type {Map<string, any>} */
const scenarioCache = new Map();

/** @param {HTMLElement} main */
function lobbyView(main) {
  document.title = 'Novel Engine';
  let filter = 'all';
  let alive = true;
  /** @type {any} */ let timer = null;
  /** @type {string|null} */ let cursor = null;
  /** @type {any[]} */ let extra = [];

  const list = h('ul.story-list', { 'aria-label': 'Stories', 'aria-busy': 'true' });
  const more = h('button.ghost.more', { type: 'button', hidden: true, onclick: () => load(true) }, 'Show more stories');
  const tabs = h('div.tabs', { role: 'group', 'aria-label': 'Filter stories' },
    ...[['all', 'All'], ['running', 'Live'], ['finished', 'Finished']].map(([v, label]) =>
      h('button.tab', { type: 'button', 'aria-pressed': String(v === filter), dataset: { filter: v }, onclick: () => {
        filter = v;
        tabs.querySelectorAll('button').forEach((b) => b.setAttribute('aria-pressed', String(/** @type {HTMLElement} */ (b).dataset.filter === v)));
        cursor = null; extra = [];
        load(false);
      } }, label)));

  // The form to start a story.
  const scenarioSel = /** @type {HTMLSelectElement} */ (h('select', { id: 'f-scenario', name: 'scenario', required: true }));
  const premise = h('p.premise', { id: 'f-premise' });
  const form = /** @type {HTMLFormElement} */ (h('form.new-story', { id: 'new-story', onsubmit: onCreate },
    h('label', { for: 'f-scenario' }, 'Scenario'), scenarioSel, premise,
    h('label', { for: 'f-title' }, 'Title ', h('span.opt', null, '(optional)')),
    h('input', { id: 'f-title', name: 'title', maxlength: 120, placeholder: 'Named after the scenario' }),
    h('div.row',
      h('div', null, h('label', { for: 'f-seed' }, 'Seed'),
        h('input', { id: 'f-seed', name: 'seed', type: 'number', min: 0, step: 1, value: Math.floor(Math.random() * 100000), inputmode: 'numeric' })),
      h('div', null, h('label', { for: 'f-pace', title: 'Milliseconds between turns' }, 'Pace (ms)'),
        h('input', { id: 'f-pace', name: 'pace', type: 'number', min: 10, step: 10, value: 1000, list: 'paces', inputmode: 'numeric' }),
        h('datalist', { id: 'paces' }, ...[100, 500, 1000, 2000, 5000].map((v) => h('option', { value: v })))),
      h('div', null, h('label', { for: 'f-max' }, 'Turns'),
        h('input', { id: 'f-max', name: 'max_turns', type: 'number', min: 1, max: 10000, step: 1, value: 100, inputmode: 'numeric' }))),
    h('label.check', null, h('input', { type: 'checkbox', name: 'wait', id: 'f-wait' }), ' Wait for players each turn'),
    h('label.check', null, h('input', { type: 'checkbox', name: 'votes', id: 'f-votes' }), ' Let the audience vote on twists'),
    h('button.primary', { type: 'submit', id: 'f-start' }, 'Start the story'),
    h('p.form-error', { role: 'alert' })));

  main.append(
    h('section.hero', null,
      h('h1', { tabindex: -1 }, 'Stories, written as you watch'),
      h('p', null, 'Characters decide, a director resolves, a chronicler writes. Follow a story live, or sign in, take a seat and steer a character yourself.')),
    h('div.lobby',
      h('section.card.stories-card', { 'aria-labelledby': 'stories-h' },
        h('div.card-head', null, h('h2', { id: 'stories-h' }, 'Stories'), tabs),
        list, more),
      h('section.card.start-card', { 'aria-labelledby': 'start-h' },
        h('h2', { id: 'start-h' }, 'Start a story'), form)));

  scenarioSel.addEventListener('change', () => {
    const s = scenarioCache.get(scenarioSel.value);
    premise.textContent = s ? (s.premise || '') : '';
  });

  (async () => {
    try {
      const r = await api('/v1/scenarios');
      const all = r.scenarios || [];
      for (const s of all) scenarioCache.set(s.id, s);
      scenarioSel.replaceChildren(...all.map((/** @type {any} */ s) => h('option', { value: s.id }, s.title || s.id)));
      scenarioSel.dispatchEvent(new Event('change'));
      if (!all.length) scenarioSel.append(h('option', { value: '' }, 'No scenarios'));
      load(false);
    } catch (err) {
      premise.textContent = `Could not load scenarios: ${errText(err)}`;
    }
  })();

  /** @param {Event} e */
  async function onCreate(e) {
    e.preventDefault();
    const fd = new FormData(form);
    const errBox = /** @type {HTMLElement} */ (form.querySelector('.form-error'));
    errBox.textContent = '';
    if (!session.token) {
      errBox.textContent = 'Sign in as a guest first (top right): stories belong to whoever starts them.';
      $('#guest-name')?.focus();
      return;
    }
    /** @type {Record<string, any>} */
    const body = {
      scenario: fd.get('scenario'),
      seed: Number(fd.get('seed')) || 0,
      turn_interval_ms: Number(fd.get('pace')) || 1000,
      max_turns: Number(fd.get('max_turns')) || undefined,
      wait_for_players: fd.get('wait') === 'on',
      autostart: true,
    };
    const title = String(fd.get('title') || '').trim();
    if (title) body.title = title;
    if (fd.get('votes') === 'on') body.audience_votes = true;
    const btn = /** @type {HTMLButtonElement} */ (form.querySelector('#f-start'));
    btn.disabled = true;
    try {
      const sim = await api('/v1/simulations', { method: 'POST', body, token: session.token });
      navigate(`/story/${encodeURIComponent(sim.id)}`);
    } catch (err) {
      errBox.textContent = `Could not start the story: ${errText(err)}`;
    } finally {
      btn.disabled = false;
    }
  }

  /** @param {boolean} append */
  async function load(append) {
    clearTimeout(timer);
    try {
      const r = await api('/v1/simulations', { query: { status: filter === 'all' ? undefined : filter, limit: 50, cursor: append ? cursor : undefined } });
      if (!alive) return;
      const sims = r.simulations || [];
      if (append) extra = extra.concat(sims);
      else cursor = r.next_cursor || null;
      if (append) cursor = r.next_cursor || null;
      renderList(append ? null : sims);
      more.hidden = !cursor;
    } catch (err) {
      if (!alive) return;
      list.replaceChildren(h('li.empty', null, `Could not load stories: ${errText(err)}`));
    }
    list.setAttribute('aria-busy', 'false');
    if (alive) timer = setTimeout(() => load(false), document.hidden ? 15000 : 3000);
  }

  /** @type {any[]} */
  let firstPage = [];
  /** @param {any[]|null} sims */
  function renderList(sims) {
    if (sims) firstPage = sims;
    const all = firstPage.concat(extra.filter((x) => !firstPage.some((y) => y.id === x.id)));
    // Live first, then newest.
    const rank = (/** @type {any} */ s) => ({ running: 0, paused: 1, created: 2 })[/** @type {string} */ (s.status)] ?? 3;
    all.sort((a, b) => rank(a) - rank(b) || String(b.created_at).localeCompare(String(a.created_at)));
    if (!all.length) {
      list.replaceChildren(h('li.empty', null, filter === 'finished' ? 'No finished stories yet.' : 'No stories yet. Start one!'));
      return;
    }
    const focused = /** @type {HTMLElement|null} */ (document.activeElement)?.closest?.('li')?.getAttribute('data-id');
    list.replaceChildren(...all.map(storyItem));
    if (focused) /** @type {HTMLElement|null} */ (list.querySelector(`li[data-id="${CSS.escape(focused)}"] a`))?.focus();
  }

  /** @param {any} s */
  function storyItem(s) {
    const sc = scenarioCache.get(s.scenario_id);
    const pct = s.max_turns ? Math.min(100, Math.round((100 * (s.head || 0)) / s.max_turns)) : 0;
    return h('li.story-item', { dataset: { id: s.id, status: s.status } },
      h('a.story-link', { href: `/story/${encodeURIComponent(s.id)}`, 'data-nav': true },
        h('span.story-title', null, s.title || (sc && sc.title) || s.id),
        h('span.story-meta', null,
          statusPill(s.status),
          h('span.scenario', null, sc ? (sc.title !== s.title ? sc.title : sc.genre || sc.title) : s.scenario_id),
          h('span.turns', null, `Turn ${s.head || 0}${s.max_turns ? ` / ${s.max_turns}` : ''}`),
          typeof s.watchers === 'number' ? h('span.watchers', null, `${s.watchers} watching`) : null,
          h('span.when', null, timeAgo(s.created_at))),
        h('span.progress', { 'aria-hidden': 'true' }, h('span', { style: `width:${pct}%` }))));
  }

  const onVisible = () => { if (!document.hidden) load(false); };
  document.addEventListener('visibilitychange', onVisible);
  return {
    destroy() {
      alive = false;
      clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisible);
    },
  };
}

// ---------------------------------------------------------------- story

/** Most turns kept in the page while following; more are trimmed from the top. */
const MAX_TURNS_FOLLOWING = 150;
/** Most turns kept while reading back (not following). */
const MAX_TURNS_READING = 1000;
/** Turns fetched per "show earlier". */
const EARLIER_PAGE = 50;

/**
 * @param {HTMLElement} main
 * @param {string} simId
 */
function storyView(main, simId) {
  let alive = true;
  /** @type {any} */ let sim = null;
  /** Characters by id, with their latest state. @type {Map<string, any>} */
  const chars = new Map();
  /** @type {Map<string, any>} */
  const places = new Map();
  /** Seats: character id → user name. @type {Map<string, string>} */
  const seats = new Map();
  /** Characters whose seat I hold. @type {Set<string>} */
  const mine = new Set();
  let watchers = /** @type {number|null} */ (null);
  let status = '';
  let head = 0;
  /** Seqs shown, first and last. */
  let firstShown = 0;
  let lastShown = 0;
  /** Turns waiting for the next frame. @type {any[]} */
  let queue = [];
  let scheduled = false;
  let following = true;
  let loadingEarlier = false; // "show earlier" is fetching: trim nothing
  let unseen = 0;
  /** My action waiting to be played: the turn it goes in. @type {{turn: number, character: string, label: string}|null} */
  let pending = null;
  /** Whether the AI plays my character on turns I send nothing for. */
  let aiFill = false;
  let lastAnnounce = 0;
  /** @type {any} */ let announceTimer = null;
  let castDirty = true;

  // ---- skeleton
  const title = h('h1', { tabindex: -1 }, 'Loading…');
  const subtitle = h('p.subtitle');
  const pill = h('span.status-slot');
  const turnCounter = h('span.turn-counter', { id: 'turn-counter', 'aria-label': 'Turn' }, 'Turn 0');
  const watchersEl = h('span.watchers', { id: 'watchers' });
  const controls = h('span.controls');
  const mdLink = h('a.md-link', { href: `/v1/simulations/${encodeURIComponent(simId)}/story`, target: '_blank', rel: 'noopener' }, 'Story as Markdown');
  const prose = h('div.prose', { id: 'prose', tabindex: 0, 'aria-label': 'The story so far', role: 'region', 'aria-describedby': 'prose-help' });
  const earlier = h('button.ghost.earlier', { type: 'button', hidden: true, onclick: showEarlier }, 'Show earlier turns');
  const jump = h('button.jump', { type: 'button', hidden: true, onclick: () => { following = true; scrollToEnd(); jump.hidden = true; unseen = 0; } });
  const showEvents = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', id: 'show-events', checked: true }));
  const playBox = h('section.card.play', { id: 'play', 'aria-labelledby': 'play-h' });
  // ---- audience votes: the vote open, and my ballot in it
  const voteBox = h('section.card.vote', { id: 'vote', hidden: true, 'aria-labelledby': 'vote-h' });
  /** @type {any} */ let vote = null;
  /** @type {string|null} */ let myBallot = null;
  /** @type {any} */ let voteTimer = null;
  const castList = h('ul.cast', { id: 'cast', 'aria-label': 'Cast' });
  const mapBox = h('div.map', { id: 'map' });
  const mapView = new MapView(mapBox);

  // ---- timeline: the story as it stood after any turn, and forks from it
  /** The turn looked at, or null while live. @type {number|null} */
  let scrubAt = null;
  /** The world at scrubAt, once loaded. @type {any} */
  let scrubWorld = null;
  /** Worlds by turn: a turn's world never changes. @type {Map<number, any>} */
  const worlds = new Map();
  /** @type {any} */ let scrubTimer = null;
  const scrub = /** @type {HTMLInputElement} */ (h('input', { type: 'range', id: 'timeline', min: 0, max: 0, value: 0, step: 1, 'aria-label': 'Turn to look at', 'aria-describedby': 'timeline-label' }));
  const scrubLabel = h('span.timeline-label', { id: 'timeline-label' }, 'Live');
  const liveBtn = h('button.ghost.small', { type: 'button', id: 'back-to-live', hidden: true, onclick: backToLive }, 'Back to live');
  const forkBtn = h('button.small', { type: 'button', id: 'fork', onclick: forkHere, title: 'Start a new story from this turn, which then goes its own way' }, 'Fork from here');
  const lineage = h('p.lineage', { id: 'lineage', hidden: true });
  scrub.addEventListener('input', onScrub);

  prose.append(earlier);
  main.append(
    h('div.story-head', null,
      h('a.back', { href: '/', 'data-nav': true }, '← All stories'),
      title, subtitle, lineage,
      h('div.story-stats', null, pill, turnCounter, watchersEl, mdLink, controls),
      h('div.timeline', { role: 'group', 'aria-label': 'Timeline' }, scrub, scrubLabel, liveBtn, forkBtn)),
    h('div.story-grid', null,
      h('section.prose-col', { 'aria-label': 'Story' },
        h('div.prose-tools', null,
          h('label.check', null, showEvents, ' Show events'),
          h('span.help', { id: 'prose-help' }, 'New turns appear at the end.')),
        prose, jump),
      voteBox,
      playBox,
      h('section.card.cast-card', { 'aria-labelledby': 'cast-h' }, h('h2', { id: 'cast-h' }, 'Cast'), castList),
      h('section.card.map-card', { 'aria-labelledby': 'map-h' }, h('h2', { id: 'map-h' }, 'Map'), mapBox)));

  showEvents.addEventListener('change', () => prose.classList.toggle('no-events', !showEvents.checked));
  // Following stops when the reader scrolls up from where the page last
  // scrolled itself, and starts again at the end. (Comparing with the end
  // alone would misread the page's own scroll once more turns are in.)
  let autoTop = 0;
  prose.addEventListener('scroll', () => {
    if (prose.scrollTop + prose.clientHeight >= prose.scrollHeight - 48) {
      following = true;
      unseen = 0;
      jump.hidden = true;
    } else if (prose.scrollTop < autoTop - 8) {
      following = false;
    }
  }, { passive: true });

  // ---- data
  const sub = client.subscribe(simId, onTurn, {
    onSnapshot(snap) {
      if (!alive) return;
      setSim(snap.simulation);
      if (!snap.recovered && lastShown) {
        // The server could not resume: some turns are not available.
        queue.push({ gapMarker: true });
        schedule();
      }
    },
    onStatus(m) {
      if (!alive) return;
      status = m.status;
      if (sim) sim.status = m.status;
      renderHead();
      renderPlay();
    },
    onVote(m) {
      if (alive) showVote(m);
    },
    onPresence(m) {
      if (!alive) return;
      watchers = m.watchers;
      seats.clear();
      for (const [c, u] of Object.entries(m.seats || {})) seats.set(c, String(u));
      for (const c of [...mine]) {
        const holder = seats.get(c);
        if (holder && session.user && holder !== session.user.name) mine.delete(c);
      }
      castDirty = true;
      renderHead();
      schedule();
    },
    onError(err) {
      if (!alive) return;
      title.textContent = err.code === 'not_found' ? 'No such story' : 'Cannot follow this story';
      subtitle.textContent = errText(err);
    },
  });

  // Reclaim my seats after a reconnect (they survive a short absence).
  const onWelcome = () => {
    for (const c of [...mine]) {
      client.claim(simId, c, { aiFill }).catch((err) => {
        mine.delete(c);
        toast(`Lost the seat of ${charName(c)}: ${errText(err)}`, 'error');
        castDirty = true; schedule();
      });
    }
  };
  client.addEventListener('welcome', onWelcome);
  const onState = () => { castDirty = true; schedule(); };
  client.addEventListener('state', onState);

  if (!scenarioCache.size) {
    api('/v1/scenarios').then((r) => {
      for (const s of r.scenarios || []) scenarioCache.set(s.id, s);
      renderHead();
    }).catch(() => {});
  }

  // A first look over REST, so the page has the cast before the socket is up.
  api(`/v1/simulations/${encodeURIComponent(simId)}`).then((s) => { if (alive && !sim) setSim(s); }).catch((err) => {
    if (!alive || sim) return;
    if (err.code === 'not_found') { title.textContent = 'No such story'; subtitle.textContent = errText(err); }
  });

  /** @param {any} s */
  function setSim(s) {
    sim = s;
    status = s.status;
    head = Math.max(head, s.head || 0);
    places.clear();
    for (const l of s.locations || []) places.set(l.id, l);
    for (const c of s.characters || []) {
      chars.set(c.id, { ...chars.get(c.id), ...c });
      if (c.seat) {
        seats.set(c.id, c.seat.user_name);
        if (session.user && c.seat.user_id === session.user.id) { mine.add(c.id); aiFill = !!c.seat.ai_fill; }
      }
    }
    for (const c of s.characters || []) factionColor(c.faction || '');
    mapView.setWorld(s.locations || [], (s.characters || []).length);
    if (s.vote) showVote(s.vote);
    castDirty = true;
    renderHead();
    renderLineage();
    schedule();
  }

  /** @param {any} turn */
  function onTurn(turn) {
    if (!alive) return;
    queue.push(turn);
    schedule();
  }

  function schedule() {
    if (scheduled || !alive) return;
    scheduled = true;
    // Frames do not run in a hidden tab: fall back to a slow timer there
    // so the state stays current, and draw only the newest turns.
    if (document.hidden) setTimeout(flush, 500);
    else requestAnimationFrame(flush);
  }

  /** Draws everything that arrived since the last frame, at once. */
  function flush() {
    scheduled = false;
    if (!alive) return;
    let turns = queue;
    queue = [];
    const cap = following && !loadingEarlier ? MAX_TURNS_FOLLOWING : MAX_TURNS_READING;
    for (const t of turns) {
      if (t.gapMarker) continue;
      head = Math.max(head, t.seq);
      for (const c of t.characters || []) chars.set(c.id, { ...chars.get(c.id), ...c });
      if (t.finished) status = 'finished';
    }
    if (turns.length) castDirty = true;
    if (turns.length > cap) {
      // Far behind (a hidden tab, a slow phone): draw only the newest.
      turns = turns.slice(-cap);
      for (const a of prose.querySelectorAll('article.turn, .gap')) a.remove();
      firstShown = 0;
    }
    if (turns.length) {
      const frag = document.createDocumentFragment();
      for (const t of turns) {
        if (t.gapMarker) {
          frag.append(h('p.gap', { role: 'note' }, 'Some turns could not be recovered after the connection dropped.'));
          continue;
        }
        frag.append(renderTurn(t));
        if (!firstShown) firstShown = t.seq;
        lastShown = t.seq;
      }
      prose.append(frag);
      trim(cap);
      const real = turns.filter((t) => !t.gapMarker);
      if (real.length) announce(real[real.length - 1]);
      if (following) scrollToEnd();
      else {
        unseen += real.length;
        jump.hidden = unseen === 0 || scrubAt != null;
        jump.textContent = `${unseen} new turn${unseen === 1 ? '' : 's'} ↓`;
      }
    }
    earlier.hidden = !(firstShown > 1);
    renderHead();
    if (castDirty) {
      castDirty = false;
      renderCast();
      renderPlay();
    }
  }

  /** @param {number} cap */
  function trim(cap) {
    const arts = prose.querySelectorAll('article.turn');
    const extra = arts.length - cap;
    if (extra <= 0) return;
    const before = prose.scrollHeight;
    for (let i = 0; i < extra; i++) arts[i].remove();
    const next = /** @type {HTMLElement|null} */ (prose.querySelector('article.turn'));
    firstShown = next ? Number(next.dataset.seq) : 0;
    if (!following) prose.scrollTop -= before - prose.scrollHeight;
  }

  function scrollToEnd() {
    prose.scrollTop = prose.scrollHeight;
    autoTop = prose.scrollTop;
  }

  async function showEarlier() {
    if (firstShown <= 1 || loadingEarlier) return;
    // Reading back: stop following, and trim nothing while the older
    // turns load, or turns trimmed meanwhile would leave a hole between
    // the two.
    following = false;
    loadingEarlier = true;
    const since = Math.max(0, firstShown - 1 - EARLIER_PAGE);
    earlier.setAttribute('aria-busy', 'true');
    try {
      const r = await api(`/v1/simulations/${encodeURIComponent(simId)}/turns`, { query: { since, limit: firstShown - 1 - since } });
      const older = (r.turns || []).filter((/** @type {any} */ t) => t.seq < firstShown);
      if (!older.length || !alive) return;
      const frag = document.createDocumentFragment();
      for (const t of older) frag.append(renderTurn(t));
      const before = prose.scrollHeight;
      earlier.after(frag);
      prose.scrollTop += prose.scrollHeight - before;
      firstShown = older[0].seq;
      earlier.hidden = !(firstShown > 1);
      /** @type {HTMLElement|null} */ (prose.querySelector(`article[data-seq="${older[older.length - 1].seq}"]`))?.focus();
    } catch (err) {
      toast(`Could not load earlier turns: ${errText(err)}`, 'error');
    } finally {
      loadingEarlier = false;
      earlier.removeAttribute('aria-busy');
    }
  }

  /** @param {string} id */
  function charName(id) { return chars.get(id)?.name || id; }
  /** @param {string} id */
  function placeName(id) { return places.get(id)?.name || id; }
  /** @param {string} id */
  function targetName(id) { return chars.has(id) ? charName(id) : places.has(id) ? placeName(id) : String(id).replace(/[-_]+/g, ' '); }

  /** @param {any} ev */
  function describe(ev) {
    const who = ev.actor ? charName(ev.actor) : '';
    const to = ev.target ? targetName(ev.target) : '';
    const said = ev.text ? `: “${ev.text}”` : '';
    if (!ev.actor) return ev.text || `${ev.kind}${to ? ` at ${to}` : ''}`; // the world, not a character
    switch (ev.kind) {
      case 'move': return `${who} goes to ${to}`;
      case 'speak': return ev.text ? `${who}${to ? ` to ${to}` : ''}${said}` : `${who} tries to talk${to ? ` to ${to}` : ''}`;
      case 'wait': return `${who} waits`;
      case 'attack': return `${who} attacks ${to}`;
      case 'help': return `${who} helps ${to}`;
      case 'take': return `${who} takes ${to}`;
      case 'give': return `${who} gives ${to}`;
      case 'search': return `${who} searches${to ? ` ${to}` : ''}`;
      default: return `${who}: ${ev.kind}${to ? ` ${to}` : ''}${said}`;
    }
  }

  /** @param {any} t */
  function renderTurn(t) {
    const art = h('article.turn', { id: `turn-${t.seq}`, dataset: { seq: t.seq }, tabindex: -1, 'aria-labelledby': `turn-${t.seq}-h` },
      h('h3.turn-no', { id: `turn-${t.seq}-h` }, `Turn ${t.seq}`));
    const text = String(t.narrative || '');
    for (const para of text.split(/\n\s*\n/)) {
      if (para.trim()) art.append(h('p.narrative', null, para.trim()));
    }
    const evs = t.events || [];
    if (evs.length) {
      const ul = h('ul.events', { 'aria-label': `Events of turn ${t.seq}` });
      for (const ev of evs) {
        const li = h(`li.ev.o-${ev.outcome || 'success'}${ev.actor ? '' : '.world'}`, { dataset: { actor: ev.actor, kind: ev.kind, target: ev.target || '', source: ev.source || '' } },
          h('span.ev-dot', { 'aria-hidden': 'true', style: `background:${factionColor(chars.get(ev.actor)?.faction || '')}` }),
          h('span.ev-text', null, describe(ev)),
          ev.outcome && ev.outcome !== 'success' ? h('span.ev-outcome', null, ev.outcome) : null,
          ev.source === 'player' ? h('span.ev-src', null, 'player') : null);
        if (pending && pending.turn === t.seq && ev.actor === pending.character) li.classList.add('mine');
        ul.append(li);
      }
      art.append(ul);
    }
    if (t.vote) art.append(voteResult(t.vote));
    if (vote && t.seq >= vote.turn) hideVote();
    if (t.finished) art.append(h('p.the-end', null, 'The end.'));
    if (pending && t.seq >= pending.turn) played(t, art);
    return art;
  }

  /** A vote on the next twist opened: its options, a countdown, ballots.
   * @param {any} m the vote message */
  function showVote(m) {
    if (!m || !Array.isArray(m.options) || m.turn <= head || (vote && vote.turn === m.turn)) return;
    vote = m;
    myBallot = null;
    const count = h('span.vote-countdown', { id: 'vote-countdown', 'aria-live': 'off' });
    const mineEl = h('p.vote-mine', { id: 'vote-mine', 'aria-live': 'polite' });
    const list = h('ul.vote-options');
    for (const o of m.options) {
      list.append(h('li', null, h('button.vote-option', {
        type: 'button', dataset: { option: o.id }, 'aria-pressed': 'false',
        onclick: () => castBallot(o, mineEl, list),
      }, o.label || o.id)));
    }
    voteBox.replaceChildren(
      h('h2', { id: 'vote-h' }, `Vote: the twist of turn ${m.turn}`), count,
      h('p.help', null, 'The director offers these. The one with the most votes is played; with none, the director chooses.'),
      list, mineEl);
    voteBox.hidden = false;
    const tick = () => {
      const left = Math.max(0, Math.ceil((Date.parse(m.closes_at) - Date.now()) / 1000));
      count.textContent = left > 0 ? `Closes in ${left} s` : 'Closed: the turn is being played';
      if (left <= 0) {
        clearInterval(voteTimer);
        for (const b of list.querySelectorAll('button')) /** @type {HTMLButtonElement} */ (b).disabled = true;
      }
    };
    clearInterval(voteTimer);
    voteTimer = setInterval(tick, 250);
    tick();
  }

  /** @param {any} o @param {HTMLElement} mineEl @param {HTMLElement} list */
  async function castBallot(o, mineEl, list) {
    if (!vote) return;
    const turn = vote.turn;
    try {
      const r = await client.ballot(simId, turn, o.id);
      if (!vote || vote.turn !== turn) return;
      myBallot = o.id;
      for (const b of list.querySelectorAll('button')) {
        const on = /** @type {HTMLElement} */ (b).dataset.option === myBallot;
        b.classList.toggle('chosen', on);
        b.setAttribute('aria-pressed', String(on));
      }
      mineEl.textContent = `${r.replaced ? 'Changed your vote to' : 'You voted for'}: ${o.label || o.id}`;
    } catch (err) {
      toast(`Could not vote: ${errText(err)}`, 'error');
    }
  }

  function hideVote() {
    vote = null;
    clearInterval(voteTimer);
    voteBox.hidden = true;
    voteBox.replaceChildren();
  }

  /** How a turn's vote came out. @param {any} v */
  function voteResult(v) {
    const chosen = (v.options || []).find((/** @type {any} */ o) => o.id === v.chosen);
    const label = chosen ? chosen.label || chosen.id : v.chosen;
    const n = Number(v.ballots) || 0;
    const how = v.director || n === 0
      ? 'No one voted; the director chose'
      : `The audience chose, ${v.counts?.[v.chosen] ?? 0} of ${n} ${n === 1 ? 'vote' : 'votes'}`;
    return h('p.vote-result', { dataset: { chosen: v.chosen } }, `${how}: ${label}`);
  }

  /** My pending action's turn arrived: say how it went and point at it.
   * @param {any} t @param {HTMLElement} art */
  function played(t, art) {
    const p = /** @type {NonNullable<typeof pending>} */ (pending);
    pending = null;
    renderNext();
    const mineEv = (t.events || []).find((/** @type {any} */ e) => e.actor === p.character);
    art.classList.add('has-mine');
    const msg = t.seq === p.turn && mineEv
      ? `Played in turn ${t.seq}: ${describe(mineEv)} (${mineEv.outcome}).`
      : `Turn ${t.seq} was played; your action did not appear in it.`;
    setPlayStatus(msg, t.seq);
  }

  /** @param {any} t */
  function announce(t) {
    // Screen readers get the newest prose, at most every 2 s, not a flood.
    const say = () => {
      lastAnnounce = Date.now();
      $('#announcer').textContent = `Turn ${t.seq}. ${String(t.narrative || '').slice(0, 600)}`;
    };
    clearTimeout(announceTimer);
    const wait = 2000 - (Date.now() - lastAnnounce);
    if (wait <= 0) say(); else announceTimer = setTimeout(say, wait);
  }

  function renderHead() {
    if (!sim) return;
    const sc = scenarioCache.get(sim.scenario_id);
    title.textContent = sim.title || (sc && sc.title) || sim.id;
    subtitle.textContent = [sc ? (sc.title !== title.textContent ? sc.title : sc.genre) : sim.scenario_id, `seed ${sim.seed}`, `${sim.turn_interval_ms} ms per turn`,
      sim.wait_for_players ? 'waits for players' : ''].filter(Boolean).join(' · ');
    const st = status || sim.status;
    if (pill.dataset.status !== st) {
      pill.dataset.status = st;
      pill.replaceChildren(statusPill(st));
    }
    turnCounter.textContent = `Turn ${head}${sim.max_turns ? ` / ${sim.max_turns}` : ''}`;
    renderTimeline();
    watchersEl.textContent = watchers == null ? '' : `${watchers} watching`;
    watchersEl.hidden = watchers == null;
    document.title = `${title.textContent} · Turn ${head} · Novel Engine`;
    const isCreator = session.user && (session.user.id === sim.created_by || session.user.role === 'admin');
    const want = isCreator && st !== 'finished' && st !== 'failed' ? st : '';
    if (controls.dataset.for !== want) {
      controls.dataset.for = want;
      controls.replaceChildren(...(want ? [
        want === 'paused' || want === 'created'
          ? h('button.ghost', { type: 'button', onclick: () => control('resume') }, 'Resume')
          : h('button.ghost', { type: 'button', onclick: () => control('pause') }, 'Pause'),
        h('button.ghost.danger', { type: 'button', onclick: () => control('stop') }, 'Stop'),
      ] : []));
    }
  }

  /** @param {'pause'|'resume'|'stop'} what */
  async function control(what) {
    try {
      const s = await api(`/v1/simulations/${encodeURIComponent(simId)}/${what}`, { method: 'POST', token: session.token });
      status = s.status; sim.status = s.status;
      renderHead();
    } catch (err) {
      toast(`Could not ${what}: ${errText(err)}`, 'error');
    }
  }

  function renderCast() {
    if (!sim) return;
    const myChar = [...mine][0] || null;
    const here = myChar && !scrubWorld ? chars.get(myChar)?.location : null;
    const exits = here ? places.get(here)?.exits || [] : [];
    // Scrubbing: the cast and the map as they stood after that turn.
    const all = scrubWorld ? scrubWorld.characters : [...chars.values()].filter((c) => c.name);
    mapView.setCast(all, { mine: myChar, here, exits });
    const open = st() === 'running' || st() === 'paused' || st() === 'created';
    // Rebuild the list only when something in it changed.
    const sig = JSON.stringify([all.map((/** @type {any} */ c) => [c.id, c.location, c.health, c.alive, seats.get(c.id) || '']), [...mine], session.canPlay, open, client.isOpen, scrubWorld?.at ?? -1]);
    if (castList.dataset.sig === sig) return;
    castList.dataset.sig = sig;
    const items = all.map((/** @type {any} */ c) => {
      const holder = seats.get(c.id);
      const isMine = mine.has(c.id);
      let seat;
      if (isMine) seat = h('button.small', { type: 'button', onclick: () => release(c.id), 'aria-label': `Release ${c.name}` }, 'Release');
      else if (holder) seat = h('span.seat.taken', { title: `Played by ${holder}` }, holder);
      else if (session.canPlay && c.alive !== false && open && !myChar) seat = h('button.small.primary', { type: 'button', onclick: () => claim(c.id), 'aria-label': `Play ${c.name}`, disabled: !client.isOpen }, 'Play');
      else seat = h('span.seat', null, c.alive === false ? '' : 'AI');
      const hp = Math.max(0, Math.min(100, Number(c.health) || 0));
      return h(`li.cast-row${isMine ? '.mine' : ''}${c.alive === false ? '.dead' : ''}`, { dataset: { id: c.id } },
        h('span.avatar', { 'aria-hidden': 'true', style: `background:${factionColor(c.faction || '')}` }, initials(c.name)),
        h('span.cast-who', null,
          h('span.cast-name', null, c.name, c.alive === false ? ' (fallen)' : ''),
          h('span.cast-role', null, [c.role, c.faction].filter(Boolean).join(' · '))),
        h('span.cast-where', { title: 'Location' }, placeName(c.location)),
        h('span.cast-hp', { title: `Health ${hp}` },
          h('meter', { min: 0, max: 100, low: 35, high: 70, optimum: 100, value: hp, 'aria-label': `Health of ${c.name}` }),
          h('span.hp-num', null, String(hp))),
        h('span.cast-seat', null, seat));
    });
    const focusedId = /** @type {HTMLElement|null} */ (document.activeElement)?.closest?.('.cast-row')?.getAttribute('data-id');
    castList.replaceChildren(...items);
    if (focusedId) /** @type {HTMLElement|null} */ (castList.querySelector(`li[data-id="${CSS.escape(focusedId)}"] button`))?.focus();
  }

  function st() { return status || sim?.status || ''; }

  function renderTimeline() {
    scrub.max = String(head);
    if (scrubAt == null) scrub.value = String(head);
    const at = scrubAt ?? head;
    if (scrubAt != null) scrubLabel.textContent = `Turn ${scrubAt} of ${head}`;
    forkBtn.textContent = `Fork from turn ${at}`;
    forkBtn.disabled = at < 1 || !session.canPlay;
    forkBtn.title = session.canPlay ? 'Start a new story from this turn, which then goes its own way' : 'Sign in to fork the story';
  }

  function onScrub() {
    const at = Number(scrub.value);
    if (at >= head) { backToLive(); return; }
    scrubAt = at;
    following = false;
    jump.hidden = true;
    scrubLabel.textContent = `Turn ${at} of ${head}`;
    liveBtn.hidden = false;
    main.classList.add('scrubbing');
    renderTimeline();
    showTurnInProse(at);
    // Wait for the drag to rest a moment before asking for the world.
    clearTimeout(scrubTimer);
    scrubTimer = setTimeout(() => loadWorld(at), worlds.has(at) ? 0 : 60);
  }

  /** @param {number} at */
  async function loadWorld(at) {
    try {
      let w = worlds.get(at);
      if (!w) {
        w = await api(`/v1/simulations/${encodeURIComponent(simId)}/world`, { query: { at } });
        worlds.set(at, w);
      }
      if (!alive || scrubAt !== at) return;
      scrubWorld = w;
      castDirty = true;
      schedule();
    } catch (err) {
      if (alive && scrubAt === at) toast(`Could not show turn ${at}: ${errText(err)}`, 'error');
    }
  }

  /** Scrolls the prose to a turn, if it is shown, and marks it. @param {number} at */
  function showTurnInProse(at) {
    for (const a of prose.querySelectorAll('article.turn.scrub-here')) a.classList.remove('scrub-here');
    const art = /** @type {HTMLElement|null} */ (prose.querySelector(`article[data-seq="${at}"]`));
    if (art) {
      art.classList.add('scrub-here');
      prose.scrollTop = art.offsetTop - prose.offsetTop - 8;
    } else if (at < firstShown || at === 0) {
      prose.scrollTop = 0;
    }
    autoTop = prose.scrollTop;
  }

  function backToLive() {
    clearTimeout(scrubTimer);
    scrubAt = null;
    scrubWorld = null;
    scrubLabel.textContent = 'Live';
    liveBtn.hidden = true;
    main.classList.remove('scrubbing');
    for (const a of prose.querySelectorAll('article.turn.scrub-here')) a.classList.remove('scrub-here');
    renderTimeline();
    following = true;
    unseen = 0;
    scrollToEnd();
    castDirty = true;
    schedule();
  }

  async function forkHere() {
    const at = scrubAt ?? head;
    if (!session.token) { toast('Sign in to fork the story', 'error'); return; }
    forkBtn.disabled = true;
    try {
      // A new seed, so that the fork goes its own way even if nobody plays.
      const seed = Math.floor(Math.random() * 2 ** 31);
      const f = await api(`/v1/simulations/${encodeURIComponent(simId)}/fork`, { method: 'POST', token: session.token, body: { at, seed } });
      toast(`Forked from turn ${at}: “${f.title}”`);
      navigate(`/story/${encodeURIComponent(f.id)}`);
    } catch (err) {
      toast(`Could not fork: ${errText(err)}`, 'error');
      forkBtn.disabled = false;
    }
  }

  let forksLoaded = false;
  function renderLineage() {
    if (!sim) return;
    const parts = [];
    if (sim.parent) {
      parts.push('Forked from ', h('a', { href: `/story/${encodeURIComponent(sim.parent)}`, 'data-nav': true }, 'its parent story'), ` after turn ${sim.forked_at}.`);
    }
    lineage.replaceChildren(...parts);
    lineage.hidden = !parts.length;
    if (forksLoaded) return;
    forksLoaded = true;
    api(`/v1/simulations/${encodeURIComponent(simId)}/forks`).then((r) => {
      const forks = r.forks || [];
      if (!alive || !forks.length) return;
      lineage.append(lineage.childNodes.length ? ' ' : '', `Forks: `);
      forks.forEach((/** @type {any} */ f, /** @type {number} */ i) => {
        lineage.append(i ? ', ' : '', h('a', { href: `/story/${encodeURIComponent(f.id)}`, 'data-nav': true }, `${f.title}`));
      });
      lineage.append('.');
      lineage.hidden = false;
    }).catch(() => {});
  }

  /** @param {string} c */
  async function claim(c) {
    try {
      await client.claim(simId, c, { aiFill });
      mine.add(c);
      seats.set(c, session.user?.name || 'you');
      toast(`You now play ${charName(c)}.`);
      castDirty = true; schedule();
      requestAnimationFrame(() => /** @type {HTMLElement|null} */ (playBox.querySelector('button.move, button'))?.focus());
    } catch (err) {
      toast(`Could not claim ${charName(c)}: ${errText(err)}`, 'error');
    }
  }

  /** @param {string} c */
  async function release(c) {
    try {
      await client.release(simId, c);
    } catch (err) {
      if (/** @type {any} */ (err).code !== 'not_found') toast(`Could not release ${charName(c)}: ${errText(err)}`, 'error');
    }
    mine.delete(c);
    seats.delete(c);
    pending = null;
    castDirty = true; schedule();
  }

  /** @param {boolean} on */
  async function setAIFill(on) {
    const c = [...mine][0];
    if (!c) return;
    const was = aiFill;
    aiFill = on;
    renderNext();
    try {
      await client.claim(simId, c, { aiFill: on });
    } catch (err) {
      aiFill = was;
      toast(`Could not change who plays ${charName(c)} while you wait: ${errText(err)}`, 'error');
    }
    renderNext();
  }

  /** Says what my character does next: my queued action, or what happens
   * when I send none. */
  function renderNext() {
    const box = /** @type {HTMLElement|null} */ (playBox.querySelector('.next-up'));
    const c = [...mine][0];
    if (!box || !c) return;
    const name = charName(c);
    if (pending && pending.character === c) {
      box.replaceChildren('Next: ', h('strong', null, pending.label), ` (turn ${pending.turn}). Sending another action replaces it.`);
    } else {
      box.replaceChildren(aiFill
        ? `Next turn: nothing queued, so the AI decides for ${name}.`
        : `Next turn: nothing queued, so ${name} holds their ground.`);
    }
    const fill = /** @type {HTMLInputElement|null} */ (playBox.querySelector('#ai-fill'));
    if (fill) fill.checked = aiFill;
  }

  let playStatus = { text: '', seq: 0 };
  /** @param {string} text @param {number} [seq] */
  function setPlayStatus(text, seq = 0) {
    playStatus = { text, seq };
    const box = playBox.querySelector('.play-status');
    if (box) fillStatus(/** @type {HTMLElement} */ (box));
  }
  /** @param {HTMLElement} box */
  function fillStatus(box) {
    box.replaceChildren(playStatus.text, playStatus.seq ? ' ' : '',
      playStatus.seq ? h('a', { href: `#turn-${playStatus.seq}`, onclick: (/** @type {Event} */ e) => { e.preventDefault(); goToTurn(playStatus.seq); } }, 'Show it') : '');
  }

  /** @param {number} seq */
  function goToTurn(seq) {
    const a = /** @type {HTMLElement|null} */ (prose.querySelector(`article[data-seq="${seq}"]`));
    if (!a) return;
    following = false;
    a.scrollIntoView({ block: 'center' });
    a.focus({ preventScroll: true });
  }

  /** @param {{kind: string, target?: string, text?: string}} action @param {string} label */
  async function act(action, label) {
    const c = [...mine][0];
    if (!c) return;
    try {
      const r = await client.act(simId, c, action);
      const before = pending;
      pending = { turn: r.turn, character: c, label };
      setPlayStatus(r.replaced
        ? `Replaced ${before && before.turn === r.turn ? `“${before.label}”` : 'your earlier action'} with ${label}, to be played in turn ${r.turn}.`
        : `Accepted: ${label}. It will be played in turn ${r.turn}.`);
      renderNext();
    } catch (err) {
      setPlayStatus(`Not accepted: ${errText(err)}`);
      if (/** @type {any} */ (err).code === 'forbidden') { mine.delete(c); castDirty = true; schedule(); }
    }
  }

  /**
   * The Play panel. Its controls are built once per seat and then updated
   * in place, so a turn that moves the character or brings someone in never
   * touches what the user is typing, where the caret is, or what has focus.
   * @type {{mode: string, update?: () => void}}
   */
  let panel = { mode: '' };

  function renderPlay() {
    const c = [...mine][0];
    const me = c ? chars.get(c) : null;
    const mode = !session.user ? 'signin'
      : !session.canPlay ? 'watch'
      : !me ? (['finished', 'failed'].includes(st()) ? 'ended' : 'choose')
      : `play:${c}`;
    if (panel.mode !== mode) panel = buildPlay(mode, c);
    panel.update?.();
  }

  /** @param {string} mode @param {string|undefined} c */
  function buildPlay(mode, c) {
    const head = h('h2', { id: 'play-h' }, 'Play');
    const say = {
      signin: 'Sign in as a guest (top right) to take a seat and steer a character.',
      watch: 'Your account can watch but not play.',
      ended: 'This story has ended.',
      choose: 'Choose a free character in the cast below and press Play.',
    }[mode];
    if (say || !c) {
      playBox.replaceChildren(head, h('p.muted', null, say || ''));
      return { mode };
    }
    const youPlay = h('span');
    const avatar = h('span.avatar', { 'aria-hidden': 'true' });
    const moves = h('div.act-buttons');
    const sayText = /** @type {HTMLInputElement} */ (h('input', { id: 'say-text', dataset: { key: 'say-text' }, maxlength: 500, placeholder: 'What do you say?', 'aria-label': 'What to say' }));
    const sayTo = /** @type {HTMLSelectElement} */ (h('select', { id: 'say-to', dataset: { key: 'say-to' }, 'aria-label': 'Say to' }));
    const sayBtn = /** @type {HTMLButtonElement} */ (h('button', { type: 'submit', dataset: { key: 'say' } }, 'Say'));
    const kindSel = /** @type {HTMLSelectElement} */ (h('select', { id: 'other-kind', dataset: { key: 'other-kind' }, 'aria-label': 'Action' }));
    const otherTarget = /** @type {HTMLSelectElement} */ (h('select', { id: 'other-target', dataset: { key: 'other-target' }, 'aria-label': 'Target' }));
    const otherBtn = /** @type {HTMLButtonElement} */ (h('button', { type: 'submit', dataset: { key: 'other' } }, 'Do it'));
    const other = h('form.act-group.other', { 'aria-labelledby': 'other-l', onsubmit: (/** @type {Event} */ e) => {
      e.preventDefault();
      /** @type {any} */ const a = { kind: kindSel.value };
      if (otherTarget.value) a.target = otherTarget.value;
      act(a, `${kindSel.value}${otherTarget.value ? ` ${targetName(otherTarget.value)}` : ''}`);
    } },
      h('span.act-label', { id: 'other-l' }, 'Other action'),
      h('div.say-row', null, kindSel, otherTarget, otherBtn));
    const waitBtn = /** @type {HTMLButtonElement} */ (h('button.ghost', { type: 'button', dataset: { key: 'wait' }, onclick: () => act({ kind: 'wait' }, 'wait') }, 'Wait a turn'));
    const releaseBtn = h('button.ghost', { type: 'button', dataset: { key: 'release' }, onclick: () => release(c) });
    const fill = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', id: 'ai-fill', dataset: { key: 'ai-fill' },
      onchange: (/** @type {Event} */ e) => setAIFill(/** @type {HTMLInputElement} */ (e.target).checked) }));

    playBox.replaceChildren(
      head,
      h('p.you-play', null, avatar, youPlay),
      h('div.act-group', { role: 'group', 'aria-labelledby': 'move-l' }, h('span.act-label', { id: 'move-l' }, 'Go to'), moves),
      h('form.act-group.say', { 'aria-labelledby': 'say-l', onsubmit: (/** @type {Event} */ e) => {
        e.preventDefault();
        if (sayBtn.disabled) return;
        const text = sayText.value.trim();
        if (!text) { sayText.focus(); return; }
        /** @type {any} */ const a = { kind: 'speak', text };
        if (sayTo.value) a.target = sayTo.value;
        act(a, `say “${text}”${sayTo.value ? ` to ${charName(sayTo.value)}` : ''}`);
        sayText.value = '';
      } },
        h('span.act-label', { id: 'say-l' }, 'Say'),
        h('div.say-row', null, sayText, sayTo, sayBtn)),
      other,
      h('div.act-row', null, waitBtn, releaseBtn),
      h('p.next-up', { 'aria-live': 'polite' }),
      h('label.ai-fill', { for: 'ai-fill' }, fill, ' Let the AI act for me when I send nothing'),
      h('p.play-status', { role: 'status', 'aria-live': 'polite' }),
    );
    fillStatus(/** @type {HTMLElement} */ (playBox.querySelector('.play-status')));
    renderNext();

    let last = '';
    return {
      mode,
      update() {
        const me = chars.get(c);
        if (!me) return;
        const exits = (places.get(me.location)?.exits || []).filter((/** @type {string} */ e) => places.has(e));
        const present = [...chars.values()].filter((x) => x.location === me.location && x.id !== c && x.alive !== false);
        const kinds = (sim?.actions || ['move', 'speak', 'wait']).filter((/** @type {string} */ k) => !['move', 'speak', 'wait'].includes(k));
        const ended = ['finished', 'failed'].includes(st());
        const dead = me.alive === false;
        // While the connection is down actions cannot be sent, but the
        // user may go on typing: only the buttons are disabled.
        const off = ended || dead || !client.isOpen;
        const sig = JSON.stringify([me.name, me.faction, me.location, me.health, dead, off, ended, exits, present.map((x) => [x.id, x.name]), kinds]);
        if (sig === last) return;
        last = sig;

        avatar.textContent = initials(me.name);
        avatar.style.setProperty('background', factionColor(me.faction || ''));
        youPlay.replaceChildren('You play ', h('strong', null, me.name), ` at ${placeName(me.location)}`, dead ? ' (fallen)' : `, health ${me.health}.`);
        releaseBtn.textContent = `Release ${me.name}`;

        // Exits: keep focus on the same place's button when it is still there.
        const focusedMove = moves.contains(document.activeElement) ? /** @type {HTMLElement} */ (document.activeElement).dataset.target : null;
        moves.replaceChildren(...(exits.length ? exits.map((/** @type {string} */ e) => h('button.move', { type: 'button', dataset: { key: `move-${e}`, target: e }, disabled: off,
          onclick: () => act({ kind: 'move', target: e }, `go to ${placeName(e)}`) }, placeName(e))) : [h('span.muted', null, 'No way out.')]));
        if (focusedMove) /** @type {HTMLElement|null} */ (moves.querySelector(`[data-target="${CSS.escape(focusedMove)}"]`))?.focus();

        setOptions(sayTo, [h('option', { value: '' }, 'Everyone here'), ...present.map((x) => h('option', { value: x.id }, x.name))]);
        other.hidden = kinds.length === 0;
        setOptions(kindSel, kinds.map((/** @type {string} */ k) => h('option', { value: k }, k)));
        setOptions(otherTarget, [
          h('option', { value: '' }, 'No target'),
          present.length ? h('optgroup', { label: 'People here' }, ...present.map((x) => h('option', { value: x.id }, x.name))) : null,
          exits.length ? h('optgroup', { label: 'Places' }, ...exits.map((/** @type {string} */ e) => h('option', { value: e }, placeName(e)))) : null,
        ], present[0]?.id);

        sayText.disabled = ended || dead;
        for (const b of [sayBtn, otherBtn, waitBtn]) b.disabled = off;
        fill.disabled = off;
        for (const s of [sayTo, kindSel, otherTarget]) s.disabled = off;
      },
    };
  }

  /**
   * Replaces a select's options only when they differ, keeping the choice
   * the user made while it is still offered.
   * @param {HTMLSelectElement} sel @param {(Node|null)[]} opts @param {string} [fallback]
   */
  function setOptions(sel, opts, fallback) {
    const next = h('select', null, ...opts);
    if (next.innerHTML === sel.innerHTML) return;
    const was = sel.options.length ? sel.value : fallback ?? '';
    sel.replaceChildren(...next.childNodes);
    if ([...sel.options].some((o) => o.value === was)) sel.value = was;
  }

  const onVis = () => { if (!document.hidden) schedule(); };
  document.addEventListener('visibilitychange', onVis);

  return {
    destroy() {
      alive = false;
      sub.unsubscribe();
      clearTimeout(announceTimer);
      clearTimeout(scrubTimer);
      clearInterval(voteTimer);
      main.classList.remove('scrubbing');
      client.removeEventListener('welcome', onWelcome);
      client.removeEventListener('state', onState);
      document.removeEventListener('visibilitychange', onVis);
    },
    onSession() {
      mine.clear();
      if (sim) for (const c of sim.characters || []) {
        if (c.seat && session.user && c.seat.user_id === session.user.id) mine.add(c.id);
      }
      castDirty = true;
      renderHead();
      schedule();
    },
  };
}

/**
 * A socket refused before the upgrade (a token signed by another server,
 * or expired) looks like any failed connection to the page. Ask the REST
 * API, which says 401, and sign out if so.
 */
async function checkToken() {
  const token = session.token;
  if (!token) return;
  try {
    await api('/v1/scenarios', { token });
  } catch (err) {
    if (/** @type {any} */ (err).code === 'unauthorized' && session.token === token) {
      session.clear();
      renderAccount();
      toast('Your sign-in is no longer valid. Sign in again to play.', 'error');
      client.reconnect();
      view?.onSession?.();
    }
  }
}
client.addEventListener('state', (ev) => {
  const d = /** @type {CustomEvent} */ (ev).detail;
  if (d.state === 'reconnecting' && d.delay > 0 && d.attempt >= 2) checkToken();
});

// ---------------------------------------------------------------- start

renderAccount();
client.connect();
checkToken();
route();

// For tests and the curious: the page's client and state.
/** @type {any} */ (window).novel = { client, session };
