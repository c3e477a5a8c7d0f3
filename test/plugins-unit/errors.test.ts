/** Driver errors across the RPC, both ways, by status code and trailer (never by message text). */
import { Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { classifyOpenError } from '../../machines/open-error.js';
import {
  PluginShutdownError,
  RecoverableError,
  StatsNotImplementedError,
  TaskNotFoundError,
} from '../../src/drivers/errors.js';
import {
  fromStatusError,
  NotImplementedError,
  RECOVERABLE_TRAILER,
  toStatusError,
} from '../../src/plugins/errors.js';

const across = (error: unknown, call: { method: string; taskId?: string }) => {
  const sent = toStatusError(error);
  const received = Object.assign(new Error(sent.details), sent) as unknown as ServiceError;
  return { sent, back: fromStatusError(received, call) };
};

describe('error mapping', () => {
  it('maps each driver error to its status and back to the same class', () => {
    const notFound = across(new TaskNotFoundError('a/b'), { method: 'WaitTask', taskId: 'a/b' });
    expect(notFound.sent.code).toBe(status.NOT_FOUND);
    expect(notFound.back).toBeInstanceOf(TaskNotFoundError);
    expect((notFound.back as TaskNotFoundError).taskId).toBe('a/b');

    const noStats = across(new StatsNotImplementedError(), { method: 'TaskStats' });
    expect(noStats.sent.code).toBe(status.UNIMPLEMENTED);
    expect(classifyOpenError(noStats.back)).toBe('not-implemented');
    const noSignal = across(new NotImplementedError('SignalTask'), { method: 'SignalTask' });
    expect(noSignal.back).toBeInstanceOf(NotImplementedError);

    for (const flag of [true, false]) {
      const { sent, back } = across(new RecoverableError('container stopped', flag), { method: 'TaskStats' });
      expect(sent.code).toBe(status.FAILED_PRECONDITION);
      expect(sent.metadata.get(RECOVERABLE_TRAILER)).toEqual([String(flag)]);
      expect(back).toBeInstanceOf(RecoverableError);
      expect(back).toMatchObject({ recoverable: flag, message: 'container stopped' });
      expect(classifyOpenError(back)).toBe(flag ? 'other' : 'unrecoverable');
    }

    const shutdown = across(new PluginShutdownError(), { method: 'TaskStats' });
    expect(shutdown.sent.code).toBe(status.UNAVAILABLE);
    expect(classifyOpenError(shutdown.back)).toBe('plugin-shutdown');

    const other = across(new Error('disk full'), { method: 'StartTask' });
    expect(other.sent.code).toBe(status.UNKNOWN);
    expect(other.back.message).toBe('disk full');
    expect(classifyOpenError(other.back)).toBe('other');
  });

  it('reads errors by code: a message that looks like another error changes nothing', () => {
    const { back } = across(new Error('task not found: x'), { method: 'WaitTask', taskId: 'x' });
    expect(back).not.toBeInstanceOf(TaskNotFoundError);
    // FAILED_PRECONDITION without the trailer is not a RecoverableError.
    const plain = Object.assign(new Error('x'), {
      code: status.FAILED_PRECONDITION,
      details: 'x',
      metadata: new Metadata(),
    });
    expect(fromStatusError(plain as unknown as ServiceError, { method: 'StartTask' })).not.toBeInstanceOf(
      RecoverableError,
    );
    // A dropped connection (UNAVAILABLE) or a server-side cancel is the plugin going away.
    const dropped = Object.assign(new Error('x'), {
      code: status.CANCELLED,
      details: '',
      metadata: new Metadata(),
    });
    expect(fromStatusError(dropped as unknown as ServiceError, { method: 'WaitTask' })).toBeInstanceOf(
      PluginShutdownError,
    );
  });
});
