/**
 * The Prometheus sink: one gauge per Nomad metric name (`memory.rss` → `<prefix>_memory_rss`), labels
 * `job, task_group, alloc_id, task, namespace`, in a registry of its own (never prom-client's global
 * one, so an embedding application's metrics stay its own). It listens on the bus: a sample sets only
 * the gauges in its `metrics` map (already filtered to non-zero or measured values), and a task's
 * series are removed when its stats end, so an exited task does not linger with stale figures.
 * Each task's state, restarts, OOM kills and exit code (`lifecycle-metrics.ts`) stay; the process's
 * own metrics (prom-client's defaults) are added when asked for.
 */
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { TaskBus, TaskBusEvents, TaskRef } from '../runtime/bus.js';
import { DEFAULT_METRICS_PREFIX } from './defaults.js';
import { trackLifecycleMetrics } from './lifecycle-metrics.js';

export { DEFAULT_METRICS_PREFIX };
/** The prefix Nomad's own dashboards query. */
export const NOMAD_METRICS_PREFIX = 'nomad_client_allocs';

export interface MetricLabels {
  job: string;
  task_group: string;
  alloc_id: string;
  task: string;
  namespace: string;
}

const LABEL_NAMES = ['job', 'task_group', 'alloc_id', 'task', 'namespace'] as const;

const HELP: Record<string, string> = {
  'memory.rss': 'Resident set size of the task, bytes.',
  'memory.cache': 'Page cache charged to the task, bytes.',
  'memory.swap': 'Swap used by the task, bytes.',
  'memory.mapped_file': 'Memory-mapped files of the task, bytes.',
  'memory.usage': 'Total memory usage of the task, bytes.',
  'memory.max_usage': 'Peak memory usage of the task, bytes.',
  'memory.kernel_usage': 'Kernel memory of the task, bytes.',
  'memory.kernel_max_usage': 'Peak kernel memory of the task, bytes.',
  'cpu.total_percent': 'CPU use of the task, percent of one core.',
  'cpu.system': 'CPU in kernel mode, percent of one core.',
  'cpu.user': 'CPU in user mode, percent of one core.',
  'cpu.throttled_time': 'Time the task was throttled, nanoseconds.',
  'cpu.throttled_periods': 'Periods in which the task was throttled.',
  'cpu.total_ticks': 'CPU consumed by the task, MHz.',
  'cpu.total_time': 'CPU time of the task since it started, nanoseconds.',
  'cpu.user_time': 'CPU time of the task in user mode since it started, nanoseconds.',
  'cpu.system_time': 'CPU time of the task in kernel mode since it started, nanoseconds.',
};

/** Nomad's `/v1/metrics` JSON shape (taskpulse publishes no samples). */
export interface MetricsJson {
  Timestamp: string;
  Gauges: { Name: string; Value: number; Labels: Record<string, string> }[];
  Counters: { Name: string; Count: number; Sum: number; Labels: Record<string, string> }[];
  Samples: never[];
}

const LINT_FAILING_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

let processRegistry: Registry | undefined;
/**
 * prom-client's default metrics (process CPU, memory, fds, event loop, GC) in a registry of their
 * own, made once per process: they describe the process, and each collection starts observers
 * that are never stopped.
 */
function processMetricsRegistry(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
    // Gauges named like counters, which `promtool check metrics` refuses; each is the sum of the
    // per-type gauge of the same name without `_total`.
    for (const name of LINT_FAILING_DEFAULTS) processRegistry.removeSingleMetric(name);
  }
  return processRegistry;
}

export interface MetricsSinkOptions {
  bus: TaskBus;
  /** Labels of a task; undefined skips the task (not one of ours). */
  labelsFor(ref: TaskRef): MetricLabels | undefined;
  /** Default `taskpulse_task`; `nomad_client_allocs` matches Nomad's dashboards. */
  prefix?: string | undefined;
  /** Default: a new registry. */
  registry?: Registry | undefined;
  /** Add the process's own metrics (prom-client's defaults) to the Prometheus text. Default false. */
  processMetrics?: boolean | undefined;
}

export interface MetricsSink {
  readonly registry: Registry;
  readonly prefix: string;
  /** The Prometheus text exposition. */
  prometheus(): Promise<string>;
  readonly contentType: string;
  json(): Promise<MetricsJson>;
  /** Stops listening and drops every series. */
  close(): void;
}

