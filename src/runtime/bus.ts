/** The typed event bus every runner publishes on (mitt). */
import mittDefault, { type Emitter, type EventType } from 'mitt';
import type { TaskEventType } from '../../machines/task-runner.machine.js';
import type { TaskResourceUsage } from '../drivers/usage.js';

// mitt's types are CommonJS-style and not callable under ESM resolution; the runtime is fine.
const mitt = mittDefault as unknown as <E extends Record<EventType, unknown>>() => Emitter<E>;

/** Nomad's task event types (defined with the machine that raises them). */
export type { TaskEventType };

export interface TaskEvent {
  type: TaskEventType;
  /** Unix ms. */
  time: number;
  message: string;
  exitCode?: number | null;
  signal?: string | null;
  oomKilled?: boolean;
  /** Delay before a restart, ms. */
  restartInMs?: number;
  failsTask?: boolean;
}

export interface TaskRef {
  taskId: string;
  name: string;
  allocId?: string;
}

export type TaskBusEvents = {
  'task:state': TaskRef & { state: string; failed?: boolean };
  'task:event': TaskRef & { event: TaskEvent };
  /** A valid sample; `metrics` holds only the fields worth publishing (non-zero or measured). */
  'task:stats': TaskRef & { sample: TaskResourceUsage; metrics: Map<string, number> };
  /** The task exited: drop its metric series (spec rule 13). */
  'task:stats-ended': TaskRef;
};

export type TaskBus = Emitter<TaskBusEvents>;

export function createBus(): TaskBus {
  return mitt<TaskBusEvents>();
}
