/**
 * Renders taskpulse's state machines as Mermaid `stateDiagram-v2` and as JSON definitions (the
 * machine config with functions named, the same `definition` the Stately inspector receives).
 * Shared by `scripts/diagrams.ts`, `taskpulse machines` and the staleness test.
 *
 * Hand-written over the machine's state nodes rather than `toDirectedGraph` (xstate/graph), which
 * leaves out eventless (`always`) transitions; no maintained XState v5 → Mermaid converter exists.
 */
import type { AnyStateMachine, AnyStateNode } from 'xstate';
import { pluginSupervisorMachine } from '../machines/plugin-supervisor.machine.js';
import { statsHookMachine } from '../machines/stats-hook.machine.js';
import { taskRunnerMachine } from '../machines/task-runner.machine.js';

export interface NamedMachine {
  /** File name stem: `docs/machines/<name>.md`. */
  name: string;
  title: string;
  machine: AnyStateMachine;
}

export const MACHINES: readonly NamedMachine[] = [
  { name: 'task-runner', title: 'Task runner', machine: taskRunnerMachine },
  { name: 'stats-hook', title: 'Stats hook', machine: statsHookMachine },
  { name: 'plugin-supervisor', title: 'Plugin supervisor', machine: pluginSupervisorMachine },
];

interface TransitionLike {
  target?: readonly AnyStateNode[] | undefined;
  guard?: unknown;
  eventType: string;
}

/** The Mermaid id of a state: its path below the root, joined by `_`. */
const mermaidId = (node: AnyStateNode) => node.path.join('_');

function guardName(guard: unknown): string | undefined {
  if (guard === undefined) return undefined;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') return guard.name || 'guard';
  if (typeof guard === 'object' && guard !== null && 'type' in guard) return String(guard.type);
  return 'guard';
}

/** A readable label for XState's internal event types (invoke done/error, delays, eventless). */
function eventLabel(node: AnyStateNode, eventType: string): string {
  const invoked = (prefix: string) => {
    const id = eventType.slice(prefix.length);
    const invoke = node.invoke.find((definition) => definition.id === id);
    return typeof invoke?.src === 'string' ? invoke.src : 'invoke';
  };
  if (eventType.startsWith('xstate.done.actor.')) return `done ${invoked('xstate.done.actor.')}`;
  if (eventType.startsWith('xstate.error.actor.')) return `error ${invoked('xstate.error.actor.')}`;
  if (eventType.startsWith('xstate.after.')) {
    const delay = eventType.slice('xstate.after.'.length).split('.')[0] ?? '';
    return `after ${delay}`;
  }
  return eventType;
}

function transitionsOf(node: AnyStateNode): { label: string; target: AnyStateNode }[] {
  const all: TransitionLike[] = [...node.transitions.values()].flat();
  all.push(...((node.always ?? []) as TransitionLike[]));
  return all.flatMap((transition) => {
    const guard = guardName(transition.guard);
    const event = eventLabel(node, transition.eventType);
    const label = [event, guard ? `[${guard}]` : ''].filter(Boolean).join(' ');
    // Targetless transitions only run actions: the state does not change, so no arrow.
    return (transition.target ?? []).map((target) => ({ label, target }));
  });
}

function renderNode(node: AnyStateNode, indent: string, lines: string[]): void {
  const children = Object.values(node.states) as AnyStateNode[];
  const initial = node.initial?.target?.[0] as AnyStateNode | undefined;
  if (initial) lines.push(`${indent}[*] --> ${mermaidId(initial)}`);
  for (const child of children) {
    const id = mermaidId(child);
    if (id !== child.key) lines.push(`${indent}state "${child.key}" as ${id}`);
    if (Object.keys(child.states).length > 0) {
      lines.push(`${indent}state ${id} {`);
      renderNode(child, `${indent}  `, lines);
      lines.push(`${indent}}`);
    }
  }
  // The root cannot be an arrow's source: its transitions (`on` at the machine level) apply in every
  // top-level state, so they are drawn from each non-final one.
  const inherited = node.parent === undefined ? transitionsOf(node) : [];
  for (const child of children) {
    const own = transitionsOf(child);
    const fromRoot = child.type === 'final' ? [] : inherited;
    for (const { label, target } of [...own, ...fromRoot]) {
      lines.push(`${indent}${mermaidId(child)} --> ${mermaidId(target)}${label ? ` : ${label}` : ''}`);
    }
    if (child.type === 'final') lines.push(`${indent}${mermaidId(child)} --> [*]`);
  }
}

