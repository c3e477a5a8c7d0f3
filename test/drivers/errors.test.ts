import { expect, it } from 'vitest';
import {
  classifyOpenError,
  PluginShutdownError,
  RecoverableError,
  StatsNotImplementedError,
  TaskNotFoundError,
} from '../../src/index.js';

it('classifies by class code, never by message', () => {
  expect(classifyOpenError(new StatsNotImplementedError())).toBe('not-implemented');
  expect(classifyOpenError(new RecoverableError('container stopped', false))).toBe('unrecoverable');
  expect(classifyOpenError(new RecoverableError('container stopped', true))).toBe('other');
  expect(classifyOpenError(new PluginShutdownError())).toBe('plugin-shutdown');
  expect(classifyOpenError(new TaskNotFoundError('t'))).toBe('other');
  expect(classifyOpenError(new Error('stats not implemented for driver'))).toBe('other');
  expect(classifyOpenError(undefined)).toBe('other');
});

it('keeps a cause and a stable code', () => {
  const cause = new Error('ECONNREFUSED');
  const error = new RecoverableError('engine unreachable', true, { cause });
  expect(error.cause).toBe(cause);
  expect(error.code).toBe('TASKPULSE_RECOVERABLE');
  expect(new TaskNotFoundError('web').taskId).toBe('web');
});
