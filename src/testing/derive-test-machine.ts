/**
 * Turns a production machine into one `createTestModel` accepts. `xstate/graph` refuses `invoke` and
 * `after`, so each of them becomes a plain event of the state that owned it, with the very transitions
 * (targets, guards, actions) the machine already declares for it:
 *
 * - an invoked actor's outcome: `xstate.done.actor.<id>` / `xstate.error.actor.<id>` (XState's own
 *   event types, so the `onDone`/`onError` guards read `event.output` / `event.error` as they do live);
 * - a delayed transition: `xstate.after.<delay>.<state id>`;
 * - events a callback actor sends back (`stats.sample`, …) are already `on` events of its state.
 *
 * Nothing is copied by hand: the derived machine is rebuilt from `machine.root` every time, so a state
 * or transition added to the production machine changes the model. Every transition also gets a
 * no-op marker action naming it, so the model can tell which guarded branch an event took.
 */
import {
  type AnyStateMachine,
  type AnyStateNode,
  type AnyTransitionDefinition,
  createMachine,
  type MachineImplementationsSimplified,
} from 'xstate';

/** The marker action added to every derived transition; its params carry the transition's key. */
export const TRANSITION_MARKER = 'xstate-model.transition';

/** Where a model event comes from in the production machine. */
export type DerivedEventKind = 'event' | 'done' | 'error' | 'after' | 'state-done';

export interface DerivedEvent {
  /** The event type in the derived machine (and in the live actor). */
  type: string;
  kind: DerivedEventKind;
  /**
   * What a test names it by: the event type for `event`; the invoked actor's `src` for `done`/`error`;
   * the delay's name (or number) for `after`.
   */
  name: string;
  /** `done:openStats`, `error:openStats`, `after:openTimeout`, or the plain event type. */
  key: string;
  /** The id of the state node that owns it. */
  stateId: string;
}

export interface DerivedTestMachine {
  machine: AnyStateMachine;
  /** Every event the model can take, by type. */
  events: Map<string, DerivedEvent>;
}

type Config = Record<string, unknown>;

/** A stable name for a transition of a machine: `<source id>|<event type or "always">|<branch index>`. */
export function transitionKey(transition: AnyTransitionDefinition): string {
  const source = transition.source;
  const branches = transition.eventType === '' ? source.always : source.transitions.get(transition.eventType);
  const index = branches?.indexOf(transition) ?? -1;
  return `${source.id}|${transition.eventType === '' ? 'always' : transition.eventType}|${index}`;
}

function classify(node: AnyStateNode, eventType: string): DerivedEvent {
  for (const invoke of node.invoke) {
    const src = typeof invoke.src === 'string' ? invoke.src : invoke.id;
    if (eventType === `xstate.done.actor.${invoke.id}`) {
      return { type: eventType, kind: 'done', name: src, key: `done:${src}`, stateId: node.id };
    }
    if (eventType === `xstate.error.actor.${invoke.id}`) {
      return { type: eventType, kind: 'error', name: src, key: `error:${src}`, stateId: node.id };
    }
  }
  for (const delayed of node.after) {
    if (delayed.eventType === eventType) {
      const name = String(delayed.delay);
      return { type: eventType, kind: 'after', name, key: `after:${name}`, stateId: node.id };
    }
  }
  if (eventType.startsWith('xstate.done.state.')) {
    return { type: eventType, kind: 'state-done', name: eventType, key: eventType, stateId: node.id };
  }
  return { type: eventType, kind: 'event', name: eventType, key: eventType, stateId: node.id };
}

function deriveTransition(transition: AnyTransitionDefinition): Config {
  const derived: Config = {
    actions: [{ type: TRANSITION_MARKER, params: { key: transitionKey(transition) } }, ...transition.actions],
    reenter: transition.reenter,
  };
  if (transition.target?.length) derived.target = transition.target.map((node) => `#${node.id}`);
  if (transition.guard !== undefined) derived.guard = transition.guard;
  return derived;
}

function deriveNode(node: AnyStateNode, events: Map<string, DerivedEvent>): Config {
  const { config } = node;
  const on: Config = {};
  for (const [eventType, branches] of node.transitions) {
    if (!eventType.startsWith('xstate.done.state.')) {
      // `xstate.done.state.*` is raised by the derived machine itself when a child state finishes.
      const event = classify(node, eventType);
      const known = events.get(eventType);
      if (!known || known.kind === 'event') events.set(eventType, event);
    }
    on[eventType] = branches.map(deriveTransition);
  }
  const derived: Config = { on };
  for (const field of [
    'type',
    'initial',
    'entry',
    'exit',
    'output',
    'tags',
    'meta',
    'description',
    'history',
  ]) {
    if (config[field as keyof typeof config] !== undefined)
      derived[field] = config[field as keyof typeof config];
  }
  if (config.id !== undefined) derived.id = config.id;
  if (node.always?.length) derived.always = node.always.map(deriveTransition);
  const children = Object.entries(node.states);
  if (children.length > 0) {
    derived.states = Object.fromEntries(children.map(([key, child]) => [key, deriveNode(child, events)]));
  }
  return derived;
}

/**
 * Effects become no-ops (the model has nothing to act on); XState's own built-in actions stay, so
 * `assign` keeps the context that guards and delays read.
 */
function modelActions(machine: AnyStateMachine): Record<string, unknown> {
  const kept = new Set(['xstate.assign', 'xstate.raise', 'xstate.enqueueActions']);
  const actions: Record<string, unknown> = { [TRANSITION_MARKER]: () => {} };
  for (const [name, action] of Object.entries(machine.implementations.actions ?? {})) {
    const builtin =
      typeof action === 'function' &&
      'resolve' in action &&
      kept.has(String((action as { type?: unknown }).type));
    actions[name] = builtin ? action : () => {};
  }
  return actions;
}

/** Builds the invoke-free, delay-free twin of `machine` and lists the events it takes. */
export function deriveTestMachine(machine: AnyStateMachine): DerivedTestMachine {
  const events = new Map<string, DerivedEvent>();
  const root = deriveNode(machine.root, events);
  const config: Config = { ...root, id: machine.id, context: machine.config.context };
  if (machine.config.output !== undefined) config.output = machine.config.output;
  const implementations = {
    actions: modelActions(machine),
    guards: machine.implementations.guards,
  } as MachineImplementationsSimplified<never, never>;
  const derived = createMachine(config as never, implementations as never) as AnyStateMachine;
  return { machine: derived, events };
}
