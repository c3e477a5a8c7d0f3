/**
 * What one pure XState step did, read from `transition()`'s action list: the effects a table row
 * speaks of (log levels, named effects with their params, actors started and stopped, timers set and
 * cancelled). Shared by the oracle suites of both machines.
 */
import type { AnyMachineSnapshot, AnyStateMachine, EventObject } from 'xstate';
import { initialTransition, transition } from 'xstate';
import { deriveTestMachine, TRANSITION_MARKER } from '../../src/testing/derive-test-machine.js';

export interface PureEffects {
  /** Named (non-built-in) actions in order, with their params. */
  named: { type: string; params: Record<string, unknown> }[];
  spawned: { src: string; input: unknown }[];
  stopped: number;
  timers: { id: string; delay: number }[];
  cancelled: string[];
}

type ActionLike = { type: string; params?: unknown };

export function effectsOf(actions: readonly unknown[]): PureEffects {
  const effects: PureEffects = { named: [], spawned: [], stopped: 0, timers: [], cancelled: [] };
  for (const action of actions as ActionLike[]) {
    const params = (action.params ?? {}) as Record<string, unknown>;
    switch (action.type) {
      case 'xstate.spawnChild':
        effects.spawned.push({ src: String(params.src), input: params.input });
        break;
      case 'xstate.stopChild':
        effects.stopped += 1;
        break;
      case 'xstate.raise':
        if (params.delay !== undefined)
          effects.timers.push({ id: String(params.id), delay: Number(params.delay) });
        break;
      case 'xstate.cancel':
        effects.cancelled.push(String(params.sendId));
        break;
      default:
        if (!action.type.startsWith('xstate.')) effects.named.push({ type: action.type, params });
    }
  }
  return effects;
}

/** The machine and its derived twin, stepped together: the twin names the transitions each step took. */
export function pureRunner(machine: AnyStateMachine, input: unknown) {
  const { machine: derived, events } = deriveTestMachine(machine);
  /**
   * The event type of a key. Two states invoking the same actor (`destroyTask` in the runner's
   * `exited` and `killFailed`) give one key two types: `snapshot` picks the one its state handles.
   */
  const typeOf = (key: string, snapshot?: AnyMachineSnapshot) => {
    const found = [...events.values()].filter((event) => event.key === key);
    if (found.length === 0) throw new Error(`the machine has no event "${key}" (no state handles it)`);
    const inState = (stateId: string) => snapshot?.matches(stateId.split('.').slice(1).join('.') as never);
    return (found.find((event) => inState(event.stateId)) ?? found[0]!).type;
  };
  const start = () => {
    const [snapshot, actions] = initialTransition(machine, input);
    const [twin] = initialTransition(derived, input);
    return { snapshot, twin, actions };
  };
  type Pair = ReturnType<typeof start>;
  const step = (pair: Pick<Pair, 'snapshot' | 'twin'>, event: EventObject) => {
    const [snapshot, actions] = transition(machine, pair.snapshot, event);
    const [twin, twinActions] = transition(derived, pair.twin, event);
    const taken = (twinActions as ActionLike[])
      .filter((action) => action.type === TRANSITION_MARKER)
      .map((action) => (action.params as { key: string }).key);
    return { snapshot, twin, actions, taken };
  };
  return { typeOf, start, step, events };
}
