/**
 * A `createTestModel` model of a production machine (see `derive-test-machine.ts`) with readable
 * paths: every model event carries a `variant` label, and a model state is named by its state value,
 * the event that led to it and the transition that event took, so self-transitions and each guarded
 * branch are states of their own and get paths of their own.
 */
import {
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type EventObject,
  initialTransition,
  transition,
} from 'xstate';
import {
  type AdjacencyMap,
  createTestModel,
  getAdjacencyMap,
  type StatePath,
  type TestModel,
} from 'xstate/graph';
import { type DerivedEvent, deriveTestMachine, TRANSITION_MARKER } from './derive-test-machine.js';

/** One payload of a model event; `variant` names it in paths and failure messages. */
export type EventVariant = { variant: string } & Record<string, unknown>;

export interface MachineTestModelOptions {
  /** The production machine's input. */
  input?: unknown;
  /**
   * Payload variants by event key (`error:openStats`, `done:waitTask`, `stats.failed`, …), so guards
   * that read the payload see every case. Keys without variants get one plain event (for `error:*`, a
   * generic `Error`).
   */
  variants?: Record<string, EventVariant[]>;
  /**
   * The part of the context that decides guards (a counter bounded by a policy, a flag), added to
   * state names so states that differ only there are explored separately. Keep it small and bounded.
   */
  serializeContext?: (context: never) => unknown;
}

export type ModelEvent = EventObject & { variant?: string } & Record<string, unknown>;
export type ModelSnapshot = AnyMachineSnapshot;
export type ModelPath = StatePath<ModelSnapshot, ModelEvent>;
/** Drives the system under test for one model event; `before` is the model state the event is sent in. */
export type EventExecutor = (event: ModelEvent, before: ModelSnapshot) => Promise<void> | void;

export interface MachineTestModel {
  model: TestModel<ModelSnapshot, ModelEvent, unknown>;
  derived: AnyStateMachine;
  /** Every event of the derived machine, by type. */
  events: Map<string, DerivedEvent>;
  /** All model events with their payload variants. */
  eventVariants: ModelEvent[];
  /** The key a test names an event by (`done:openStats`, `after:retryDelay`, `exited`). */
  keyOf(event: EventObject): string;
  /** `error:openStats(not-implemented)`. */
  describeEvent(event: EventObject): string;
  serializeState(state: ModelSnapshot, event?: ModelEvent, previous?: ModelSnapshot): string;
  /** Shortest paths to every model state (prefixes of longer paths removed). */
  shortestPaths(): ModelPath[];
  /**
   * One path per edge of the model (each event variant from each model state, self-transitions
   * included): the shortest path to the edge's source, then the edge. Paths that are prefixes of
   * others are dropped. Returns the paths and the number of edges they cover.
   */
  transitionPaths(): { paths: ModelPath[]; edgeCount: number };
  /**
   * Runs a path: `executors` are keyed like `keyOf` (plus `xstate.init` for the start); `check` runs
   * after every step with the model state the system must now be in. Fails (listing them) if some
   * event of the machine has no executor; a failure names the path and the step that failed.
   */
  run(
    path: ModelPath,
    executors: Record<string, EventExecutor>,
    check: (state: ModelSnapshot) => Promise<void> | void,
  ): Promise<void>;
}

const isFinal = (state: ModelSnapshot) => state.status === 'done';

