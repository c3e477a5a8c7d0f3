/**
 * The contract's values as the protocol's messages (proto/taskpulse/driver/v1/driver.proto) and
 * back, as @grpc/proto-loader presents them (camelCase fields, int64 as numbers, unset messages
 * as null). A driver's `config` travels as a google.protobuf.Struct.
 */
import type { ExitResult, TaskHandle, TaskLogPolicy, TaskSpec } from '../drivers/contract.js';
import {
  CPU_TIME_FIELDS,
  type CpuMeasurement,
  type CpuStats,
  type MemoryMeasurement,
  type MemoryStats,
  type ResourceUsage,
  type TaskResourceUsage,
} from '../drivers/usage.js';

type Message = Record<string, unknown>;

// google.protobuf.Value / Struct
type ProtoValue =
  | { kind: 'nullValue'; nullValue: 'NULL_VALUE' }
  | { kind: 'numberValue'; numberValue: number }
  | { kind: 'stringValue'; stringValue: string }
  | { kind: 'boolValue'; boolValue: boolean }
  | { kind: 'structValue'; structValue: ProtoStruct }
  | { kind: 'listValue'; listValue: { values: ProtoValue[] } };
interface ProtoStruct {
  fields: Record<string, ProtoValue>;
}

function toValue(value: unknown): ProtoValue {
  if (value === null || value === undefined) return { kind: 'nullValue', nullValue: 'NULL_VALUE' };
  if (typeof value === 'number') return { kind: 'numberValue', numberValue: value };
  if (typeof value === 'string') return { kind: 'stringValue', stringValue: value };
  if (typeof value === 'boolean') return { kind: 'boolValue', boolValue: value };
  if (Array.isArray(value)) return { kind: 'listValue', listValue: { values: value.map(toValue) } };
  if (typeof value === 'object') return { kind: 'structValue', structValue: toStruct(value as Message) };
  throw new TypeError(`task config cannot carry a ${typeof value}`);
}

export function toStruct(object: Readonly<Record<string, unknown>>): ProtoStruct {
  const fields: Record<string, ProtoValue> = {};
  for (const [key, value] of Object.entries(object)) if (value !== undefined) fields[key] = toValue(value);
  return { fields };
}

function fromValue(value: ProtoValue): unknown {
  switch (value.kind) {
    case 'numberValue':
      return value.numberValue;
    case 'stringValue':
      return value.stringValue;
    case 'boolValue':
      return value.boolValue;
    case 'structValue':
      return fromStruct(value.structValue);
    case 'listValue':
      return (value.listValue.values ?? []).map(fromValue);
    default:
      return null;
  }
}

export function fromStruct(struct: ProtoStruct | null | undefined): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(struct?.fields ?? {})) object[key] = fromValue(value);
  return object;
}

export function specToProto(spec: TaskSpec): Message {
  return {
    id: spec.id,
    name: spec.name,
    allocId: spec.allocId ?? '',
    config: toStruct(spec.config),
    env: { ...spec.env },
    resources: spec.resources
      ? { cpuMhz: spec.resources.cpuMhz ?? 0, memoryMb: spec.resources.memoryMb ?? 0 }
      : null,
    logs: spec.logs ?? null,
  };
}

export function specFromProto(message: Message): TaskSpec {
  const env = message.env as Record<string, string>;
  const resources = message.resources as { cpuMhz: number; memoryMb: number } | null;
  const logs = message.logs as TaskLogPolicy | null;
  return {
    id: message.id as string,
    name: message.name as string,
    ...(message.allocId ? { allocId: message.allocId as string } : {}),
    config: fromStruct(message.config as ProtoStruct),
    ...(Object.keys(env).length > 0 ? { env } : {}),
    ...(resources
      ? {
          resources: {
            ...(resources.cpuMhz ? { cpuMhz: resources.cpuMhz } : {}),
            ...(resources.memoryMb ? { memoryMb: resources.memoryMb } : {}),
          },
        }
      : {}),
    ...(logs ? { logs: { maxFiles: logs.maxFiles, maxFileSizeBytes: logs.maxFileSizeBytes } } : {}),
  };
}

