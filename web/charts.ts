/**
 * A task's CPU and memory charts (uPlot, bundled). Points are kept for every task; a chart is only
 * created once its card scrolls into view and only redrawn while visible, at most once a frame, so
 * 200 tasks on one page stay cheap.
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { SamplePoint } from '../src/agent/ui/live-state.js';
import { clock, formatBytes } from './dom.js';

export interface Series {
  times: number[];
  cpu: (number | null)[];
  memory: (number | null)[];
}

export const emptySeries = (): Series => ({ times: [], cpu: [], memory: [] });

export function addPoints(series: Series, points: readonly SamplePoint[], windowMs: number): void {
  for (const [time, cpu, memory] of points) {
    series.times.push(time / 1000);
    series.cpu.push(cpu);
    series.memory.push(memory);
  }
  const oldest = (points.at(-1)?.[0] ?? 0) / 1000 - windowMs / 1000;
  let drop = 0;
  while (drop < series.times.length && (series.times[drop] ?? 0) < oldest) drop++;
  if (drop > 0) {
    series.times.splice(0, drop);
    series.cpu.splice(0, drop);
    series.memory.splice(0, drop);
  }
}

const WIDTH = 300;
const HEIGHT = 110;

function chart(target: HTMLElement, label: string, stroke: string, format: (value: number) => string): uPlot {
  return new uPlot(
    {
      width: WIDTH,
      height: HEIGHT,
      legend: { show: false },
      cursor: { show: false },
      series: [{}, { label, stroke, width: 1.5, fill: `${stroke}22`, spanGaps: false }],
      axes: [
        {
          size: 24,
          stroke: '#667',
          grid: { stroke: '#eee' },
          ticks: { show: false },
          values: (_u, values) => values.map((seconds) => clock(seconds * 1000)),
        },
        { size: 72, stroke: '#667', grid: { stroke: '#eee' }, values: (_u, values) => values.map(format) },
      ],
      scales: { y: { range: (_u, _min, max) => [0, Math.max(max, 1)] } },
    },
    [[], []],
    target,
  );
}

export interface TaskCharts {
  /** Redraws (when the charts exist and are in view) on the next frame. */
  update(): void;
}

/** Draws waiting for a frame; a frame spends at most FRAME_BUDGET_MS on them, the rest wait for the next. */
const pending = new Set<() => void>();
const FRAME_BUDGET_MS = 8;
let frame = 0;
const runPending = () => {
  frame = 0;
  const start = performance.now();
  for (const draw of pending) {
    pending.delete(draw);
    draw();
    if (performance.now() - start > FRAME_BUDGET_MS) break;
  }
  if (pending.size > 0) frame = requestAnimationFrame(runPending);
};
const schedule = (draw: () => void) => {
  pending.add(draw);
  if (frame === 0) frame = requestAnimationFrame(runPending);
};

const observer = new IntersectionObserver((entries) => {
  for (const entry of entries) visibility.get(entry.target)?.(entry.isIntersecting);
});
const visibility = new WeakMap<Element, (visible: boolean) => void>();

export function taskCharts(cpuTarget: HTMLElement, memoryTarget: HTMLElement, series: Series): TaskCharts {
  let plots: [uPlot, uPlot] | undefined;
  let visible = false;
  const draw = () => {
    if (!visible) return;
    plots ??= [
      chart(cpuTarget, 'CPU %', '#2f6fde', (value) => `${value.toFixed(value < 10 ? 1 : 0)}%`),
      chart(memoryTarget, 'memory', '#1b9e5a', (value) => formatBytes(value)),
    ];
    plots[0].setData([series.times, series.cpu]);
    plots[1].setData([series.times, series.memory]);
  };
  visibility.set(cpuTarget, (isVisible) => {
    visible = isVisible;
    if (visible) schedule(draw);
  });
  observer.observe(cpuTarget);
  return {
    update() {
      // Read by the browser tests and handy in devtools: how many points the charts hold.
      cpuTarget.dataset.points = String(series.times.length);
      if (visible) schedule(draw);
    },
  };
}
