import { expect, it } from 'vitest';
import { createActor, createMachine } from 'xstate';
import { createEffectsRegistry } from '../../src/runtime/effects-registry.js';

const machine = createMachine({ id: 'plain' });

it('finds the effects registered for an actor, and only for that actor', () => {
  const registry = createEffectsRegistry<{ name: string }>('test');
  const first = createActor(machine);
  const second = createActor(machine);
  registry.register(first, { name: 'first' });
  registry.register(second, { name: 'second' });
  expect(registry.of(first).name).toBe('first');
  expect(registry.of(second).name).toBe('second');
});

it('names the registry when an actor was never registered, or there is no actor', () => {
  const registry = createEffectsRegistry<object>('stats hook');
  expect(() => registry.of(createActor(machine))).toThrow('stats hook effects not registered for this actor');
  expect(() => registry.of(undefined)).toThrow('stats hook effects not registered for this actor');
});

it('keeps two registries apart on one actor, out of sight of JSON and of the actor keys', () => {
  const runner = createEffectsRegistry<string>('runner');
  const hook = createEffectsRegistry<string>('hook');
  const actor = createActor(machine);
  const keysBefore = Object.keys(actor);
  runner.register(actor, 'runner effects');
  hook.register(actor, 'hook effects');
  expect(runner.of(actor)).toBe('runner effects');
  expect(hook.of(actor)).toBe('hook effects');
  expect(Object.keys(actor)).toEqual(keysBefore);
});
