/**
 * The job file schema (zod 4). A job has groups; a group has tasks; each group becomes one
 * allocation per `count`. Names follow Nomad's job spec where it has one (`restart`, `resources`,
 * `kill_timeout`, `kill_signal`); durations are strings with a unit like `"500ms"`, `"5s"`, `"1m"`.
 * In a job file a bare number is refused (is `5` seconds or milliseconds?); in code (`parseJob`)
 * a number is milliseconds, as every `…Ms` option of the API. Parsing returns the normalised job:
 * durations in ms, defaults filled in.
 */
import { z } from 'zod';
import { MAX_DURATION_MS, MIN_STATS_INTERVAL_MS } from './defaults.js';
import { formatDuration, isUnitless, parseDuration, unitHint } from './duration.js';

export { MAX_DURATION_MS, MIN_STATS_INTERVAL_MS, unitHint };

const name = z
  .string()
  .max(128, 'must be at most 128 characters')
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'must be letters, digits, "_", "." or "-", starting alphanumeric');

/** Strings handed to the OS (argv, env, paths) cannot hold NUL: `spawn` would throw at start time. */
const osString = z.string().refine((value) => !value.includes('\0'), 'must not contain a NUL byte');

const DURATION_MESSAGE = 'expected a duration like "500ms", "5s" or "1m30s"';

/** Where a job comes from: a file, where a bare number is refused, or code, where it is milliseconds. */
export type DurationNumbers = 'refused' | 'milliseconds';

/** A duration in ms at least `minMs`: a string with units (or, from code, a number of ms). */
const duration = (minMs: number, numbers: DurationNumbers) =>
  z.union([z.number(), z.string()], { error: DURATION_MESSAGE }).transform((value, ctx) => {
    const text = String(value).trim();
    const unitless = numbers === 'refused' && Number.isFinite(Number(value)) && isUnitless(text);
    const ms = typeof value === 'number' ? value : parseDuration(value);
    const problem = unitless
      ? unitHint(text)
      : ms === undefined || !Number.isFinite(ms)
        ? DURATION_MESSAGE
        : ms < minMs
          ? `must be at least ${formatDuration(minMs)}`
          : ms > MAX_DURATION_MS
            ? `must be at most ${MAX_DURATION_MS}ms (about 24.8 days)`
            : undefined;
    if (problem !== undefined || ms === undefined) {
      ctx.addIssue({ code: 'custom', message: problem ?? DURATION_MESSAGE, input: value });
      return z.NEVER;
    }
    return ms;
  });

const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGKILL'] as const;

const resourcesSchema = z.strictObject({
  /** MHz, as Nomad's `cpu`. */
  cpu: z.number().positive().optional(),
  /** MiB. */
  memory: z.number().positive().optional(),
  /** Hard CPU cap in cores (exec with cgroups: a CFS quota). */
  cores: z.number().positive().optional(),
});

/** Nomad's `logs`: files kept per stream (the live one included), and their size in MB. */
const logsSchema = z.strictObject({
  max_files: z.number().int().min(1).max(1000).optional(),
  max_file_size: z.number().int().min(1).max(10_000).optional(),
});

const execConfig = z.strictObject({
  command: osString.min(1),
  args: z.array(osString).optional(),
  cwd: osString.min(1).optional(),
});

const dockerConfig = z.strictObject({
  image: z.string().min(1),
  command: z.array(z.string()).optional(),
  entrypoint: z.array(z.string()).optional(),
  cpus: z.number().positive().optional(),
});

const mockError = z.strictObject({
  error: z.enum(['recoverable', 'unrecoverable', 'plugin-shutdown', 'not-found', 'other']),
  message: z.string().optional(),
});

const mockStatsStep = z.union([
  z.strictObject({ notImplemented: z.literal(true) }),
  z.strictObject({ openError: mockError }),
  z.strictObject({ hang: z.literal(true) }),
  z.strictObject({ samples: z.number().int().nonnegative(), thenHang: z.literal(true) }),
  z.strictObject({ samples: z.number().int().nonnegative().optional(), thenThrow: mockError.optional() }),
]);

/** The mock driver's script (see `MockTaskScript`); durations in ms. */
const mockConfig = z.strictObject({
  runForMs: z.number().nonnegative().max(MAX_DURATION_MS).optional(),
  exitCode: z.number().int().min(0).max(255).optional(),
  oomKilled: z.boolean().optional(),
  startError: mockError.optional(),
  startFailures: z.number().int().nonnegative().optional(),
  ignoreStopSignal: z.boolean().optional(),
  stats: z.array(mockStatsStep).min(1).optional(),
  cpuPercent: z.number().nonnegative().optional(),
  rssBytes: z.number().nonnegative().optional(),
});

