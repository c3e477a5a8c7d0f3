/**
 * What the web UI shows, kept by the agent and pushed to every open page: one bus subscription and
 * one inspection observer per actor system for the whole agent (never one per page or per task).
 *
 * - Samples: per task, a ring of the last `windowMs` of CPU percent and memory bytes (from the
 *   `task:stats` events the agent already publishes), so a page opened late draws the whole window.
 * - Tasks: state, restarts, exit code, start time and recent events, read from the runners.
 * - Machines: the task runner's and the stats hook's top-level state and their last transitions,
 *   from XState inspection events (`@xstate.snapshot`, the same events `--record-inspection` writes).
 *
 * Changes are queued as small messages and flushed together every `flushMs` to each subscriber, so
 * 200 tasks sampling at 1 Hz cost a few pushes a second per page, not 200.
 */
import type { ActorRefLike, AnyActorRef, InspectionEvent, Subscription } from 'xstate';
import { statsHookMachine } from '../../../machines/stats-hook.machine.js';
import { taskRunnerMachine } from '../../../machines/task-runner.machine.js';
import type { TaskResourceUsage } from '../../drivers/usage.js';
import { toStateGraph } from '../../machines-render.js';
import type { TaskBus, TaskBusEvents, TaskEvent } from '../../runtime/bus.js';
import type { AgentTask, Allocation } from '../create-agent.js';

export type MachineName = 'runner' | 'hook';

export interface Transition {
  /** Unix ms. */
  time: number;
  from: string;
  to: string;
  event: string;
}

/** One point of a task's charts: Unix ms, CPU percent of one core (null: not measured), memory bytes. */
export type SamplePoint = [time: number, cpuPercent: number | null, memoryBytes: number | null];

export interface TaskView {
  id: string;
  name: string;
  driver: string;
  state: string;
  failed: boolean;
  restarts: number;
  exitCode: number | null;
  signal: string | null;
  /** Unix ms of the latest start, or null. */
  startedAt: number | null;
  events: TaskEvent[];
  memoryLimitBytes: number | null;
  machines: Record<MachineName, { state: string; transitions: Transition[] }>;
  samples: SamplePoint[];
}

export interface AllocationView {
  id: string;
  name: string;
  job: string;
  group: string;
  tasks: TaskView[];
}

export type LiveMessage =
  | { kind: 'task'; task: Omit<TaskView, 'samples' | 'machines' | 'events' | 'name' | 'driver'> }
  | { kind: 'event'; task: string; event: TaskEvent }
  | { kind: 'sample'; task: string; point: SamplePoint }
  | { kind: 'machine'; task: string; machine: MachineName; transition: Transition };

export interface LiveSnapshot {
  now: number;
  windowMs: number;
  machines: Record<MachineName, ReturnType<typeof toStateGraph>>;
  allocations: AllocationView[];
}

export interface LiveStateOptions {
  bus: TaskBus;
  allocations: readonly Allocation[];
  /** How much chart history is kept. Default 10 minutes. */
  windowMs?: number;
  /** How often queued changes are pushed. Default 500 ms. */
  flushMs?: number;
  /** Transitions kept per machine per task. Default 10. */
  maxTransitions?: number;
  now?: () => number;
}

export interface LiveState {
  /** Starts observing the runners' actor systems (call once the runners exist). */
  attach(): void;
  snapshot(): LiveSnapshot;
  /** `send` gets each flush's messages; returns the unsubscribe. */
  subscribe(send: (messages: LiveMessage[]) => void): () => void;
  readonly subscribers: number;
  /** Pushes what is queued now (the agent does before it closes, so pages see the end). */
  flush(): void;
  close(): void;
}

const MACHINE_GRAPHS = { runner: toStateGraph(taskRunnerMachine), hook: toStateGraph(statsHookMachine) };

/** `{ exited: 'destroying' }` is `exited`: the UI draws top-level states. */
const topState = (value: unknown): string =>
  typeof value === 'string' ? value : (Object.keys(value as object)[0] ?? '');

/** XState's internal event types, readable: `done starting`, `after restartDelay`, `init`. */
export function eventLabel(type: string): string {
  const done = /^xstate\.(done|error)\.actor\..*\.([^.]+)$/.exec(type);
  if (done) return `${done[1]} ${done[2]}`;
  const after = /^xstate\.after\.([^.]+)\./.exec(type);
  if (after) return `after ${after[1]}`;
  return type.startsWith('xstate.') ? type.slice('xstate.'.length) : type;
}

const point = (sample: TaskResourceUsage): SamplePoint => {
  const { cpu, memory } = sample.resourceUsage;
  const cpuPercent = cpu?.measured.includes('Percent') ? cpu.percent : null;
  const memoryBytes = memory?.measured.includes('RSS')
    ? memory.rss
    : memory?.measured.includes('Usage')
      ? memory.usage
      : null;
  return [sample.timestamp, cpuPercent, memoryBytes];
};

interface TaskTrack {
  task: AgentTask;
  samples: SamplePoint[];
  machines: Record<MachineName, { state: string; transitions: Transition[] }>;
}

