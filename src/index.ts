/**
 * taskpulse's public API: supervise tasks with XState actors and stream their resource usage.
 */

// Machines (pure; effects provided by the runtime below)
export { type BackoffOptions, DEFAULT_BACKOFF, type Jitter } from '../machines/backoff.js';
export { classifyOpenError, type OpenErrorClass } from '../machines/open-error.js';
export { DEFAULT_RESTART_POLICIES, type JobType, type RestartPolicy } from '../machines/restart-policy.js';
export {
  type StatsHookInput,
  type StatsHookOutput,
  type StatsHookStopReason,
  statsHookMachine,
} from '../machines/stats-hook.machine.js';
export { type TaskExit, type TaskRunnerOutput, taskRunnerMachine } from '../machines/task-runner.machine.js';
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
} from './agent/create-agent.js';
export { parseDuration } from './agent/duration.js';
export {
  checkHttpBinding,
  createHttpApi,
  DEFAULT_HTTP_LIMITS,
  DEFAULT_HTTP_PORT,
  type HttpApi,
  type HttpApiOptions,
  HttpConfigError,
  type HttpLimits,
  type Route,
} from './agent/http-api.js';
export { HttpError, type RouteContext, sendJson } from './agent/http-server.js';
export { type Job, type JobGroup, type JobInput, type JobTask, jobSchema } from './agent/job-schema.js';
export {
  formatProblem,
  JobFileError,
  type JobProblem,
  loadJobFile,
  parseJob,
  parseJobText,
} from './agent/load-job.js';
export {
  createMetricsSink,
  DEFAULT_METRICS_PREFIX,
  type MetricLabels,
  type MetricsJson,
  type MetricsSink,
  type MetricsSinkOptions,
  NOMAD_METRICS_PREFIX,
} from './agent/metrics.js';
// Drivers
export type {
  DriverCapabilities,
  ExitResult,
  StopOptions,
  TaskDriver,
  TaskHandle,
  TaskResources,
  TaskSpec,
} from './drivers/contract.js';
export { type CpuTracker, createCpuTracker } from './drivers/cpu-tracker.js';
export { createDockerDriver, type DockerDriver, type DockerDriverOptions } from './drivers/docker/index.js';
export {
  DRIVER_ERROR_CODES,
  DriverError,
  PluginShutdownError,
  RecoverableError,
  StatsNotImplementedError,
  TaskNotFoundError,
} from './drivers/errors.js';
export { createExecDriver, type ExecDriver, type ExecDriverOptions } from './drivers/exec/index.js';
export {
  createMockDriver,
  type MockDriver,
  type MockDriverOptions,
  type MockStatsStep,
  type MockTaskScript,
} from './drivers/mock.js';
export type {
  CpuMeasurement,
  CpuStats,
  MemoryMeasurement,
  MemoryStats,
  ResourceUsage,
  TaskResourceUsage,
} from './drivers/usage.js';
export { publishableMetrics, sumResourceUsage } from './drivers/usage.js';
export { findSampleProblem, isValidSample, type SampleProblem } from './drivers/validate-sample.js';
export { MACHINES, renderMachineFiles, toDefinitionJson, toMermaid } from './machines-render.js';
// Runtime
export { createSupervisorRoot, type InspectOption } from './runtime/actor-system.js';
export {
  createBus,
  type TaskBus,
  type TaskBusEvents,
  type TaskEvent,
  type TaskEventType,
  type TaskRef,
} from './runtime/bus.js';
export type { Logger } from './runtime/logger.js';
export { MissingPackageError } from './runtime/optional-package.js';
export {
  type CreateStatsHookOptions,
  createStatsHook,
  type DriverStats,
  type StatsHook,
  type StatsUpdater,
} from './stats-hook/create-stats-hook.js';
export {
  type CreateTaskRunnerOptions,
  createTaskRunner,
  type LatestResourceUsage,
  type TaskRunner,
} from './task-runner/create-task-runner.js';
export type {
  AnyTaskHook,
  ExitedHook,
  PoststartHook,
  PrestartHook,
  ShutdownHook,
  StopHook,
  TaskHook,
  TaskHookContext,
} from './task-runner/hooks.js';
export { type StatsTaskHook, statsTaskHook } from './task-runner/stats-task-hook.js';