export function handleToProto(handle: TaskHandle): Message {
  return {
    taskId: handle.taskId,
    startedAt: handle.startedAt,
    pid: handle.pid ?? 0,
    driverId: handle.driverId ?? '',
    driverState: handle.driverState ? toStruct(handle.driverState) : null,
  };
}

export function handleFromProto(message: Message): TaskHandle {
  return {
    taskId: message.taskId as string,
    startedAt: message.startedAt as number,
    ...(message.pid ? { pid: message.pid as number } : {}),
    ...(message.driverId ? { driverId: message.driverId as string } : {}),
    ...(message.driverState ? { driverState: fromStruct(message.driverState as ProtoStruct) } : {}),
  };
}

export function exitToProto(exit: ExitResult): Message {
  return {
    hasExitCode: exit.exitCode !== null,
    exitCode: exit.exitCode ?? 0,
    signal: exit.signal ?? '',
    oomKilled: exit.oomKilled,
    error: exit.error?.message ?? '',
    exitCodeUnknown: exit.exitCodeUnknown ?? false,
  };
}

export function exitFromProto(message: Message): ExitResult {
  return {
    exitCode: message.hasExitCode ? (message.exitCode as number) : null,
    signal: (message.signal as string) || null,
    oomKilled: message.oomKilled as boolean,
    ...(message.error ? { error: new Error(message.error as string) } : {}),
    ...(message.exitCodeUnknown ? { exitCodeUnknown: true } : {}),
  };
}

function memoryFromProto(message: Message): MemoryStats {
  return {
    rss: message.rss as number,
    cache: message.cache as number,
    swap: message.swap as number,
    mappedFile: message.mappedFile as number,
    usage: message.usage as number,
    maxUsage: message.maxUsage as number,
    kernelUsage: message.kernelUsage as number,
    kernelMaxUsage: message.kernelMaxUsage as number,
    measured: message.measured as MemoryMeasurement[],
  };
}

function cpuFromProto(message: Message): CpuStats {
  return {
    systemMode: message.systemMode as number,
    userMode: message.userMode as number,
    percent: message.percent as number,
    totalTicks: message.totalTicks as number,
    throttledPeriods: message.throttledPeriods as number,
    throttledTime: message.throttledTime as number,
    ...cumulativeTimesFromProto(message),
    measured: message.measured as CpuMeasurement[],
  };
}

/** The cumulative CPU times go as plain fields: they are the sample's exactly when `measured` names them. */
function cumulativeTimesFromProto(message: Message): Pick<CpuStats, 'totalTime' | 'userTime' | 'systemTime'> {
  const measured = message.measured as string[];
  const times: Pick<CpuStats, 'totalTime' | 'userTime' | 'systemTime'> = {};
  for (const [field, name] of CPU_TIME_FIELDS) {
    if (measured.includes(name)) times[field] = message[field] as number;
  }
  return times;
}

function resourceUsageFromProto(message: Message | null): ResourceUsage {
  const usage: ResourceUsage = {};
  if (message?.memory) usage.memory = memoryFromProto(message.memory as Message);
  if (message?.cpu) usage.cpu = cpuFromProto(message.cpu as Message);
  return usage;
}

/** MemoryStats and CpuStats already have the message's field names: they go as they are. */
function resourceUsageToProto(usage: ResourceUsage): Message {
  return { memory: usage.memory ?? null, cpu: usage.cpu ?? null };
}

export function usageToProto(sample: TaskResourceUsage): Message {
  const message: Message = {
    resourceUsage: resourceUsageToProto(sample.resourceUsage),
    timestamp: sample.timestamp,
  };
  if (sample.pids) {
    const pids: Record<string, Message> = {};
    for (const [pid, usage] of Object.entries(sample.pids)) pids[pid] = resourceUsageToProto(usage);
    message.pids = pids;
  }
  return message;
}

export function usageFromProto(message: Message): TaskResourceUsage {
  const sample: TaskResourceUsage = {
    resourceUsage: resourceUsageFromProto(message.resourceUsage as Message | null),
    timestamp: message.timestamp as number,
  };
  const pids = message.pids as Record<string, Message> | undefined;
  if (pids && Object.keys(pids).length > 0) {
    sample.pids = {};
    for (const [pid, usage] of Object.entries(pids)) sample.pids[pid] = resourceUsageFromProto(usage);
  }
  return sample;
}
