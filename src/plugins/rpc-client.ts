/**
 * One connection to a serving plugin: the driver calls as promises and the TaskStats stream as an
 * AsyncIterable, with the plugin's errors mapped back (errors.ts). `drop()` ends every call and
 * stream in flight with PluginShutdownError at once, which is what the host does when the plugin
 * died or hung: nothing waits on a connection that will not answer.
 */
import type { Client, Metadata, ServiceError } from '@grpc/grpc-js';
import type { ExitResult, StopOptions, TaskHandle, TaskSpec, TaskStatus } from '../drivers/contract.js';
import { PluginShutdownError } from '../drivers/errors.js';
import type { TaskResourceUsage } from '../drivers/usage.js';
import { exitFromProto, handleFromProto, handleToProto, specToProto, usageFromProto } from './codec.js';
import { fromStatusError } from './errors.js';
import { grpc } from './grpc.js';
import { CHANNEL_OPTIONS, protocol, STREAM_OPEN_HEADER } from './protocol.js';

type Message = Record<string, unknown>;
type UnaryMethod = (
  request: Message,
  metadata: Metadata,
  options: { deadline?: number },
  callback: (error: ServiceError | null, response: Message) => void,
) => { cancel(): void };

export interface PluginCapabilities {
  name: string;
  stats: boolean;
  sendSignals: boolean;
  fsIsolation: 'none' | 'chroot' | 'image';
  recover: boolean;
}

export interface RpcConnection {
  capabilities(): Promise<PluginCapabilities>;
  startTask(spec: TaskSpec): Promise<TaskHandle>;
  waitTask(taskId: string, signal?: AbortSignal): Promise<ExitResult>;
  stopTask(taskId: string, options: StopOptions): Promise<void>;
  destroyTask(taskId: string, force: boolean): Promise<void>;
  signalTask(taskId: string, signal: NodeJS.Signals): Promise<void>;
  inspectTask(taskId: string): Promise<TaskStatus>;
  recoverTask(spec: TaskSpec, handle: TaskHandle): Promise<void>;
  taskStats(
    taskId: string,
    intervalMs: number,
    signal: AbortSignal,
  ): Promise<AsyncIterable<TaskResourceUsage>>;
  /** True when the health service answers SERVING within `timeoutMs`. */
  healthy(timeoutMs: number): Promise<boolean>;
  /** go-plugin's controller Shutdown; a dropped connection counts as done (the plugin went away). */
  shutdown(timeoutMs: number): Promise<void>;
  /** Ends everything in flight with PluginShutdownError and refuses new calls. */
  drop(reason: string): void;
}