export function createMachineTestModel(
  machine: AnyStateMachine,
  options: MachineTestModelOptions = {},
): MachineTestModel {
  const { machine: derived, events } = deriveTestMachine(machine);
  const project = options.serializeContext as ((context: unknown) => unknown) | undefined;

  const eventVariants: ModelEvent[] = [...events.values()].flatMap((event) => {
    const variants = options.variants?.[event.key];
    if (variants?.length) return variants.map((variant) => ({ ...variant, type: event.type }));
    if (event.kind === 'error') {
      return [{ type: event.type, variant: 'error', error: new Error(`model: ${event.name} failed`) }];
    }
    return [{ type: event.type }];
  });

  const keyOf = (event: EventObject) => events.get(event.type)?.key ?? event.type;
  const describeEvent = (event: EventObject) => {
    if (event.type === 'xstate.init') return 'init';
    const { variant } = event as ModelEvent;
    return variant === undefined ? keyOf(event) : `${keyOf(event)}(${variant})`;
  };

  // Which transitions an event took from a state: the marker actions it would execute, in order.
  const takenCache = new WeakMap<ModelSnapshot, Map<EventObject, string>>();
  const taken = (previous: ModelSnapshot, event: EventObject): string => {
    let byEvent = takenCache.get(previous);
    if (!byEvent) {
      byEvent = new Map();
      takenCache.set(previous, byEvent);
    }
    let keys = byEvent.get(event);
    if (keys === undefined) {
      const [, actions] = transition(derived, previous, event);
      keys = (actions as { type: string; params?: unknown }[])
        .filter((action) => action.type === TRANSITION_MARKER)
        .map((action) => (action.params as { key: string }).key)
        .join(' + ');
      byEvent.set(event, keys);
    }
    return keys;
  };

  const serializeState = (state: ModelSnapshot, event?: ModelEvent, previous?: ModelSnapshot) => {
    const value = JSON.stringify(state.value);
    const context = project ? ` ${JSON.stringify(project(state.context))}` : '';
    if (!event || !previous || event.type === 'xstate.init') return `${value}${context}`;
    return `${value}${context} ⟵ ${describeEvent(event)} [${taken(previous, event)}]`;
  };

  const model = createTestModel(derived, {
    events: eventVariants,
    serializeState: serializeState as never,
    serializeEvent: describeEvent as never,
    stopWhen: isFinal,
  }) as unknown as TestModel<ModelSnapshot, ModelEvent, unknown>;
  const traversal = { input: options.input, stopWhen: isFinal };

  /** The model state a path ends in, named as the traversal names it. */
  const keyOfPath = (path: ModelPath): string => {
    const last = path.steps.length - 1;
    return serializeState(path.steps[last]!.state, path.steps[last]!.event, path.steps[last - 1]?.state);
  };

  return {
    model,
    derived,
    events,
    eventVariants,
    keyOf,
    describeEvent,
    serializeState,
    shortestPaths: () => model.getShortestPaths(traversal),
    transitionPaths() {
      // Every edge of the model: the shortest path to its source state, then that edge. (Enumerating
      // all simple paths instead explodes: a model state per event variant gives factorially many.)
      const toState = new Map<string, ModelPath>();
      for (const path of model.getShortestPaths({ ...traversal, allowDuplicatePaths: true })) {
        toState.set(keyOfPath(path), path);
      }
      // The model's own options: its `events` offers each state only the events it handles.
      const adjacency = getAdjacencyMap(model.testLogic, { ...model.options, ...traversal }) as AdjacencyMap<
        ModelSnapshot,
        ModelEvent
      >;
      const paths: ModelPath[] = [];
      for (const [source, { transitions }] of Object.entries(adjacency)) {
        const head = toState.get(source);
        if (!head || isFinal(head.state)) continue;
        const edges = Object.values(transitions) as { event: ModelEvent; state: ModelSnapshot }[];
        for (const { event, state } of edges) {
          paths.push({ state, steps: [...head.steps, { state, event }], weight: head.weight + 1 });
        }
      }
      return { paths: withoutPrefixes(paths, describeEvent), edgeCount: paths.length };
    },
    async run(path, executors, check) {
      const missing = [...events.values()].filter((event) => !executors[event.key]).map((event) => event.key);
      if (missing.length > 0) {
        throw new Error(`no executor for model event(s): ${[...new Set(missing)].join(', ')}`);
      }
      // The snapshots stored in a path may come from another path that reached a state of the same
      // name with a different context (counters are not part of the name), so the model states are
      // replayed from the path's events: what a step checks is what this very path leads to.
      let [state] = initialTransition(derived, options.input);
      const lines: string[] = [];
      for (const [index, step] of path.steps.entries()) {
        const isStart = index === 0;
        const next = isStart ? state : transition(derived, state, step.event)[0];
        lines.push(`  ${describeEvent(step.event)} → ${JSON.stringify(next.value)}`);
        try {
          await executors[isStart ? 'xstate.init' : keyOf(step.event)]?.(step.event, state);
          state = next;
          await check(state);
        } catch (error) {
          const remaining = path.steps.slice(index + 1).map((s) => `  ${describeEvent(s.event)}`);
          const where = [...lines.slice(0, -1), `${lines.at(-1)}   ✗ failed here`, ...remaining].join('\n');
          if (error instanceof Error) error.message += `\nPath (event → model state):\n${where}`;
          throw error;
        }
      }
    },
  };
}

/** Drops paths whose event sequence starts another path's (running the longer one tests both). */
function withoutPrefixes(paths: ModelPath[], describe: (event: EventObject) => string): ModelPath[] {
  const named = paths
    .map((path) => ({ path, events: path.steps.map((step) => describe(step.event)) }))
    .sort((a, b) => b.events.length - a.events.length);
  const kept: typeof named = [];
  for (const candidate of named) {
    const isPrefix = kept.some((longer) => candidate.events.every((event, i) => longer.events[i] === event));
    if (!isPrefix) kept.push(candidate);
  }
  return kept.map(({ path }) => path);
}

/** `init → error:openStats(other) → after:retryDelay → …`: a path as a test name. */
export function describePath(testModel: MachineTestModel, path: ModelPath): string {
  return path.steps.map((step) => testModel.describeEvent(step.event)).join(' → ');
}