export function createMetricsSink(options: MetricsSinkOptions): MetricsSink {
  const prefix = options.prefix ?? DEFAULT_METRICS_PREFIX;
  if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(prefix)) throw new Error(`invalid metrics prefix: ${prefix}`);
  const registry = options.registry ?? new Registry();
  const gauges = new Map<string, Gauge<(typeof LABEL_NAMES)[number]>>();
  /** Prometheus name → Nomad's dotted name, for the JSON form. */
  const dottedNames = new Map<string, string>();
  /**
   * Each task's latest sample event. A sample only replaces its task's entry; the gauges are
   * registered and filled from here when scraped (`collect`). Setting every gauge on every sample
   * hashed the five labels once per figure per sample (~25 µs a sample with 1,000 tasks), and the
   * event's `metrics` map is built only when read: here, at a scrape.
   */
  const latest = new Map<
    string,
    { labels: MetricLabels; stats: { readonly metrics: Map<string, number> } }
  >();
  /** A gauge per metric name published so far, registered before a scrape collects them. */
  const registerGauges = () => {
    for (const { stats } of latest.values()) for (const name of stats.metrics.keys()) gauge(name);
  };

  const gauge = (metric: string) => {
    let found = gauges.get(metric);
    if (!found) {
      const name = `${prefix}_${metric.replaceAll('.', '_')}`;
      found = new Gauge({
        name,
        help: HELP[metric] ?? metric,
        labelNames: LABEL_NAMES,
        registers: [registry],
        collect() {
          this.reset();
          for (const { labels, stats } of latest.values()) {
            const value = stats.metrics.get(metric);
            if (value !== undefined) this.set(labels, value);
          }
        },
      });
      gauges.set(metric, found);
      dottedNames.set(name, `${prefix.replaceAll('_', '.')}.${metric}`);
    }
    return found;
  };

  const onStats = (stats: TaskBusEvents['task:stats']) => {
    const known = latest.get(stats.taskId);
    // A field that stops being published (it went back to an unmeasured 0) loses its series at the
    // next scrape: only the latest event says what is there.
    if (known) {
      known.stats = stats;
      return;
    }
    const labels = options.labelsFor(stats);
    if (labels) latest.set(stats.taskId, { labels, stats });
  };
  const onEnded = (ref: TaskRef) => {
    latest.delete(ref.taskId);
  };

  options.bus.on('task:stats', onStats);
  options.bus.on('task:stats-ended', onEnded);
  const stopLifecycle = trackLifecycleMetrics({
    bus: options.bus,
    registry,
    prefix,
    labelsFor: options.labelsFor,
  });
  const dotted = (name: string) =>
    dottedNames.get(name) ?? `${prefix.replaceAll('_', '.')}.${name.slice(prefix.length + 1)}`;
  const labelsJson = (labels: Partial<Record<string, string | number>>) =>
    Object.fromEntries(Object.entries(labels).map(([key, label]) => [key, String(label)]));

  return {
    registry,
    prefix,
    contentType: registry.contentType,
    // Merged at each scrape: the usage gauges are registered then, for every metric name published.
    prometheus: () => {
      registerGauges();
      return options.processMetrics
        ? Registry.merge([registry, processMetricsRegistry()]).metrics()
        : registry.metrics();
    },
    async json() {
      registerGauges();
      const metrics = await registry.getMetricsAsJSON();
      const gaugesJson = metrics
        .filter((metric) => String(metric.type) === 'gauge')
        .flatMap((metric) =>
          metric.values.map((value) => ({
            Name: dotted(metric.name),
            Value: value.value,
            Labels: labelsJson(value.labels),
          })),
        );
      const countersJson = metrics
        .filter((metric) => String(metric.type) === 'counter')
        .flatMap((metric) =>
          metric.values.map((value) => ({
            Name: dotted(metric.name.replace(/_total$/, '')),
            Count: value.value,
            Sum: value.value,
            Labels: labelsJson(value.labels),
          })),
        );
      return { Timestamp: new Date().toISOString(), Gauges: gaugesJson, Counters: countersJson, Samples: [] };
    },
    close() {
      stopLifecycle();
      options.bus.off('task:stats', onStats);
      options.bus.off('task:stats-ended', onEnded);
      registry.clear();
      latest.clear();
    },
  };
}
