/** Every transition a machine declares, by the key the derived twin's markers use, with a readable name. */
import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate';
import { describeTransition } from '../../src/testing/coverage.js';
import { transitionKey } from '../../src/testing/derive-test-machine.js';

export function machineTransitions(machine: AnyStateMachine): Map<string, string> {
  const all = new Map<string, string>();
  const visit = (node: AnyStateNode) => {
    const transitions: AnyTransitionDefinition[] = [
      ...[...node.transitions.values()].flat(),
      ...(node.always ?? []),
    ];
    for (const t of transitions) all.set(transitionKey(t), describeTransition(t));
    for (const child of Object.values(node.states)) visit(child);
  };
  visit(machine.root);
  return all;
}
