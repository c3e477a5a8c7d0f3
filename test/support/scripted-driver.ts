/**
 * A driver whose every call waits for the test to decide its outcome: nothing settles, yields or ends
 * on its own and it starts no timer, so a test (or a generated model path) decides each step and
 * `vi.getTimerCount()` sees only the runtime's own timers. Calls that take an `AbortSignal` reject
 * with its reason when it aborts, as a well-behaved driver does.
 */
import type {
  ExitResult,
  StopOptions,
  TaskDriver,
  TaskHandle,
  TaskSpec,
} from '../../src/drivers/contract.js';
import type { TaskResourceUsage } from '../../src/drivers/usage.js';

export type ScriptedMethod =
  | 'startTask'
  | 'waitTask'
  | 'stopTask'
  | 'destroyTask'
  | 'taskStats'
  | 'recoverTask';

export interface ScriptedCall<T = unknown> {
  readonly id: number;
  readonly method: ScriptedMethod;
  readonly taskId: string;
  readonly signal: AbortSignal | undefined;
  /** Fake-clock time of the call. */
  readonly at: number;
  readonly settled: boolean;
  resolve(value: T): void;
  reject(error: unknown): void;
}

/** A stats stream the test feeds by hand. */
export interface ScriptedStream {
  readonly id: number;
  /** Until it ended, threw, was aborted or its reader returned. */
  readonly open: boolean;
  /** Samples the reader has taken from it. */
  readonly read: number;
  push(sample: unknown): void;
  end(): void;
  fail(error: unknown): void;
}

export interface ScriptedDriver extends TaskDriver {
  readonly history: readonly ScriptedCall[];
  /** Calls not yet settled (an aborted call is settled). */
  inFlight(method?: ScriptedMethod): ScriptedCall[];
  /** The one call of `method` in flight; throws unless there is exactly one. */
  pending<T = unknown>(method: ScriptedMethod): ScriptedCall<T>;
  readonly streams: readonly ScriptedStream[];
  openStreams(): ScriptedStream[];
  /** Resolves a `taskStats` call (default: the one in flight) with a new stream, and returns the stream. */
  openStream(call?: ScriptedCall): ScriptedStream;
}

type Item = { kind: 'sample'; value: unknown } | { kind: 'end' } | { kind: 'error'; error: unknown };

function createStream(id: number, signal: AbortSignal): ScriptedStream & AsyncIterable<TaskResourceUsage> {
  const queue: Item[] = [];
  let waiter:
    | { resolve: (r: IteratorResult<TaskResourceUsage>) => void; reject: (e: unknown) => void }
    | undefined;
  let open = true;
  let read = 0;

  const close = () => {
    open = false;
    const w = waiter;
    waiter = undefined;
    w?.resolve({ done: true, value: undefined });
  };
  signal.addEventListener('abort', close, { once: true });

  const deliver = () => {
    if (!waiter || !open) return;
    const item = queue.shift();
    if (!item) return;
    const w = waiter;
    waiter = undefined;
    if (item.kind === 'sample') {
      read++;
      w.resolve({ done: false, value: item.value as TaskResourceUsage });
    } else if (item.kind === 'end') {
      close();
      w.resolve({ done: true, value: undefined });
    } else {
      open = false;
      w.reject(item.error);
    }
  };

  return {
    id,
    get open() {
      return open;
    },
    get read() {
      return read;
    },
    push(value) {
      queue.push({ kind: 'sample', value });
      deliver();
    },
    end() {
      queue.push({ kind: 'end' });
      deliver();
    },
    fail(error) {
      queue.push({ kind: 'error', error });
      deliver();
    },
    [Symbol.asyncIterator]() {
      return {
        next: () =>
          new Promise<IteratorResult<TaskResourceUsage>>((resolve, reject) => {
            if (!open) return resolve({ done: true, value: undefined });
            waiter = { resolve, reject };
            deliver();
          }),
        return: async () => {
          close();
          return { done: true, value: undefined };
        },
      };
    },
  };
}

export function createScriptedDriver(options: { now?: () => number } = {}): ScriptedDriver {
  const now = options.now ?? Date.now;
  const history: ScriptedCall[] = [];
  const streams: (ScriptedStream & AsyncIterable<TaskResourceUsage>)[] = [];

  const call = <T>(method: ScriptedMethod, taskId: string, signal?: AbortSignal): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      let settled = false;
      const settle = () => {
        settled = true;
        signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = () => {
        if (settled) return;
        settle();
        reject(signal?.reason);
      };
      const record: ScriptedCall<T> = {
        id: history.length + 1,
        method,
        taskId,
        signal,
        at: now(),
        get settled() {
          return settled;
        },
        resolve(value) {
          if (settled) throw new Error(`${method} #${record.id} already settled`);
          settle();
          resolve(value);
        },
        reject(error) {
          if (settled) throw new Error(`${method} #${record.id} already settled`);
          settle();
          reject(error);
        },
      };
      history.push(record as ScriptedCall);
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
    });

  const inFlight = (method?: ScriptedMethod) =>
    history.filter((c) => !c.settled && (method === undefined || c.method === method));

  const driver: ScriptedDriver = {
    name: 'scripted',
    capabilities: { stats: true, sendSignals: true, fsIsolation: 'none' },
    history,
    inFlight,
    pending<T>(method: ScriptedMethod) {
      const calls = inFlight(method);
      if (calls.length !== 1) throw new Error(`expected one ${method} call in flight, found ${calls.length}`);
      return calls[0] as ScriptedCall<T>;
    },
    streams,
    openStreams: () => streams.filter((s) => s.open),
    openStream(call) {
      const pending = (call ?? driver.pending('taskStats')) as ScriptedCall<AsyncIterable<TaskResourceUsage>>;
      const stream = createStream(streams.length + 1, pending.signal ?? new AbortController().signal);
      streams.push(stream);
      pending.resolve(stream);
      return stream;
    },
    startTask: (task: TaskSpec) => call<TaskHandle>('startTask', task.id),
    waitTask: (taskId: string, signal?: AbortSignal) => call<ExitResult>('waitTask', taskId, signal),
    stopTask: (taskId: string, _options: StopOptions) => call<void>('stopTask', taskId),
    destroyTask: (taskId: string) => call<void>('destroyTask', taskId),
    recoverTask: (task: TaskSpec) => call<void>('recoverTask', task.id),
    taskStats: (taskId: string, _intervalMs: number, signal: AbortSignal) =>
      call<AsyncIterable<TaskResourceUsage>>('taskStats', taskId, signal),
  };
  return driver;
}
