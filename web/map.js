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
/** Markers of the people at a place: this many to a row, this far apart. */
const PER_ROW = 6;
const MARK_STEP = 22;

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
 * from a circle, so the same map always looks the same. The positions are
 * in the layout's own units; placeLabels fits them to the labels' sizes.
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
  // Fit into W×H, as a starting point for placeLabels.
  const xs = pos.map((p) => p.x);
  const ys = pos.map((p) => p.y);
  const minX = Math.min(...xs), maxX = Math.max(...xs);
  const minY = Math.min(...ys), maxY = Math.max(...ys);
  const sx = maxX > minX ? (W - 2 * PAD) / (maxX - minX) : 1;
  const sy = maxY > minY ? (H - 2 * PAD) / (maxY - minY) : 1;
  const out = new Map();
  locations.forEach((l, i) => {
    out.set(l.id, {
      // A nudge by index keeps two places that landed on one point apart.
      x: (maxX > minX ? PAD + (pos[i].x - minX) * sx : W / 2) + i * 1e-3,
      y: (maxY > minY ? PAD * 0.8 + (pos[i].y - minY) * sy : H / 2) + i * 7e-4,
    });
  });
  return out;
}

/** Space kept between any two places' boxes, and around the map. */
const GAP = 10;
const MARGIN = 8;

/**
 * A place's box, relative to its position: the label and, below it, the
 * band where the markers of the people there are drawn.
 * @typedef {{left: number, right: number, top: number, bottom: number}} Box
 */

/**
 * Moves the places apart until no two boxes overlap (with GAP between
 * them), keeping the layout's shape: each overlapping pair is pushed apart
 * along the axis where they overlap least; if that does not settle, the
 * whole map is spread out from its centre, which always ends it, since
 * the boxes keep their size. Returns the positions and the view box that
 * holds every box.
 * @param {Map<string, {x: number, y: number}>} start
 * @param {Map<string, Box>} boxes
 * @returns {{pos: Map<string, {x: number, y: number}>, view: {x: number, y: number, w: number, h: number}}}
 */
export function placeLabels(start, boxes) {
  const ids = [...start.keys()];
  const p = ids.map((id) => ({ .../** @type {{x: number, y: number}} */ (start.get(id)) }));
  const b = ids.map((id) => /** @type {Box} */ (boxes.get(id)));
  const n = ids.length;
  /** How far i and j overlap on x and y, GAP included (≤ 0: apart). */
  const overlap = (/** @type {number} */ i, /** @type {number} */ j) => {
    const ox = Math.min(p[i].x + b[i].right, p[j].x + b[j].right) - Math.max(p[i].x + b[i].left, p[j].x + b[j].left) + GAP;
    const oy = Math.min(p[i].y + b[i].bottom, p[j].y + b[j].bottom) - Math.max(p[i].y + b[i].top, p[j].y + b[j].top) + GAP;
    return [ox, oy];
  };
  for (let round = 0; round < 60; round++) {
    let clear = false;
    for (let pass = 0; pass < 60 && !clear; pass++) {
      clear = true;
      for (let i = 0; i < n; i++) {
        for (let j = i + 1; j < n; j++) {
          const [ox, oy] = overlap(i, j);
          if (ox <= 0 || oy <= 0) continue;
          clear = false;
          // Push along the shallower overlap, half each, a little more
          // than needed so the pair does not meet again at once.
          if (ox / (b[i].right - b[i].left + b[j].right - b[j].left) < oy / (b[i].bottom - b[i].top + b[j].bottom - b[j].top)) {
            const d = (ox / 2 + 0.5) * (p[i].x < p[j].x || (p[i].x === p[j].x && i < j) ? -1 : 1);
            p[i].x += d; p[j].x -= d;
          } else {
            const d = (oy / 2 + 0.5) * (p[i].y < p[j].y || (p[i].y === p[j].y && i < j) ? -1 : 1);
            p[i].y += d; p[j].y -= d;
          }
        }
      }
    }
    if (clear) break;
    // Pushes alone can cycle in a crowd: spread everything out a little.
    const cx = p.reduce((a, q) => a + q.x, 0) / n;
    const cy = p.reduce((a, q) => a + q.y, 0) / n;
    for (const q of p) { q.x = cx + (q.x - cx) * 1.15; q.y = cy + (q.y - cy) * 1.15; }
  }
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  p.forEach((q, i) => {
    minX = Math.min(minX, q.x + b[i].left); maxX = Math.max(maxX, q.x + b[i].right);
    minY = Math.min(minY, q.y + b[i].top); maxY = Math.max(maxY, q.y + b[i].bottom);
  });
  if (n === 0) { minX = 0; minY = 0; maxX = W; maxY = H; }
  // Not smaller than the usual map, so a small one is not drawn huge.
  const w = Math.max(maxX - minX + 2 * MARGIN, W * 0.75);
  const h = Math.max(maxY - minY + 2 * MARGIN, H * 0.6);
  const view = { x: (minX + maxX) / 2 - w / 2, y: (minY + maxY) / 2 - h / 2, w, h };
  return { pos: new Map(ids.map((id, i) => [id, p[i]])), view };
}

