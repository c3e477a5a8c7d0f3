/**
 * An embedder's TypeScript, type-checked by test/package/consumer.test.ts against the installed
 * package (NodeNext, strict, exactOptionalPropertyTypes): every entry point, the options an
 * orchestration service passes, the bus's typed events, and the errors it catches. It is never run.
 */
import pino from 'pino';
import {
  type Agent,
  type AgentSummary,
  createAgent,
  createBus,
  createDockerDriver,
  createExecDriver,
  createMetricsSink,
  createMockDriver,
  createStatsHook,
  createSupervisorRoot,
  createTaskRunner,
  DEFAULT_RESTART_POLICIES,
  DriverError,
  findSampleProblem,
  type Job,
  JobFileError,
  type LatestResourceUsage,
  loadJobFile,
  MissingPackageError,
  parseJob,
  RecoverableError,
  type TaskDriver,
  type TaskRef,
  type TaskResourceUsage,
  type TaskRunner,
  type TaskSpec,
  taskRunnerMachine,
} from 'taskpulse';
import { createPluginDriver, type PluginDriver, servePlugin } from 'taskpulse/plugin';
import { createMachineCoverage, createMachineTestModel, runSoak, withFaults } from 'taskpulse/testing';

const logger = pino({ level: 'warn' });
const bus = createBus();
bus.on('task:stats', ({ name, allocId, sample, metrics }) => {
  const cpu: number | undefined = sample.resourceUsage.cpu?.percent;
  const rss: number | undefined = metrics.get('memory.rss');
  logger.info({ name, allocId, cpu, rss }, 'sample');
});
bus.on('task:event', ({ event }) => {
  const exit: number | null | undefined = event.exitCode;
  logger.info({ type: event.type, exit }, event.message);
});
bus.on('task:state', ({ state, failed }) => logger.info({ state, failed }, 'state'));

const job: Job = parseJob({
  name: 'reports',
  type: 'batch',
  groups: [
    {
      name: 'nightly',
      restart: { attempts: 2, delay: '2s', interval: '10m', mode: 'fail' },
      tasks: [{ name: 'render', driver: 'exec', config: { command: 'node', args: ['render.js'] } }],
    },
  ],
});

async function runAgent(): Promise<AgentSummary> {
  const agent: Agent = createAgent({
    jobs: [job, await loadJobFile('jobs/web.yaml')],
    bus,
    logger,
    http: { port: 0, host: '127.0.0.1', limits: { maxConnections: 16 } },
    drivers: { exec: createExecDriver({ logger, cgroups: false }) },
    onStop: 'kill',
    shutdownDeadlineMs: 15_000,
  });
  await agent.start();
  const url: string | undefined = agent.url;
  logger.info({ url }, 'agent running');
  process.once('SIGTERM', () => void agent.stop({ mode: 'detach' }));
  return agent.done;
}

const spec: TaskSpec = {
  id: 'alloc-1/web',
  name: 'web',
  allocId: 'alloc-1',
  config: { runForMs: 1000 },
  resources: { memoryMb: 256 },
};
const drivers: TaskDriver[] = [
  createMockDriver({ defaults: { runForMs: 1000, cpuPercent: 40 } }),
  createDockerDriver({ socketPath: '/var/run/docker.sock', logger }),
  withFaults(createMockDriver(), { seed: 7, openFaultRate: 0.5 }),
];
const runner: TaskRunner = createTaskRunner({
  task: spec,
  driver: drivers[0] ?? createMockDriver(),
  bus,
  logger,
  parent: createSupervisorRoot({ id: 'service' }),
  jobType: 'service',
  restartPolicy: { ...DEFAULT_RESTART_POLICIES.service, attempts: 3 },
  killSignal: 'SIGINT',
  hooks: [{ name: 'audit', poststart: async ({ task }) => logger.info({ task: task.id }, 'started') }],
});
runner.start();
const latest: LatestResourceUsage | undefined = runner.latestResourceUsage();
const last: TaskResourceUsage | undefined = latest?.sample;
void last;

const hook = createStatsHook({
  taskId: spec.id,
  stats: { stats: (intervalMs, signal) => drivers[0]!.taskStats(spec.id, intervalMs, signal) },
  updater: { updateStats: (sample) => void findSampleProblem(sample) },
  backoff: { baseMs: 1000 },
});
void hook;

const sink = createMetricsSink({
  bus,
  prefix: 'svc_task',
  labelsFor: (ref: TaskRef) =>
    ref.allocId === undefined
      ? undefined
      : {
          job: 'reports',
          task_group: 'nightly',
          alloc_id: ref.allocId,
          task: ref.name,
          namespace: 'default',
        },
});
void sink.prometheus();

function describe(error: unknown): string {
  if (error instanceof MissingPackageError) return `install ${error.packageName} for ${error.neededFor}`;
  if (error instanceof JobFileError) return error.problems.map((problem) => problem.message).join('; ');
  if (error instanceof RecoverableError) return error.recoverable ? 'retry' : 'give up';
  if (error instanceof DriverError) return error.code;
  return String(error);
}

const model = createMachineTestModel(taskRunnerMachine);
const coverage = createMachineCoverage(taskRunnerMachine);
void model;
void coverage;
void runSoak;
runAgent().catch((error: unknown) => logger.error(describe(error)));

// Drivers out of process: serve one, or launch one and use it as any other driver.
export async function plugins(): Promise<void> {
  const server = await servePlugin(createMockDriver(), { logger });
  const remote: PluginDriver = await createPluginDriver({
    command: 'npx',
    args: ['taskpulse', 'plugin', 'exec'],
    env: { TASKPULSE_PLUGIN_LOG_LEVEL: 'warn' },
    logger,
  });
  createTaskRunner({ task: spec, driver: remote, bus, logger });
  await remote.stop();
  await server.shutdown();
}

// Settings from a service's own configuration, where anything may be unset: passed on as they are.
interface ServiceConfig {
  logDir?: string | undefined;
  cgroupParent?: string | undefined;
  dockerSocket?: string | undefined;
  dockerApi?: string | undefined;
  port?: number | undefined;
  host?: string | undefined;
  token?: string | undefined;
  metricsPrefix?: string | undefined;
  intervalMs?: number | undefined;
  killSignal?: NodeJS.Signals | undefined;
  killTimeoutMs?: number | undefined;
  deadlineMs?: number | undefined;
}

export function fromConfig(config: ServiceConfig, jobs: Job[]): Agent {
  const exec = createExecDriver({ logDir: config.logDir, cgroupParent: config.cgroupParent, logger });
  const docker = createDockerDriver({
    socketPath: config.dockerSocket ?? '/var/run/docker.sock',
    apiVersion: config.dockerApi,
    logger,
  });
  createTaskRunner({
    task: spec,
    driver: exec,
    statsIntervalMs: config.intervalMs,
    killSignal: config.killSignal,
    killTimeoutMs: config.killTimeoutMs,
    logger,
    bus: undefined,
  });
  return createAgent({
    jobs,
    drivers: { exec, docker },
    logger,
    http: { port: config.port, host: config.host, token: config.token },
    metricsPrefix: config.metricsPrefix,
    shutdownDeadlineMs: config.deadlineMs,
    execLogDir: config.logDir,
    execCgroupParent: config.cgroupParent,
    dockerSocketPath: config.dockerSocket,
  });
}
