/**
 * The agent's web UI: jobs → allocations → tasks, each task with its state, restarts, exit code,
 * uptime, recent events, live CPU and memory charts, and its two machines (task runner, stats hook)
 * drawn with the current state highlighted and the last transitions listed. Everything arrives on
 * one stream (stream.ts); the DOM is built once per snapshot and then patched per message.
 */
import type {
  LiveMessage,
  LiveSnapshot,
  MachineName,
  TaskView,
  Transition,
} from '../src/agent/ui/live-state.js';
import { addPoints, emptySeries, type Series, type TaskCharts, taskCharts } from './charts.js';
import { type Diagram, drawDiagram } from './diagram.js';
import { clock, formatBytes, formatDuration, h } from './dom.js';
import { connect, storeToken } from './stream.js';
import './style.css';

const MACHINE_TITLES: Record<MachineName, string> = { runner: 'task runner', hook: 'stats hook' };
const SHOWN_EVENTS = 5;
const SHOWN_TRANSITIONS = 5;

interface TaskCard {
  view: TaskView;
  allocId: string;
  series: Series;
  charts: TaskCharts;
  fields: Record<'state' | 'restarts' | 'exit' | 'uptime' | 'cpu' | 'memory', HTMLElement>;
  events: HTMLOListElement;
  diagrams: Record<MachineName, { diagram: Diagram; list: HTMLOListElement; transitions: Transition[] }>;
}

const jobsRoot = document.getElementById('jobs')!;
const connection = document.getElementById('connection')!;
const tokenForm = document.getElementById('token-form') as HTMLFormElement;
const tokenInput = document.getElementById('token-input') as HTMLInputElement;
const tokenError = document.getElementById('token-error')!;

let windowMs = 10 * 60_000;
const cards = new Map<string, TaskCard>();
const allocTotals = new Map<string, { element: HTMLElement; tasks: TaskCard[] }>();

const fieldCell = (label: string) => {
  const value = h('dd', {}, '–');
  return { value, nodes: [h('dt', {}, label), value] };
};

function eventItem(event: TaskView['events'][number]) {
  return h(
    'li',
    {},
    h('time', {}, clock(event.time)),
    ` ${event.type}`,
    event.message ? `: ${event.message}` : '',
  );
}

function transitionItem(transition: Transition) {
  return h(
    'li',
    {},
    h('time', {}, clock(transition.time)),
    ` ${transition.from || '·'} → `,
    h('strong', {}, transition.to),
    h('span', { class: 'event' }, ` ${transition.event}`),
  );
}

/** Touches the DOM only when the text changes: most updates leave most figures as they were. */
function setText(element: HTMLElement, text: string) {
  if (element.textContent !== text) element.textContent = text;
}

function renderList<T>(list: HTMLOListElement, items: readonly T[], shown: number, item: (value: T) => Node) {
  list.replaceChildren(...items.slice(-shown).reverse().map(item));
}

function renderTaskFields(card: TaskCard) {
  const { view, fields } = card;
  setText(fields.state, view.failed && view.state === 'dead' ? 'dead (failed)' : view.state);
  fields.state.dataset.state = view.state;
  setText(fields.restarts, String(view.restarts));
  setText(
    fields.exit,
    view.exitCode !== null ? String(view.exitCode) : view.signal !== null ? view.signal : '–',
  );
  renderUptime(card);
}

function renderUptime(card: TaskCard) {
  const { view } = card;
  const live = view.state === 'running' || view.state === 'killing';
  setText(card.fields.uptime, live && view.startedAt ? formatDuration(Date.now() - view.startedAt) : '–');
}

function latestFigures(card: TaskCard) {
  const last = card.series.times.length - 1;
  const live = card.view.state === 'running' || card.view.state === 'killing';
  return {
    cpu: live && last >= 0 ? (card.series.cpu[last] ?? null) : null,
    memory: live && last >= 0 ? (card.series.memory[last] ?? null) : null,
  };
}

function renderFigures(card: TaskCard) {
  const { cpu, memory } = latestFigures(card);
  setText(card.fields.cpu, cpu === null ? '–' : `${cpu.toFixed(1)} %`);
  const limit = card.view.memoryLimitBytes;
  setText(
    card.fields.memory,
    memory === null ? '–' : `${formatBytes(memory)}${limit ? ` / ${formatBytes(limit)}` : ''}`,
  );
}

function renderTotals(allocId: string) {
  const totals = allocTotals.get(allocId);
  if (!totals) return;
  let cpu = 0;
  let memory = 0;
  let measured = 0;
  for (const card of totals.tasks) {
    const figures = latestFigures(card);
    if (figures.cpu !== null) cpu += figures.cpu;
    if (figures.memory !== null) memory += figures.memory;
    if (figures.cpu !== null || figures.memory !== null) measured++;
  }
  setText(
    totals.element,
    measured === 0 ? 'nothing running measured' : `CPU ${cpu.toFixed(1)} % · memory ${formatBytes(memory)}`,
  );
}