/** The job schema, for durations read from a file (`refused` bare numbers) or from code. */
function buildJobSchema(numbers: DurationNumbers) {
  const restartSchema = z.strictObject({
    attempts: z.number().int().nonnegative(),
    interval: duration(0, numbers),
    delay: duration(0, numbers),
    mode: z.enum(['fail', 'delay']),
  });

  const taskCommon = {
    name,
    env: z
      .record(
        osString.min(1).refine((key) => !key.includes('='), 'must not contain "="'),
        osString,
      )
      .optional(),
    resources: resourcesSchema.optional(),
    logs: logsSchema.optional(),
    stats_interval: duration(MIN_STATS_INTERVAL_MS, numbers).optional(),
    kill_timeout: duration(0, numbers).optional(),
    kill_signal: z.enum(SIGNALS).optional(),
  };

  const taskSchema = z.discriminatedUnion(
    'driver',
    [
      z.strictObject({ ...taskCommon, driver: z.literal('exec'), config: execConfig }),
      z.strictObject({ ...taskCommon, driver: z.literal('docker'), config: dockerConfig }),
      z.strictObject({ ...taskCommon, driver: z.literal('mock'), config: mockConfig.default({}) }),
      // An external driver plugin named in the job's `plugins`; its config is the plugin's own.
      z.strictObject({
        ...taskCommon,
        driver: z.literal('plugin'),
        plugin: name,
        config: z.record(z.string(), z.unknown()).default({}),
      }),
    ],
    { error: 'expected driver "exec", "docker", "mock" or "plugin"' },
  );

  const pluginSchema = z.strictObject({
    command: osString.min(1),
    args: z.array(osString).optional(),
    env: z.record(osString.min(1), osString).optional(),
  });

  const groupSchema = z.strictObject({
    name,
    count: z.number().int().min(1).max(1000).default(1),
    restart: restartSchema.partial().optional(),
    tasks: z.array(taskSchema).min(1, 'a group needs at least one task'),
  });

  return z
    .strictObject({
      name,
      type: z.enum(['batch', 'service']).default('service'),
      namespace: name.default('default'),
      groups: z.array(groupSchema).min(1, 'a job needs at least one group'),
      /** External driver plugins by name (docs/plugins.md): a task uses one with `driver: plugin`. */
      plugins: z.record(name, pluginSchema).optional(),
    })
    .superRefine((job, ctx) => {
      job.groups.forEach((group, groupIndex) => {
        group.tasks.forEach((task, taskIndex) => {
          if (task.driver !== 'plugin' || job.plugins?.[task.plugin]) return;
          ctx.addIssue({
            code: 'custom',
            path: ['groups', groupIndex, 'tasks', taskIndex, 'plugin'],
            message: `no plugin "${task.plugin}" in the job's plugins`,
            input: task.plugin,
          });
        });
      });
      // Names are ids (metric labels, task ids): a duplicate would merge two series into one.
      duplicates(job.groups.map((group) => group.name)).forEach((index) => {
        ctx.addIssue({
          code: 'custom',
          path: ['groups', index, 'name'],
          message: 'duplicate group name',
          input: job.groups[index]?.name,
        });
      });
      job.groups.forEach((group, groupIndex) => {
        duplicates(group.tasks.map((task) => task.name)).forEach((index) => {
          ctx.addIssue({
            code: 'custom',
            path: ['groups', groupIndex, 'tasks', index, 'name'],
            message: 'duplicate task name in the group',
            input: group.tasks[index]?.name,
          });
        });
      });
    });
}

/** Jobs from code (`parseJob`, the API): a number is milliseconds. */
export const jobSchema = buildJobSchema('milliseconds');
/** Jobs from files: a bare number is refused with a hint, so `5` is never silently 5 ms. */
export const jobFileSchema = buildJobSchema('refused');

function duplicates(names: string[]): number[] {
  return names.flatMap((value, index) => (names.indexOf(value) < index ? [index] : []));
}

/** A job as parsed: durations in ms, defaults filled in. */
export type Job = z.output<typeof jobSchema>;
export type JobGroup = Job['groups'][number];
export type JobTask = JobGroup['tasks'][number];
export type JobRestart = NonNullable<JobGroup['restart']>;
/** A job as written in a file. */
export type JobInput = z.input<typeof jobSchema>;
