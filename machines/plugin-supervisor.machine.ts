/**
 * The supervisor of one driver-plugin process (docs/plugins.md): it launches the plugin, re-attaches
 * the plugin's tasks, watches it, and relaunches it with backoff when it dies or hangs, at most
 * `maxRestarts` times within `restartWindowMs` (an OTP supervisor's intensity and period); past
 * that it gives up (`failed`).
 *
 *   attaching ──the saved plugin answers──────────────┐   (only with a reattach config)
 *       │ gone, another process, no answer             ▼
 *       ▼                                              ▼
 *   launching ──handshake done──▶ up.recovering ──tasks re-attached──▶ up.serving
 *       │ launch failed               └──────── plugin.lost (died, hung) ────────┐
 *       ▼                                                                        ▼
 *     lost ──within the restart limit──▶ relaunching ──backoff──▶ launching    lost
 *       └──past the limit──▶ failed (final)
 *   stop (from any state but the finals) ──▶ stopping ──▶ stopped (final)
 *   detach (from any state but the finals and stopping) ──▶ detaching ──▶ detached (final): the
 *     plugin and its tasks live on, for a later host to attach to
 *
 * Pure: connecting to a plugin that outlived an earlier host (`attachPlugin`), spawning and the
 * handshake (`launchPlugin`), re-attaching (`recoverTasks`), letting go (`releasePlugin`), watching the
 * process and its health (`watchPlugin`), the shutdown (`shutdownPlugin`) and what happens to
 * calls in flight (`dropPlugin`, `pluginServing`, `pluginFailed`) are provided by `src/plugins/`.
 */
import { assign, type DoneActorEvent, type ErrorActorEvent, fromCallback, fromPromise, setup } from 'xstate';
import { type BackoffOptions, retryDelayMs } from './backoff.js';
import { describeError } from './open-error.js';

export interface PluginRestartPolicy {
  /** Relaunches allowed within `restartWindowMs`; one more loss and the plugin is `failed`. Default 3. */
  maxRestarts: number;
  /** Default 60 s. */
  restartWindowMs: number;
  /** Delay before relaunch n (n = losses since the plugin last served): min(base × 2ⁿ, cap). */
  backoff: Pick<BackoffOptions, 'baseMs' | 'capMs'>;
}

export const DEFAULT_PLUGIN_RESTART_POLICY: PluginRestartPolicy = {
  maxRestarts: 3,
  restartWindowMs: 60_000,
  backoff: { baseMs: 500, capMs: 10_000 },
};

/** Where a launched plugin serves (go-plugin's ReattachConfig: protocol, address, pid). */
export interface PluginEndpoint {
  pid: number;
  /** `unix:/path` */
  address: string;
  /** The negotiated app protocol version. */
  protocolVersion: number;
  /**
   * The process's start time (field 22 of /proc/<pid>/stat) when known: tells the plugin from a
   * later process that got its pid.
   */
  startTime?: number | undefined;
}

export interface PluginSupervisorInput {
  /** The plugin's name, for logs and errors. */
  name: string;
  restartPolicy?: Partial<PluginRestartPolicy>;
  /** Where a plugin an earlier host launched serves: attached to first, launched anew if gone. */
  reattach?: PluginEndpoint | undefined;
}

export interface PluginSupervisorContext {
  name: string;
  policy: PluginRestartPolicy;
  /** When each relaunch within the current window was decided (ms). */
  restarts: number[];
  /** Losses since the plugin last served: the n of the relaunch delay. */
  lossesSinceServing: number;
  retryDelayMs: number;
  launches: number;
  endpoint: PluginEndpoint | undefined;
  lastError: string | undefined;
  /** Whether any launch got as far as serving: a plugin that never did is not relaunched. */
  served: boolean;
  /** Set on entering `failed`. */
  failed: boolean;
  /** The saved endpoint to attach to first, if any. */
  reattach: PluginEndpoint | undefined;
  /** Whether the plugin now served was attached to (an earlier host launched it). */
  attached: boolean;
  /** Set on entering `detached`. */
  detached: boolean;
}

