/**
 * Prometheus series of a task's life, next to its usage gauges: its state (one series per runner
 * state, 1 for the current one), restarts and OOM kills (counters from 0), and the last exit code.
 * Unlike the usage gauges they stay after the task exits (a dead task's exit code is the point).
 */
import { constants } from 'node:os';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { TaskBus, TaskBusEvents, TaskRef } from '../runtime/bus.js';
import type { MetricLabels } from './metrics.js';

/** The task runner's states, as `RunnerState` in the API. */
export const RUNNER_STATES = [
  'pending',
  'starting',
  'running',
  'killing',
  'exited',
  'restarting',
  'dead',
  'detached',
] as const;

const LABEL_NAMES = ['job', 'task_group', 'alloc_id', 'task', 'namespace'] as const;

/** A signal's exit code as a shell reports it: 128 + its number. */
export function signalExitCode(signal: string): number | undefined {
  const number = (constants.signals as Record<string, number | undefined>)[signal];
  return number === undefined ? undefined : 128 + number;
}

export interface LifecycleMetricsOptions {
  bus: TaskBus;
  registry: Registry;
  prefix: string;
  labelsFor(ref: TaskRef): MetricLabels | undefined;
}

/** Starts listening; returns the function that stops. */
export function trackLifecycleMetrics(options: LifecycleMetricsOptions): () => void {
  const { bus, registry, prefix, labelsFor } = options;
  const registers = [registry];
  const state = new Gauge({
    name: `${prefix}_state`,
    help: 'Task runner state: 1 for the current one (pending, starting, running, killing, exited, restarting, dead, detached).',
    labelNames: [...LABEL_NAMES, 'state'],
    registers,
  });
  const restarts = new Counter({
    name: `${prefix}_restarts_total`,
    help: 'Restarts of the task (by its restart policy or on request).',
    labelNames: LABEL_NAMES,
    registers,
  });
  const oomKills = new Counter({
    name: `${prefix}_oom_kills_total`,
    help: 'Exits of the task reported as killed by the OOM killer.',
    labelNames: LABEL_NAMES,
    registers,
  });
  const exitCode = new Gauge({
    name: `${prefix}_exit_code`,
    help: 'Exit code of the last run (128 + n when signal n ended it); absent before the first exit.',
    labelNames: LABEL_NAMES,
    registers,
  });
  const lastState = new Map<string, string>();

  const onState = ({ state: next, ...ref }: TaskBusEvents['task:state']) => {
    const labels = labelsFor(ref);
    if (!labels) return;
    const previous = lastState.get(ref.taskId);
    if (previous === undefined) {
      // Counters exist from 0, so `rate()` and `increase()` see the first restart.
      restarts.inc(labels, 0);
      oomKills.inc(labels, 0);
    }
    // The runner counts a restart as it leaves `restarting` for `starting`.
    if (previous === 'restarting' && next === 'starting') restarts.inc(labels);
    lastState.set(ref.taskId, next);
    for (const name of RUNNER_STATES) state.set({ ...labels, state: name }, name === next ? 1 : 0);
  };
  const onEvent = ({ event, ...ref }: TaskBusEvents['task:event']) => {
    if (event.type !== 'Terminated') return;
    const labels = labelsFor(ref);
    if (!labels) return;
    if (event.oomKilled) oomKills.inc(labels);
    const code = event.exitCode ?? (event.signal ? signalExitCode(event.signal) : undefined) ?? undefined;
    if (code !== undefined) exitCode.set(labels, code);
  };
  bus.on('task:state', onState);
  bus.on('task:event', onEvent);
  return () => {
    bus.off('task:state', onState);
    bus.off('task:event', onEvent);
  };
}
