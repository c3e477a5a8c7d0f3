/**
 * taskpulse's public API: supervise tasks with XState actors and stream their resource usage.
 */

// Machines (pure; effects provided by the runtime below)
export { type BackoffOptions, DEFAULT_BACKOFF, type Jitter } from '../machines/backoff.ts';
export { classifyOpenError, type OpenErrorClass } from '../machines/open-error.ts';
export { DEFAULT_RESTART_POLICIES, type JobType, type RestartPolicy } from '../machines/restart-policy.ts';
export {
  type StatsHookInput,
  type StatsHookOutput,
  type StatsHookStopReason,
  statsHookMachine,
} from '../machines/stats-hook.machine.ts';
export { type TaskExit, type TaskRunnerOutput, taskRunnerMachine } from '../machines/task-runner.machine.ts';
// Agent
export {
  type Agent,
  type AgentSummary,
  type AgentTask,
  type Allocation,
  type CreateAgentOptions,
  createAgent,
  type StopMode,
  type TaskSummary,
} from './agent/create-agent.ts';
export { parseDuration } from './agent/duration.ts';
export {
  checkHttpBinding,
  createHttpApi,
  DEFAULT_HTTP_LIMITS,
  DEFAULT_HTTP_PORT,
  type HttpApi,
  type HttpApiOptions,
  HttpConfigError,
} from './agent/http-api.ts';
export { type Job, type JobGroup, type JobInput, type JobTask, jobSchema } from './agent/job-schema.ts';
export {
  formatProblem,
  JobFileError,
  type JobProblem,
  loadJobFile,
  parseJob,
  parseJobText,
} from './agent/load-job.ts';
export {
  createMetricsSink,
  DEFAULT_METRICS_PREFIX,
  type MetricLabels,
  type MetricsJson,
  type MetricsSink,
  type MetricsSinkOptions,
  NOMAD_METRICS_PREFIX,
} from './agent/metrics.ts';
// Drivers
export type {
  DriverCapabilities,
  ExitResult,
  StopOptions,
  TaskDriver,
  TaskHandle,
  TaskResources,
  TaskSpec,
} from './drivers/contract.ts';
export { type CpuTracker, createCpuTracker } from './drivers/cpu-tracker.ts';
export { createDockerDriver, type DockerDriver, type DockerDriverOptions } from './drivers/docker/index.ts';
export {
  DRIVER_ERROR_CODES,
  DriverError,
  PluginShutdownError,
  RecoverableError,
  StatsNotImplementedError,
  TaskNotFoundError,
} from './drivers/errors.ts';
export { createExecDriver, type ExecDriver, type ExecDriverOptions } from './drivers/exec/index.ts';
export {
  createMockDriver,
  type MockDriver,
  type MockDriverOptions,
  type MockStatsStep,
  type MockTaskScript,
} from './drivers/mock.ts';
export type {
  CpuMeasurement,
  CpuStats,
  MemoryMeasurement,
  MemoryStats,
  ResourceUsage,
  TaskResourceUsage,
} from './drivers/usage.ts';
export { publishableMetrics, sumResourceUsage } from './drivers/usage.ts';
export { findSampleProblem, isValidSample, type SampleProblem } from './drivers/validate-sample.ts';
export { MACHINES, renderMachineFiles, toDefinitionJson, toMermaid } from './machines-render.ts';
// Runtime
export { createSupervisorRoot, type InspectOption } from './runtime/actor-system.ts';
export {
  createBus,
  type TaskBus,
  type TaskBusEvents,
  type TaskEvent,
  type TaskEventType,
} from './runtime/bus.ts';
export type { Logger } from './runtime/logger.ts';
export {
  type CreateStatsHookOptions,
  createStatsHook,
  type DriverStats,
  type StatsHook,
  type StatsUpdater,
} from './stats-hook/create-stats-hook.ts';
export {
  type CreateTaskRunnerOptions,
  createTaskRunner,
  type LatestResourceUsage,
  type TaskRunner,
} from './task-runner/create-task-runner.ts';
export type {
  AnyTaskHook,
  ExitedHook,
  PoststartHook,
  PrestartHook,
  ShutdownHook,
  StopHook,
  TaskHook,
  TaskHookContext,
} from './task-runner/hooks.ts';
export { type StatsTaskHook, statsTaskHook } from './task-runner/stats-task-hook.ts';