/** The machine as a Mermaid `stateDiagram-v2`. */
export function toMermaid(machine: AnyStateMachine): string {
  const lines = ['stateDiagram-v2'];
  renderNode(machine.root, '  ', lines);
  return `${lines.join('\n')}\n`;
}

/** The machine's config as JSON; functions become `{ "type": "<name>" }`, as the inspector sends them. */
export function toDefinitionJson(machine: AnyStateMachine): string {
  const json = JSON.stringify(
    machine.config,
    (_key, value: unknown) => (typeof value === 'function' ? { type: value.name || 'function' } : value),
    2,
  );
  return `${json}\n`;
}

/** `docs/machines/<name>.md`: a heading, the diagram, a pointer to the JSON. */
export function toMarkdown({ name, title, machine }: NamedMachine): string {
  return [
    `# ${title} machine (\`${machine.id}\`)`,
    '',
    '<!-- Generated by `npm run diagrams` from machines/. Do not edit by hand. -->',
    '',
    '```mermaid',
    toMermaid(machine).trimEnd(),
    '```',
    '',
    `The definition as JSON: [\`${name}.json\`](./${name}.json).`,
    '',
  ].join('\n');
}

/** Every generated file, by path relative to the repository root. */
export function renderMachineFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const entry of MACHINES) {
    files.set(`docs/machines/${entry.name}.md`, toMarkdown(entry));
    files.set(`docs/machines/${entry.name}.json`, toDefinitionJson(entry.machine));
  }
  return files;
}

/** A machine's top-level states and the transitions between them: what the web UI draws. */
export interface StateGraph {
  id: string;
  initial: string;
  states: { key: string; final: boolean }[];
  /** Between top-level states; a nested state's transitions count as its top-level ancestor's. */
  edges: { from: string; to: string; label: string }[];
}

const topLevelKey = (node: AnyStateNode) => node.path[0] ?? node.key;

/** The machine as a graph of its top-level states (nested states folded into their parent). */
export function toStateGraph(machine: AnyStateMachine): StateGraph {
  const tops = Object.values(machine.root.states) as AnyStateNode[];
  const seen = new Set<string>();
  const edges: StateGraph['edges'] = [];
  const add = (from: string, to: string, label: string) => {
    const key = `${from}\u0000${to}\u0000${label}`;
    if (seen.has(key)) return;
    seen.add(key);
    edges.push({ from, to, label });
  };
  const walk = (node: AnyStateNode) => {
    for (const { label, target } of transitionsOf(node)) {
      const [from, to] = [topLevelKey(node), topLevelKey(target)];
      // A step between two sub-states of one top-level state is not a change the UI shows.
      if (from !== to || node.parent === machine.root) add(from, to, label);
    }
    for (const child of Object.values(node.states) as AnyStateNode[]) walk(child);
  };
  for (const top of tops) walk(top);
  for (const { label, target } of transitionsOf(machine.root)) {
    for (const top of tops) if (top.type !== 'final') add(top.key, topLevelKey(target), label);
  }
  const initial = machine.root.initial?.target?.[0] as AnyStateNode | undefined;
  return {
    id: machine.id,
    initial: initial ? topLevelKey(initial) : (tops[0]?.key ?? ''),
    states: tops.map((top) => ({ key: top.key, final: top.type === 'final' })),
    edges,
  };
}
