/**
 * The saved state's plugin reattach configs survive the round trip through state.json whole: the
 * start time is what tells the plugin from a later process that got its pid (issue 13).
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  type AgentState,
  parseState,
  type SavedPlugin,
  STATE_VERSION,
} from '../../src/agent/state/state-file.js';
import type { PluginReattachConfig } from '../../src/plugins/plugin-driver.js';

const PATH = '/data/state.json';

const state = (plugins: Record<string, unknown>) =>
  JSON.stringify({ version: STATE_VERSION, savedAt: 1, agent: { pid: 10 }, allocations: [], plugins });

const exec: PluginReattachConfig = {
  protocol: 'grpc',
  protocolVersion: 1,
  address: 'unix:/tmp/taskpulse-plugin-x/plugin.sock',
  pid: 4242,
  startTime: 987654,
};

describe('saved plugin reattach configs', () => {
  it('keep every field the plugin driver reads, the start time too', () => {
    expectTypeOf<SavedPlugin>().toEqualTypeOf<PluginReattachConfig>();
    const parsed: AgentState = parseState(state({ exec, 'plugin:m': { ...exec, pid: 4343 } }), PATH);
    expect(parsed.plugins).toEqual({ exec, 'plugin:m': { ...exec, pid: 4343 } });
    // And back: what the next agent writes is what it read.
    expect(parseState(JSON.stringify(parsed), PATH).plugins.exec).toEqual(exec);
  });

  it('a config saved without a start time (an older agent) still reads', () => {
    const { startTime: _, ...old } = exec;
    expect(parseState(state({ exec: old }), PATH).plugins.exec).toEqual(old);
  });

  it.each([
    ['a start time that is not a tick count', { ...exec, startTime: -1 }, 'plugins.exec.startTime'],
    ['a start time of the wrong type', { ...exec, startTime: '987654' }, 'plugins.exec.startTime'],
    ['no pid', { ...exec, pid: undefined }, 'plugins.exec.pid'],
  ])('%s is a corrupt state naming the field', (_, config, field) => {
    expect(() => parseState(state({ exec: config }), PATH)).toThrow(
      `the agent state ${PATH} is corrupt (${field}:`,
    );
  });
});