function taskCard(snapshot: LiveSnapshot, allocId: string, view: TaskView): [HTMLElement, TaskCard] {
  const cells = {
    state: fieldCell('state'),
    restarts: fieldCell('restarts'),
    exit: fieldCell('exit'),
    uptime: fieldCell('uptime'),
    cpu: fieldCell('CPU'),
    memory: fieldCell('memory'),
  };
  const cpuChart = h('div', { class: 'chart', 'data-chart': 'cpu' });
  const memoryChart = h('div', { class: 'chart', 'data-chart': 'memory' });
  const events = h('ol', { class: 'events' });
  const series = emptySeries();
  addPoints(series, view.samples, windowMs);
  const diagrams = {} as TaskCard['diagrams'];
  const machineSections = (['runner', 'hook'] as const).map((name) => {
    const diagram = drawDiagram(snapshot.machines[name]);
    const list = h('ol', { class: 'transitions' });
    const state = view.machines[name];
    diagram.show(state.state, state.transitions.at(-1)?.from);
    diagrams[name] = { diagram, list, transitions: [...state.transitions] };
    renderList(list, state.transitions, SHOWN_TRANSITIONS, transitionItem);
    return h(
      'section',
      { class: 'machine', 'data-machine': name },
      h('h4', {}, MACHINE_TITLES[name]),
      diagram.element,
      list,
    );
  });
  const card: TaskCard = {
    view,
    allocId,
    series,
    charts: taskCharts(cpuChart, memoryChart, series),
    fields: Object.fromEntries(
      Object.entries(cells).map(([key, cell]) => [key, cell.value]),
    ) as TaskCard['fields'],
    events,
    diagrams,
  };
  renderTaskFields(card);
  renderFigures(card);
  renderList(events, view.events, SHOWN_EVENTS, eventItem);
  card.charts.update();
  const element = h(
    'article',
    { class: 'task', 'data-task': view.id, 'data-name': view.name },
    h('h3', {}, view.name, h('span', { class: 'driver' }, view.driver)),
    h('dl', { class: 'fields' }, ...Object.values(cells).flatMap((cell) => cell.nodes)),
    h(
      'div',
      { class: 'charts' },
      h('figure', {}, h('figcaption', {}, 'CPU'), cpuChart),
      h('figure', {}, h('figcaption', {}, 'memory'), memoryChart),
    ),
    h('div', { class: 'machines' }, ...machineSections),
    h('details', { class: 'recent', open: '' }, h('summary', {}, 'recent events'), events),
  );
  return [element, card];
}

function renderSnapshot(snapshot: LiveSnapshot) {
  windowMs = snapshot.windowMs;
  cards.clear();
  allocTotals.clear();
  const jobs = new Map<string, HTMLElement>();
  const sections: HTMLElement[] = [];
  for (const alloc of snapshot.allocations) {
    let job = jobs.get(alloc.job);
    if (!job) {
      job = h('section', { class: 'job', 'data-job': alloc.job }, h('h2', {}, `job ${alloc.job}`));
      jobs.set(alloc.job, job);
      sections.push(job);
    }
    const totals = h('span', { class: 'totals' });
    const tasks = h('div', { class: 'tasks' });
    const entry = { element: totals, tasks: [] as TaskCard[] };
    allocTotals.set(alloc.id, entry);
    for (const view of alloc.tasks) {
      const [element, card] = taskCard(snapshot, alloc.id, view);
      cards.set(view.id, card);
      entry.tasks.push(card);
      tasks.append(element);
    }
    job.append(
      h(
        'section',
        { class: 'allocation', 'data-alloc': alloc.id },
        h('h3', { class: 'alloc-title' }, alloc.name, h('code', {}, alloc.id.slice(0, 8)), totals),
        tasks,
      ),
    );
    renderTotals(alloc.id);
  }
  jobsRoot.replaceChildren(...sections);
  if (sections.length === 0) jobsRoot.replaceChildren(h('p', { class: 'empty' }, 'no jobs'));
}

function applyUpdate(messages: LiveMessage[]) {
  const touched = new Set<TaskCard>();
  for (const message of messages) {
    const card = cards.get(message.kind === 'task' ? message.task.id : message.task);
    if (!card) continue;
    touched.add(card);
    switch (message.kind) {
      case 'task':
        Object.assign(card.view, message.task);
        renderTaskFields(card);
        break;
      case 'event':
        card.view.events.push(message.event);
        if (card.view.events.length > 10) card.view.events.shift();
        renderList(card.events, card.view.events, SHOWN_EVENTS, eventItem);
        break;
      case 'sample':
        addPoints(card.series, [message.point], windowMs);
        break;
      case 'machine': {
        const machine = card.diagrams[message.machine];
        machine.transitions.push(message.transition);
        if (machine.transitions.length > 10) machine.transitions.shift();
        machine.diagram.show(message.transition.to, message.transition.from);
        renderList(machine.list, machine.transitions, SHOWN_TRANSITIONS, transitionItem);
        break;
      }
    }
  }
  const allocs = new Set<string>();
  for (const card of touched) {
    card.charts.update();
    renderFigures(card);
    allocs.add(card.allocId);
  }
  for (const allocId of allocs) renderTotals(allocId);
}

const stream = connect({
  snapshot: renderSnapshot,
  update: applyUpdate,
  status(status, detail) {
    connection.dataset.status = status;
    connection.textContent = status === 'token' ? 'token needed' : detail ? `${status}: ${detail}` : status;
    tokenForm.hidden = status !== 'token';
    tokenError.textContent = status === 'token' && detail ? detail : '';
    if (status === 'token') tokenInput.focus();
  },
});

tokenForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const token = tokenInput.value.trim();
  if (!token) return;
  storeToken(token);
  tokenInput.value = '';
  stream.reconnect();
});

// Uptimes tick without a message.
window.setInterval(() => {
  for (const card of cards.values()) renderUptime(card);
}, 1000);