/** Longest label line, in characters; longer names wrap onto two lines. */
const LINE = 18;
const MAX_LINE = 26;
const LINE_HEIGHT = 15;
const LABEL_FONT = 12.5;

/**
 * Splits a place's name into at most two lines of about LINE characters,
 * at the space nearest the middle; a line still too long is cut with an
 * ellipsis (the full name is in the place's title).
 * @param {string} name
 * @returns {string[]}
 */
export function labelLines(name) {
  const cut = (/** @type {string} */ s) => (s.length > MAX_LINE ? `${s.slice(0, MAX_LINE - 1)}…` : s);
  if (name.length <= LINE) return [name];
  let best = -1;
  for (let i = 0; i < name.length; i++) {
    if (name[i] === ' ' && (best < 0 || Math.abs(i - name.length / 2) < Math.abs(best - name.length / 2))) best = i;
  }
  if (best < 0) return [cut(name)];
  return [cut(name.slice(0, best)), cut(name.slice(best + 1))];
}

/** @type {CanvasRenderingContext2D|null|undefined} */
let measureCtx;

/**
 * The width of a label line as the map draws it: measured with the map's
 * font where a canvas is at hand, else estimated generously.
 * @param {string} text
 */
function textWidth(text) {
  if (measureCtx === undefined) {
    measureCtx = typeof document !== 'undefined' ? document.createElement('canvas').getContext('2d') : null;
    if (measureCtx) {
      const fam = getComputedStyle(document.documentElement).getPropertyValue('--sans').trim() || 'sans-serif';
      measureCtx.font = `600 ${LABEL_FONT}px ${fam}`;
    }
  }
  if (measureCtx) return measureCtx.measureText(text).width;
  return text.length * LABEL_FONT * 0.62;
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
   * Each label gets room for the markers of up to cast people below it.
   * @param {{id: string, name: string, exits: string[]}[]} locations
   * @param {number} [cast] how many characters the story has
   */
  setWorld(locations, cast = 6) {
    const key = JSON.stringify([cast, locations.map((l) => [l.id, l.name, l.exits])]);
    if (key === this.key) return;
    this.key = key;
    this.edgesG.replaceChildren();
    this.nodesG.replaceChildren();
    this.nodes.clear();
    this.edges.clear();
    // Room for one row of markers (two for a large cast) under each label.
    const perPlace = Math.max(1, Math.min(cast, 2 * PER_ROW));
    const bandW = Math.min(perPlace, PER_ROW) * MARK_STEP + 4;
    const bandH = Math.ceil(perPlace / PER_ROW) * MARK_STEP + 4;
    /** @type {Map<string, {lines: string[], w: number, h: number}>} */
    const labels = new Map();
    /** @type {Map<string, Box>} */
    const boxes = new Map();
    for (const l of locations) {
      const lines = labelLines(l.name);
      const w = Math.max(72, Math.ceil(Math.max(...lines.map(textWidth)) * 1.08) + 24);
      const h = lines.length * LINE_HEIGHT + 16;
      labels.set(l.id, { lines, w, h });
      const half = Math.max(w, bandW) / 2;
      boxes.set(l.id, { left: -half, right: half, top: -h / 2, bottom: h / 2 + bandH });
    }
    const { pos, view } = placeLabels(layout(locations), boxes);
    this.svg.setAttribute('viewBox', `${view.x.toFixed(1)} ${view.y.toFixed(1)} ${view.w.toFixed(1)} ${view.h.toFixed(1)}`);
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
      const { lines, w, h } = /** @type {{lines: string[], w: number, h: number}} */ (labels.get(l.id));
      const g = /** @type {SVGGElement} */ (el('g', { class: 'loc', transform: `translate(${p.x},${p.y})` }));
      g.dataset.loc = l.id;
      const rect = /** @type {SVGRectElement} */ (el('rect', { x: -w / 2, y: -h / 2, width: w, height: h, rx: 10 }));
      const title = el('title', {}, l.name);
      const label = el('text', { class: 'loc-name', 'text-anchor': 'middle' });
      const first = -((lines.length - 1) * LINE_HEIGHT) / 2 + LABEL_FONT * 0.35;
      lines.forEach((text, i) => label.append(el('tspan', { x: 0, y: first + i * LINE_HEIGHT }, text)));
      const who = /** @type {SVGGElement} */ (el('g', { class: 'who' }));
      who.dataset.top = String(h / 2);
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
      const top = Number(n.who.dataset.top || 17);
      list.forEach((c, i) => {
        const row = Math.floor(i / PER_ROW);
        const inRow = Math.min(PER_ROW, list.length - row * PER_ROW);
        const col = i % PER_ROW;
        const x = (col - (inRow - 1) / 2) * MARK_STEP;
        const y = top + 13 + row * MARK_STEP;
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
