/**
 * A machine drawn as an arc diagram: its top-level states in a row (in definition order), each
 * transition an arc, forward ones above and backward ones below, all of one pair's events in the
 * arc's tooltip. No layout library: the machines have a handful of states.
 */
import type { StateGraph } from '../src/machines-render.js';
import { svg } from './dom.js';

const BOX_H = 24;
const GAP = 14;
const CHAR_W = 7;

export interface Diagram {
  element: SVGSVGElement;
  /** Highlights `state`, and the arc `from → state` when given. */
  show(state: string, from?: string): void;
}

let diagrams = 0;

export function drawDiagram(graph: StateGraph): Diagram {
  const markerId = `arrow-${++diagrams}`;
  const xs = new Map<string, { x: number; w: number }>();
  let x = 4;
  for (const state of graph.states) {
    const w = state.key.length * CHAR_W + 16;
    xs.set(state.key, { x, w });
    x += w + GAP;
  }
  const width = x - GAP + 4;
  const pairs = new Map<string, { from: string; to: string; labels: string[] }>();
  for (const edge of graph.edges) {
    if (edge.from === edge.to) continue;
    const key = `${edge.from}>${edge.to}`;
    const pair = pairs.get(key) ?? { from: edge.from, to: edge.to, labels: [] };
    if (edge.label && !pair.labels.includes(edge.label)) pair.labels.push(edge.label);
    pairs.set(key, pair);
  }
  const centre = (key: string) => {
    const box = xs.get(key)!;
    return box.x + box.w / 2;
  };
  const span = Math.max(...graph.states.map((_, i) => i), 1);
  const rise = (from: string, to: string) => {
    const distance = Math.abs(
      graph.states.findIndex((s) => s.key === from) - graph.states.findIndex((s) => s.key === to),
    );
    return 10 + (distance / span) * 34;
  };
  const top = 48;
  const height = top + BOX_H + 48;
  // Drawn at its natural size (text at the page's scale); a narrow card scrolls it.
  const root = svg('svg', {
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    class: 'diagram',
    role: 'img',
  }) as SVGSVGElement;
  root.setAttribute('aria-label', `${graph.id} machine`);
  const defs = svg('defs');
  const marker = svg('marker', {
    id: markerId,
    viewBox: '0 0 8 8',
    refX: 7,
    refY: 4,
    markerWidth: 6,
    markerHeight: 6,
    orient: 'auto',
  });
  marker.append(svg('path', { d: 'M0,0 L8,4 L0,8 z', class: 'arrow-head' }));
  defs.append(marker);
  root.append(defs);

  const arcs = new Map<string, SVGElement>();
  for (const pair of pairs.values()) {
    const [x1, x2] = [centre(pair.from), centre(pair.to)];
    const forward = x2 > x1;
    const y = forward ? top : top + BOX_H;
    const peak = forward ? y - rise(pair.from, pair.to) * 2 : y + rise(pair.from, pair.to) * 2;
    const path = svg('path', {
      d: `M${x1 + (forward ? 4 : -4)},${y} Q${(x1 + x2) / 2},${peak} ${x2 + (forward ? -4 : 4)},${y}`,
      class: 'arc',
      'marker-end': `url(#${markerId})`,
    });
    const title = svg('title');
    title.textContent = `${pair.from} → ${pair.to}: ${pair.labels.join(', ') || '(always)'}`;
    path.append(title);
    root.append(path);
    arcs.set(`${pair.from}>${pair.to}`, path);
  }
  const boxes = new Map<string, SVGElement>();
  for (const state of graph.states) {
    const box = xs.get(state.key)!;
    const group = svg('g', { class: state.final ? 'state final' : 'state', 'data-state': state.key });
    group.append(svg('rect', { x: box.x, y: top, width: box.w, height: BOX_H, rx: state.final ? 2 : 10 }));
    const text = svg('text', { x: box.x + box.w / 2, y: top + BOX_H / 2 + 4, 'text-anchor': 'middle' });
    text.textContent = state.key;
    group.append(text);
    root.append(group);
    boxes.set(state.key, group);
  }

  let shown: Element[] = [];
  return {
    element: root,
    show(state, from) {
      for (const element of shown) element.classList.remove('current');
      shown = [boxes.get(state), from ? arcs.get(`${from}>${state}`) : undefined].filter(
        (element): element is SVGElement => element !== undefined,
      );
      for (const element of shown) element.classList.add('current');
      root.dataset.current = state;
    },
  };
}