export function connectPlugin(address: string): RpcConnection {
  const proto = protocol();
  const driver = new proto.driver(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS) as Client &
    Record<string, UnaryMethod>;
  const channelOverride = driver.getChannel();
  const health = new proto.health(address, grpc.credentials.createInsecure(), { channelOverride }) as Client &
    Record<string, UnaryMethod>;
  const controller = new proto.controller(address, grpc.credentials.createInsecure(), {
    channelOverride,
  }) as Client & Record<string, UnaryMethod>;
  const inFlight = new Set<(error: Error) => void>();
  let dropped: string | undefined;
  const shutdownError = () => new PluginShutdownError({ cause: new Error(dropped) });

  function unary(
    method: string,
    request: Message,
    context: {
      taskId?: string;
      signal?: AbortSignal;
      client?: Record<string, UnaryMethod>;
      deadline?: number;
    } = {},
  ): Promise<Message> {
    if (dropped !== undefined) return Promise.reject(shutdownError());
    const { signal } = context;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<Message>((resolve, reject) => {
      let settled = false;
      const settle = () => {
        settled = true;
        inFlight.delete(fail);
        signal?.removeEventListener('abort', onAbort);
      };
      const fail = (error: Error) => {
        if (settled) return;
        settle();
        call.cancel();
        reject(error);
      };
      const onAbort = () => fail(signal?.reason as Error);
      const client = context.client ?? driver;
      const call = (client[method] as UnaryMethod).call(
        client,
        request,
        new grpc.Metadata(),
        context.deadline ? { deadline: context.deadline } : {},
        (error, response) => {
          if (settled) return;
          settle();
          if (error)
            reject(fromStatusError(error, { method, ...(context.taskId ? { taskId: context.taskId } : {}) }));
          else resolve(response);
        },
      );
      inFlight.add(fail);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  function taskStats(taskId: string, intervalMs: number, signal: AbortSignal) {
    if (dropped !== undefined) return Promise.reject(shutdownError());
    if (signal.aborted) return Promise.reject(signal.reason);
    const call = (
      driver.TaskStats as unknown as (req: Message) => NodeJS.EventEmitter & { cancel(): void }
    ).call(driver, { taskId, intervalMs });
    const queue: TaskResourceUsage[] = [];
    let ended = false;
    let failure: Error | undefined;
    let wake: (() => void) | undefined;
    let opened = false;
    let resolveOpen!: (samples: AsyncIterable<TaskResourceUsage>) => void;
    let rejectOpen!: (error: unknown) => void;
    const open = new Promise<AsyncIterable<TaskResourceUsage>>((resolve, reject) => {
      resolveOpen = resolve;
      rejectOpen = reject;
    });
    const notify = () => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    const finish = (error?: Error) => {
      if (ended) return;
      ended = true;
      failure = error;
      inFlight.delete(fail);
      signal.removeEventListener('abort', onAbort);
      if (!opened) {
        opened = true;
        if (error) rejectOpen(error);
        else resolveOpen(samples); // ended before its first sample: an empty stream
      }
      notify();
    };
    const fail = (error: Error) => {
      finish(error);
      call.cancel();
    };
    // Cancelled by its caller: before opening a rejection with the abort reason, after it a clean end.
    const onAbort = () => {
      if (!opened) return fail(signal.reason as Error);
      finish();
      call.cancel();
    };
    const markOpen = () => {
      if (opened || ended) return;
      opened = true;
      resolveOpen(samples);
    };
    const samples: AsyncIterable<TaskResourceUsage> = {
      [Symbol.asyncIterator]: () => ({
        async next(): Promise<IteratorResult<TaskResourceUsage>> {
          for (;;) {
            const sample = queue.shift();
            if (sample) return { value: sample, done: false };
            if (ended) {
              if (failure) throw failure;
              return { value: undefined, done: true };
            }
            await new Promise<void>((resolve) => {
              wake = resolve;
            });
          }
        },
        async return(): Promise<IteratorResult<TaskResourceUsage>> {
          finish();
          call.cancel();
          return { value: undefined, done: true };
        },
      }),
    };
    call.on('metadata', (metadata: Metadata) => {
      if (metadata.get(STREAM_OPEN_HEADER).length > 0) markOpen();
    });
    call.on('data', (message: Message) => {
      if (ended) return;
      queue.push(usageFromProto(message.stats as Message));
      markOpen();
      notify();
    });
    call.on('end', () => finish());
    call.on('error', (error: ServiceError) => {
      if (ended) return; // cancelled by us: already ended
      finish(fromStatusError(error, { method: 'TaskStats', taskId }));
    });
    inFlight.add(fail);
    signal.addEventListener('abort', onAbort, { once: true });
    return open;
  }

  return {
    async capabilities() {
      const response = await unary('Capabilities', {});
      return response as unknown as PluginCapabilities;
    },
    async startTask(spec) {
      const response = await unary('StartTask', { task: specToProto(spec) }, { taskId: spec.id });
      return handleFromProto(response.handle as Message);
    },
    async waitTask(taskId, signal) {
      const response = await unary('WaitTask', { taskId }, { taskId, ...(signal ? { signal } : {}) });
      return exitFromProto(response.result as Message);
    },
    async stopTask(taskId, { timeoutMs, signal }) {
      await unary('StopTask', { taskId, timeoutMs, signal: signal ?? '' }, { taskId });
    },
    async destroyTask(taskId, force) {
      await unary('DestroyTask', { taskId, force }, { taskId });
    },
    async signalTask(taskId, signal) {
      await unary('SignalTask', { taskId, signal }, { taskId });
    },
    async inspectTask(taskId) {
      const response = await unary('InspectTask', { taskId }, { taskId });
      return {
        handle: handleFromProto(response.handle as Message),
        state: response.state === 'exited' ? 'exited' : 'running',
        ...(response.exit ? { exit: exitFromProto(response.exit as Message) } : {}),
      };
    },
    async recoverTask(spec, handle) {
      await unary(
        'RecoverTask',
        { task: specToProto(spec), handle: handleToProto(handle) },
        { taskId: spec.id },
      );
    },
    taskStats,
    async healthy(timeoutMs) {
      try {
        const response = await unary(
          'Check',
          { service: 'plugin' },
          { client: health, deadline: Date.now() + timeoutMs },
        );
        return response.status === 'SERVING';
      } catch {
        return false;
      }
    },
    async shutdown(timeoutMs) {
      try {
        await unary('Shutdown', {}, { client: controller, deadline: Date.now() + timeoutMs });
      } catch {
        // UNAVAILABLE "Connection dropped" is how a plugin that stopped before replying answers.
      }
    },
    drop(reason) {
      if (dropped !== undefined) return;
      dropped = reason;
      for (const fail of [...inFlight]) fail(shutdownError());
      driver.close();
    },
  };
}
