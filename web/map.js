// @ts-check
/**
 * The map of a simulation: its locations as a graph (exits are edges),
 * laid out once with a small deterministic force layout, and who is where
 * drawn as markers in each place. SVG, no dependencies.
 * @module novel-engine/map
 */

const SVG = 'http://www.w3.org/2000/svg';
const W = 640;
const H = 440;
const PAD = 70;

/** Colours of factions, picked by a hash of the faction's name. */
const PALETTE = ['#c2410c', '#0f766e', '#7c3aed', '#b45309', '#be123c', '#1d4ed8', '#4d7c0f', '#a21caf'];

/** Colours given so far, in the order factions were first seen. */
const given = new Map();

/**
 * The colour of a faction: the next colour of the palette the first time
 * a name is seen (so the factions of one story differ), the same after.
 * @param {string} s
 */
export function factionColor(s) {
  let c = given.get(s);
  if (!c) {
    c = PALETTE[given.size % PALETTE.length];
    given.set(s, c);
  }
  return c;
}

/** @param {string} name */
export function initials(name) {
  const parts = String(name || '?').trim().split(/\s+/).filter(Boolean);
  if (parts.length === 0) return '?';
  if (parts.length === 1) return parts[0].slice(0, 2);
  return (parts[0][0] + parts[parts.length - 1][0]).toUpperCase();
}

/**
 * Places the locations: a force layout (Fruchterman–Reingold) started
 * from a circle, so the same map always looks the same.
 * @param {{id: string, exits: string[]}[]} locations
 * @returns {Map<string, {x: number, y: number}>}
 */
export function layout(locations) {
  const n = locations.length;
  const pos = locations.map((_, i) => {
    const a = (2 * Math.PI * i) / Math.max(n, 1) - Math.PI / 2;
    return { x: Math.cos(a) * 200, y: Math.sin(a) * 140 };
  });
  const index = new Map(locations.map((l, i) => [l.id, i]));
  /** @type {[number, number][]} */
  const edges = [];
  const seen = new Set();
  locations.forEach((l, i) => {
    for (const e of l.exits || []) {
      const j = index.get(e);
      if (j === undefined || j === i) continue;
      const key = i < j ? `${i}:${j}` : `${j}:${i}`;
      if (seen.has(key)) continue;
      seen.add(key);
      edges.push([i, j]);
    }
  });
  if (n > 1) {
    const k = Math.sqrt((W * H) / n) * 0.75;
    let temp = 120;
    for (let it = 0; it < 400; it++) {
      const disp = pos.map(() => ({ x: 0, y: 0 }));
      for (let i = 0; i < n; i++) {
        for (let j = i + 1; j < n; j++) {
          let dx = pos[i].x - pos[j].x;
          let dy = pos[i].y - pos[j].y;
          let d = Math.hypot(dx, dy);
          if (d < 0.01) { dx = 0.01 * (i - j); dy = 0.01; d = Math.hypot(dx, dy); }
          const f = (k * k) / d;
          disp[i].x += (dx / d) * f; disp[i].y += (dy / d) * f;
          disp[j].x -= (dx / d) * f; disp[j].y -= (dy / d) * f;
        }
      }
      for (const [i, j] of edges) {
        const dx = pos[i].x - pos[j].x;
        const dy = pos[i].y - pos[j].y;
        const d = Math.max(Math.hypot(dx, dy), 0.01);
        const f = (d * d) / k;
        disp[i].x -= (dx / d) * f; disp[i].y -= (dy / d) * f;
        disp[j].x += (dx / d) * f; disp[j].y += (dy / d) * f;
      }
      for (let i = 0; i < n; i++) {
        // A weak pull to the centre keeps separate parts of the map together.
        disp[i].x -= pos[i].x * 0.05; disp[i].y -= pos[i].y * 0.05;
        const d = Math.max(Math.hypot(disp[i].x, disp[i].y), 0.01);
        const step = Math.min(d, temp);
        pos[i].x += (disp[i].x / d) * step;
        pos[i].y += (disp[i].y / d) * step * 0.8;
      }
      temp = Math.max(temp * 0.985, 1);
    }
  }
  // Fit into the view box.
  const xs = pos.map((p) => p.x);
  const ys = pos.map((p) => p.y);
  const minX = Math.min(...xs), maxX = Math.max(...xs);
  const minY = Math.min(...ys), maxY = Math.max(...ys);
  const sx = maxX > minX ? (W - 2 * PAD) / (maxX - minX) : 1;
  const sy = maxY > minY ? (H - 2 * PAD) / (maxY - minY) : 1;
  const out = new Map();
  locations.forEach((l, i) => {
    out.set(l.id, {
      x: maxX > minX ? PAD + (pos[i].x - minX) * sx : W / 2,
      y: maxY > minY ? PAD * 0.8 + (pos[i].y - minY) * sy : H / 2,
    });
  });
  return out;
}

/**
 * @param {string} tag
 * @param {Record<string, string|number>} [attrs]
 * @param {string} [text]
 */