export type PluginSupervisorEvent =
  | { type: 'plugin.lost'; reason: string }
  | { type: 'stop' }
  | { type: 'detach' };

export interface PluginSupervisorOutput {
  state: 'stopped' | 'failed' | 'detached';
  launches: number;
  lastError: string | undefined;
}

/** Restart times still inside the window that ends at `now`. */
export function restartsInWindow(restarts: readonly number[], now: number, windowMs: number): number[] {
  return restarts.filter((at) => now - at < windowMs);
}

export function mayRestart(restarts: readonly number[], now: number, policy: PluginRestartPolicy): boolean {
  return restartsInWindow(restarts, now, policy.restartWindowMs).length < policy.maxRestarts;
}

export const pluginSupervisorMachine = setup({
  // Stryker disable next-line ObjectLiteral: `types` exists for the compiler only (equivalent at run time)
  types: {
    input: {} as PluginSupervisorInput,
    context: {} as PluginSupervisorContext,
    events: {} as PluginSupervisorEvent,
    output: {} as PluginSupervisorOutput,
  },
  actors: {
    /** Connects to a running plugin (same process, handshake and health pass); rejects if it cannot. */
    attachPlugin: fromPromise<PluginEndpoint, { name: string; reattach: PluginEndpoint }>(async () => {
      throw new Error('attachPlugin not provided');
    }),
    /** Spawns the plugin, reads its handshake line, connects. */
    launchPlugin: fromPromise<PluginEndpoint, { name: string; attempt: number }>(async () => {
      throw new Error('launchPlugin not provided');
    }),
    /** Re-attaches the tasks the plugin owned (RecoverTask for each). */
    recoverTasks: fromPromise<void, { endpoint: PluginEndpoint }>(async () => {}),
    /** Sends `plugin.lost` when the process exits or stops answering its health check. */
    watchPlugin: fromCallback<PluginSupervisorEvent, { endpoint: PluginEndpoint }>(() => {}),
    /** The controller's Shutdown, then SIGKILL after a grace period; the process is gone after. */
    shutdownPlugin: fromPromise<void, { endpoint: PluginEndpoint | undefined }>(async () => {}),
    /** Lets go of the plugin without stopping it: the connection closes, the process runs on. */
    releasePlugin: fromPromise<void, { endpoint: PluginEndpoint | undefined }>(async () => {}),
  },
  actions: {
    recordLaunchError: assign({
      lastError: ({ event }) => describeError((event as unknown as ErrorActorEvent).error),
    }),
    /** Calls waiting for the plugin may go ahead. */
    pluginServing: (_, _params: { endpoint: PluginEndpoint }) => {},
    /** Calls and streams in flight end with PluginShutdownError; the process is killed if it lingers. */
    dropPlugin: (_, _params: { reason: string }) => {},
    /** Every call from now on fails with the plugin's last error. */
    pluginFailed: (_, _params: { name: string; error: string | undefined; launches: number }) => {},
  },
  guards: {
    neverServed: ({ context }) => !context.served,
    hasReattach: ({ context }) => context.reattach !== undefined,
    mayRestart: ({ context }) => mayRestart(context.restarts, Date.now(), context.policy),
  },
  delays: {
    relaunchDelay: ({ context }) => context.retryDelayMs,
  },
}).createMachine({
  id: 'pluginSupervisor',
  context: ({ input }) => ({
    name: input.name,
    policy: {
      ...DEFAULT_PLUGIN_RESTART_POLICY,
      ...input.restartPolicy,
      backoff: { ...DEFAULT_PLUGIN_RESTART_POLICY.backoff, ...input.restartPolicy?.backoff },
    },
    restarts: [],
    lossesSinceServing: 0,
    retryDelayMs: 0,
    launches: 0,
    endpoint: undefined,
    lastError: undefined,
    served: false,
    failed: false,
    reattach: input.reattach,
    attached: false,
    detached: false,
  }),
  initial: 'starting',
  on: {
    stop: '.stopping',
    detach: '.detaching',
  },
  states: {
    starting: {
      always: [{ guard: 'hasReattach', target: 'attaching' }, { target: 'launching' }],
    },
    attaching: {
      invoke: {
        src: 'attachPlugin',
        input: ({ context }) => ({ name: context.name, reattach: context.reattach as PluginEndpoint }),
        onDone: {
          target: 'up',
          actions: assign({
            endpoint: ({ event }) => (event as DoneActorEvent<PluginEndpoint>).output,
            attached: true,
          }),
        },
        // Gone, another process by now, or no answer: a new plugin is launched (its tasks are
        // re-attached by their handles).
        onError: { target: 'launching', actions: 'recordLaunchError' },
      },
    },
    launching: {
      entry: assign({ launches: ({ context }) => context.launches + 1 }),
      invoke: {
        src: 'launchPlugin',
        input: ({ context }) => ({ name: context.name, attempt: context.launches }),
        onDone: {
          target: 'up',
          actions: assign({ endpoint: ({ event }) => (event as DoneActorEvent<PluginEndpoint>).output }),
        },
        // A plugin that never got to serve (wrong cookie, garbled line, crash on start) is broken,
        // not unlucky: relaunching it would only repeat the failure.
        onError: [
          { guard: 'neverServed', target: 'failed', actions: 'recordLaunchError' },
          { target: 'lost', actions: 'recordLaunchError' },
        ],
      },
    },
    up: {
      invoke: {
        src: 'watchPlugin',
        // `up` is entered only from a launch that resolved, so the endpoint is set.
        input: ({ context }) => ({ endpoint: context.endpoint as PluginEndpoint }),
      },
      on: {
        'plugin.lost': {
          target: 'lost',
          actions: assign({ lastError: ({ event }) => event.reason }),
        },
      },
      initial: 'recovering',
      states: {
        recovering: {
          invoke: {
            src: 'recoverTasks',
            input: ({ context }) => ({ endpoint: context.endpoint as PluginEndpoint }),
            // A task that cannot be re-attached is the task's loss, not the plugin's.
            onDone: 'serving',
            onError: 'serving',
          },
        },
        serving: {
          entry: [
            assign({ lossesSinceServing: 0, served: true }),
            {
              type: 'pluginServing',
              params: ({ context }) => ({ endpoint: context.endpoint as PluginEndpoint }),
            },
          ],
        },
      },
    },
    lost: {
      entry: [
        {
          type: 'dropPlugin',
          params: ({ context }) => ({ reason: String(context.lastError) }),
        },
        assign({ endpoint: undefined }),
      ],
      always: [
        {
          guard: 'mayRestart',
          target: 'relaunching',
          actions: assign(({ context }) => {
            const now = Date.now();
            return {
              restarts: [...restartsInWindow(context.restarts, now, context.policy.restartWindowMs), now],
              retryDelayMs: retryDelayMs(context.lossesSinceServing, context.policy.backoff),
              lossesSinceServing: context.lossesSinceServing + 1,
            };
          }),
        },
        { target: 'failed' },
      ],
    },
    relaunching: {
      after: { relaunchDelay: 'launching' },
    },
    stopping: {
      invoke: {
        src: 'shutdownPlugin',
        input: ({ context }) => ({ endpoint: context.endpoint }),
        onDone: 'stopped',
        onError: 'stopped',
      },
      on: { stop: {}, detach: {} },
    },
    detaching: {
      invoke: {
        src: 'releasePlugin',
        input: ({ context }) => ({ endpoint: context.endpoint }),
        onDone: 'detached',
        onError: 'detached',
      },
      on: { detach: {} },
    },
    detached: {
      type: 'final',
      entry: assign({ detached: true }),
    },
    stopped: {
      type: 'final',
    },
    failed: {
      type: 'final',
      entry: [
        assign({ failed: true }),
        {
          type: 'pluginFailed',
          params: ({ context }) => ({
            name: context.name,
            error: context.lastError,
            launches: context.launches,
          }),
        },
      ],
    },
  },
  output: ({ context }) => ({
    state: context.failed ? 'failed' : context.detached ? 'detached' : 'stopped',
    launches: context.launches,
    lastError: context.lastError,
  }),
});
