/**
 * Defaults and limits the CLI's option parsers need before any command runs. They live here, in a
 * module without imports, so `taskpulse --version` and `--help` load neither zod (the job schema)
 * nor prom-client (the metrics sink); the modules they belong to re-export them.
 */

/**
 * The longest duration a Node timer honours (2^31 - 1 ms, about 24.8 days): a longer one fires at
 * once (TimeoutOverflowWarning), which would turn a "huge" interval into a busy loop.
 */
export const MAX_DURATION_MS = 2 ** 31 - 1;

/** Sampling faster than this would make the agent a busy loop (0 ms would spin). */
export const MIN_STATS_INTERVAL_MS = 10;

export const DEFAULT_HTTP_PORT = 4646;

export const DEFAULT_METRICS_PREFIX = 'taskpulse_task';
