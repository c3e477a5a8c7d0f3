/**
 * Which states and transitions of a production machine a live actor really went through, read from
 * XState's inspection events (`@xstate.microstep` lists the transitions each microstep took, eventless
 * ones included). Pass `inspect` to the runtime under test, run the generated paths, then ask for
 * what was never visited.
 */
import type {
  AnyMachineSnapshot,
  AnyStateMachine,
  AnyStateNode,
  AnyTransitionDefinition,
  InspectionEvent,
} from 'xstate';
import { transitionKey } from './derive-test-machine.js';

export interface MachineCoverage {
  /** An inspection observer: give it to `createActor(…, { inspect })` or the runtime's `inspect` option. */
  inspect(event: InspectionEvent): void;
  /** Every state node id and every transition key of the machine, with what was never visited. */
  report(): CoverageReport;
}

export interface CoverageReport {
  states: { total: number; missing: string[] };
  transitions: { total: number; missing: string[] };
  /** A readable summary, listing what is missing. */
  text: string;
}

function allNodes(node: AnyStateNode): AnyStateNode[] {
  return [node, ...Object.values(node.states).flatMap(allNodes)];
}

function allTransitions(node: AnyStateNode): AnyTransitionDefinition[] {
  return [...[...node.transitions.values()].flat(), ...(node.always ?? [])];
}

/** `retrying —error:openStats[2]→ backoff`: a transition as a person reads it. */
export function describeTransition(transition: AnyTransitionDefinition): string {
  const source = transition.source;
  let event = transition.eventType === '' ? 'always' : transition.eventType;
  for (const invoke of source.invoke) {
    const src = typeof invoke.src === 'string' ? invoke.src : invoke.id;
    event = event.replace(`xstate.done.actor.${invoke.id}`, `done:${src}`);
    event = event.replace(`xstate.error.actor.${invoke.id}`, `error:${src}`);
  }
  const delayed = source.after.find((t: AnyTransitionDefinition) => t.eventType === transition.eventType);
  if (delayed) event = `after:${String(delayed.delay)}`;
  const index = transitionKey(transition).split('|').pop();
  const targets = transition.target?.map((t: AnyStateNode) => t.id).join(', ') ?? '(stays)';
  return `${source.id} —${event}[${index}]→ ${targets}`;
}

export function createMachineCoverage(machine: AnyStateMachine): MachineCoverage {
  const nodes = allNodes(machine.root);
  const transitions = new Map<string, AnyTransitionDefinition>();
  for (const node of nodes) for (const t of allTransitions(node)) transitions.set(transitionKey(t), t);
  const seenStates = new Set<string>();
  const seenTransitions = new Set<string>();

  const isOurs = (event: InspectionEvent) => {
    const logic = (event.actorRef as { logic?: { id?: unknown } }).logic;
    return logic?.id === machine.id;
  };
  const visit = (snapshot: unknown) => {
    for (const node of (snapshot as AnyMachineSnapshot)._nodes ?? []) seenStates.add(node.id);
  };

  return {
    inspect(event) {
      if (!isOurs(event)) return;
      if (event.type === '@xstate.snapshot') visit(event.snapshot);
      if (event.type === '@xstate.microstep') {
        visit(event.snapshot);
        for (const t of event._transitions) seenTransitions.add(transitionKey(t));
      }
    },
    report() {
      const missingStates = nodes.map((n) => n.id).filter((id) => !seenStates.has(id));
      const missingTransitions = [...transitions.entries()]
        .filter(([key]) => !seenTransitions.has(key))
        .map(([, t]) => describeTransition(t));
      const visitedStates = nodes.length - missingStates.length;
      const visitedTransitions = transitions.size - missingTransitions.length;
      const lines = [
        `${machine.id}: ${visitedStates}/${nodes.length} states, ${visitedTransitions}/${transitions.size} transitions visited`,
        ...missingStates.map((id) => `  state never visited: ${id}`),
        ...missingTransitions.map((t) => `  transition never taken: ${t}`),
      ];
      return {
        states: { total: nodes.length, missing: missingStates },
        transitions: { total: transitions.size, missing: missingTransitions },
        text: lines.join('\n'),
      };
    },
  };
}