export function createLiveState(options: LiveStateOptions): LiveState {
  const windowMs = options.windowMs ?? 10 * 60_000;
  const flushMs = options.flushMs ?? 500;
  const maxTransitions = options.maxTransitions ?? 10;
  const now = options.now ?? Date.now;
  const { bus } = options;
  const tracks = new Map<string, TaskTrack>();
  const byRunner = new Map<AnyActorRef, TaskTrack>();
  const subscribers = new Set<(messages: LiveMessage[]) => void>();
  const inspections: Subscription[] = [];
  let queue: LiveMessage[] = [];
  let timer: NodeJS.Timeout | undefined;

  const push = (message: LiveMessage) => {
    if (subscribers.size === 0) return;
    queue.push(message);
    timer ??= setTimeout(flush, flushMs);
  };
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    if (queue.length === 0) return;
    const batch = queue;
    queue = [];
    for (const send of subscribers) send(batch);
  };

  const taskFields = ({ task }: TaskTrack) => {
    const { context } = task.runner.actor.getSnapshot();
    const started = task.runner.events.findLast((event) => event.type === 'Started');
    return {
      id: task.spec.id,
      state: task.runner.state,
      failed: task.output?.failed ?? context.failed,
      restarts: task.output?.restarts ?? context.restarts,
      exitCode: context.lastExit?.exitCode ?? null,
      signal: context.lastExit?.signal ?? null,
      startedAt: started?.time ?? null,
      memoryLimitBytes: task.config.resources?.memory ? task.config.resources.memory * 2 ** 20 : null,
    };
  };

  const onState = ({ taskId }: TaskBusEvents['task:state']) => {
    const track = tracks.get(taskId);
    if (track) push({ kind: 'task', task: taskFields(track) });
  };
  const onEvent = ({ taskId, event }: TaskBusEvents['task:event']) => {
    if (tracks.has(taskId)) push({ kind: 'event', task: taskId, event });
  };
  const onStats = ({ taskId, sample }: TaskBusEvents['task:stats']) => {
    const track = tracks.get(taskId);
    if (!track) return;
    const entry = point(sample);
    track.samples.push(entry);
    const oldest = entry[0] - windowMs;
    let drop = 0;
    while (drop < track.samples.length && (track.samples[drop]?.[0] ?? 0) < oldest) drop++;
    if (drop > 0) track.samples.splice(0, drop);
    push({ kind: 'sample', task: taskId, point: entry });
  };
  bus.on('task:state', onState);
  bus.on('task:event', onEvent);
  bus.on('task:stats', onStats);

  const machineOf = (ref: ActorRefLike): [TaskTrack, MachineName] | undefined => {
    const actor = ref as AnyActorRef;
    const runner = byRunner.get(actor);
    if (runner) return [runner, 'runner'];
    // The stats hook lives in its runner's system, as the runner's child.
    const parent = actor._parent;
    const owner = parent ? byRunner.get(parent) : undefined;
    return owner && actor.id.startsWith('stats-hook') ? [owner, 'hook'] : undefined;
  };

  const observe = (event: InspectionEvent) => {
    if (event.type !== '@xstate.snapshot') return;
    const found = machineOf(event.actorRef);
    if (!found) return;
    const [track, name] = found;
    const machine = track.machines[name];
    const to = topState((event.snapshot as { value?: unknown }).value);
    if (to === '' || to === machine.state) return;
    const transition: Transition = {
      time: now(),
      from: machine.state,
      to,
      event: eventLabel(event.event.type),
    };
    machine.state = to;
    machine.transitions.push(transition);
    if (machine.transitions.length > maxTransitions) machine.transitions.shift();
    push({ kind: 'machine', task: track.task.spec.id, machine: name, transition });
  };

  return {
    attach() {
      const systems = new Set<unknown>();
      for (const alloc of options.allocations) {
        for (const task of alloc.tasks.values()) {
          if (tracks.has(task.spec.id)) continue;
          const hookState = task.runner.statsHook.current?.state;
          const track: TaskTrack = {
            task,
            samples: [],
            machines: {
              runner: { state: topState(task.runner.actor.getSnapshot().value), transitions: [] },
              hook: { state: hookState ?? 'idle', transitions: [] },
            },
          };
          tracks.set(task.spec.id, track);
          byRunner.set(task.runner.actor, track);
          // Runners share actor systems (a few dozen a system, or one for an inspected agent):
          // one observer per system sees every runner and hook in it.
          const system = task.runner.actor.system;
          if (systems.has(system)) continue;
          systems.add(system);
          inspections.push(system.inspect(observe));
        }
      }
    },
    snapshot: () => ({
      now: now(),
      windowMs,
      machines: MACHINE_GRAPHS,
      allocations: options.allocations.map((alloc) => ({
        id: alloc.id,
        name: alloc.name,
        job: alloc.job.name,
        group: alloc.group.name,
        tasks: [...alloc.tasks.values()].flatMap((task) => {
          const track = tracks.get(task.spec.id);
          if (!track) return [];
          return [
            {
              ...taskFields(track),
              name: task.name,
              driver: task.config.driver,
              events: [...task.runner.events],
              machines: {
                runner: { ...track.machines.runner, transitions: [...track.machines.runner.transitions] },
                hook: { ...track.machines.hook, transitions: [...track.machines.hook.transitions] },
              },
              samples: [...track.samples],
            },
          ];
        }),
      })),
    }),
    subscribe(send) {
      subscribers.add(send);
      return () => {
        subscribers.delete(send);
        if (subscribers.size === 0) queue = [];
      };
    },
    get subscribers() {
      return subscribers.size;
    },
    flush,
    close() {
      bus.off('task:state', onState);
      bus.off('task:event', onEvent);
      bus.off('task:stats', onStats);
      for (const subscription of inspections) subscription.unsubscribe();
      inspections.length = 0;
      clearTimeout(timer);
      timer = undefined;
      subscribers.clear();
      queue = [];
    },
  };
}