function el(tag, attrs = {}, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Draws and updates the map of one simulation. */
export class MapView {
  /** @param {HTMLElement} container */
  constructor(container) {
    this.container = container;
    this.svg = /** @type {SVGSVGElement} */ (el('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', class: 'map-svg' }));
    this.titleEl = el('title', {}, 'Map of the locations');
    this.svg.append(this.titleEl);
    this.edgesG = el('g', { class: 'edges' });
    this.nodesG = el('g', { class: 'nodes' });
    this.svg.append(this.edgesG, this.nodesG);
    container.append(this.svg);
    /** @type {Map<string, {g: SVGGElement, rect: SVGRectElement, who: SVGGElement, x: number, y: number, w: number}>} */
    this.nodes = new Map();
    /** @type {Map<string, SVGLineElement>} */
    this.edges = new Map();
    this.key = '';
  }

  /**
   * Draws the places and their exits; does nothing when they did not change.
   * @param {{id: string, name: string, exits: string[]}[]} locations
   */
  setWorld(locations) {
    const key = JSON.stringify(locations.map((l) => [l.id, l.name, l.exits]));
    if (key === this.key) return;
    this.key = key;
    this.edgesG.replaceChildren();
    this.nodesG.replaceChildren();
    this.nodes.clear();
    this.edges.clear();
    const pos = layout(locations);
    for (const l of locations) {
      const a = /** @type {{x:number,y:number}} */ (pos.get(l.id));
      for (const e of l.exits || []) {
        const b = pos.get(e);
        const key = [l.id, e].sort().join('\u0000');
        if (!b || this.edges.has(key)) continue;
        const line = /** @type {SVGLineElement} */ (el('line', { x1: a.x, y1: a.y, x2: b.x, y2: b.y }));
        line.dataset.a = l.id;
        line.dataset.b = e;
        this.edges.set(key, line);
        this.edgesG.append(line);
      }
    }
    for (const l of locations) {
      const p = /** @type {{x:number,y:number}} */ (pos.get(l.id));
      const name = l.name.length > 20 ? `${l.name.slice(0, 19)}…` : l.name;
      const w = Math.max(84, name.length * 7.4 + 20);
      const g = /** @type {SVGGElement} */ (el('g', { class: 'loc', transform: `translate(${p.x},${p.y})` }));
      g.dataset.loc = l.id;
      const rect = /** @type {SVGRectElement} */ (el('rect', { x: -w / 2, y: -17, width: w, height: 34, rx: 10 }));
      const title = el('title', {}, l.name);
      const label = el('text', { class: 'loc-name', y: 4, 'text-anchor': 'middle' }, name);
      const who = /** @type {SVGGElement} */ (el('g', { class: 'who' }));
      g.append(title, rect, label, who);
      this.nodesG.append(g);
      this.nodes.set(l.id, { g, rect, who, x: p.x, y: p.y, w });
    }
  }

  /**
   * Draws who is where.
   * @param {{id: string, name: string, faction: string, location: string, alive: boolean}[]} characters
   * @param {{mine?: string|null, here?: string|null, exits?: string[]}} [opts]
   *   mine: the character you play; here: its place; exits: where it can go.
   */
  setCast(characters, opts = {}) {
    /** @type {Map<string, typeof characters>} */
    const by = new Map();
    for (const c of characters) {
      if (!by.has(c.location)) by.set(c.location, []);
      /** @type {typeof characters} */ (by.get(c.location)).push(c);
    }
    const exits = new Set(opts.exits || []);
    for (const [id, n] of this.nodes) {
      const list = by.get(id) || [];
      n.g.classList.toggle('here', id === opts.here);
      n.g.classList.toggle('exit', exits.has(id));
      n.g.classList.toggle('empty', list.length === 0);
      const sig = list.map((c) => `${c.id}${c.alive ? '' : '†'}${c.id === opts.mine ? '*' : ''}`).join(',');
      if (n.who.dataset.sig === sig) continue;
      n.who.dataset.sig = sig;
      n.who.replaceChildren();
      const perRow = 6;
      list.forEach((c, i) => {
        const row = Math.floor(i / perRow);
        const inRow = Math.min(perRow, list.length - row * perRow);
        const col = i % perRow;
        const x = (col - (inRow - 1) / 2) * 22;
        const y = 30 + row * 22;
        const m = el('g', { class: `who-mark${c.alive ? '' : ' dead'}${c.id === opts.mine ? ' mine' : ''}`, transform: `translate(${x},${y})` });
        m.append(
          el('title', {}, `${c.name}${c.alive ? '' : ' (fallen)'}`),
          el('circle', { r: 10, fill: c.alive ? factionColor(c.faction || '') : 'none' }),
          el('text', { y: 3.5, 'text-anchor': 'middle' }, initials(c.name)),
        );
        n.who.append(m);
      });
    }
    for (const line of this.edges.values()) {
      const on = opts.here && ((line.dataset.a === opts.here && exits.has(line.dataset.b || '')) ||
        (line.dataset.b === opts.here && exits.has(line.dataset.a || '')));
      line.classList.toggle('route', !!on);
    }
    this.titleEl.textContent = `Map: ${[...this.nodes.keys()].length} places. ` +
      [...by.entries()].map(([loc, cs]) => `${this.nodeName(loc)}: ${cs.map((c) => c.name).join(', ')}`).join('. ');
  }

  /** @param {string} id */
  nodeName(id) {
    const n = this.nodes.get(id);
    return n ? (n.g.querySelector('title')?.textContent || id) : id;
  }
}
