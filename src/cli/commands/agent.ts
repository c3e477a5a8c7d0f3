/**
 * `taskpulse agent <job files…>`: runs jobs, serves the HTTP API, ends when every task is dead.
 * The agent's modules are imported when the command runs, so other commands do not load them.
 */
import { type Command, Option } from 'commander';
import { DEFAULT_HTTP_PORT, DEFAULT_METRICS_PREFIX } from '../../agent/defaults.js';
import { DATA_DIR_HELP, defaultDataDir } from '../../agent/state/data-dir.js';
import { CliError, EXIT, exitCodesHelp } from '../errors.js';
import {
  cgroupParentOption,
  durationArg,
  type InspectFlags,
  inspectOptions,
  inspectSettings,
  metricsPrefixArg,
  outputOption,
  portArg,
} from '../options.js';
import type { GlobalFlags } from '../program.js';

interface AgentFlags extends InspectFlags {
  port: number;
  host: string;
  token?: string;
  http: boolean;
  ui: boolean;
  keepServing?: boolean;
  onSignal: 'kill' | 'detach';
  shutdownDeadline: number;
  metricsPrefix: string;
  output?: string;
  execLogDir?: string;
  keepLogs?: boolean;
  cgroupParent?: string;
  dockerSocket?: string;
  execPlugin?: boolean;
  /** A path, false for `--no-data-dir`, undefined for the default. */
  dataDir?: string | false;
}

export function registerAgent(program: Command, globals: () => Promise<GlobalFlags>): void {
  const command = program
    .command('agent')
    .description('run jobs: one allocation per group, one supervised task runner per task, an HTTP API')
    .argument('<jobs...>', 'job files (JSON or YAML)')
    .addOption(
      new Option('--port <port>', 'HTTP API port (0: any free port)')
        .argParser(portArg)
        .default(DEFAULT_HTTP_PORT),
    )
    .option('--host <host>', 'HTTP API address (not loopback: needs a token)', '127.0.0.1')
    .addOption(new Option('--token <token>', 'bearer token the HTTP API requires').env('TASKPULSE_TOKEN'))
    .option('--no-http', 'do not serve the HTTP API')
    .option('--no-ui', 'do not serve the web UI at /ui (live charts and machines)')
    .option('--keep-serving', 'keep running (and serving the API) after every task is dead, until a signal')
    .addOption(
      new Option(
        '--on-signal <mode>',
        'on SIGINT/SIGTERM: kill the tasks (and clear the saved state), or detach and leave tasks and plugins running for the next agent',
      )
        .choices(['kill', 'detach'])
        .default('kill'),
    )
    .option(
      '--data-dir <dir>',
      `where the agent saves its state and takes its lock; a new agent on it recovers the tasks (default: ${DATA_DIR_HELP})`,
    )
    .option('--no-data-dir', 'save no state: the tasks of a crashed or detached agent are not recovered')
    .addOption(
      new Option('--shutdown-deadline <duration>', 'how long a stop waits for the tasks')
        .argParser(durationArg)
        .default(30_000, '30s'),
    )
    .addOption(
      new Option(
        '--metrics-prefix <prefix>',
        'Prometheus metric prefix (nomad_client_allocs for Nomad dashboards)',
      )
        .argParser(metricsPrefixArg)
        .default(DEFAULT_METRICS_PREFIX),
    )
    .addOption(outputOption())
    .option('--exec-log-dir <dir>', 'where the exec driver writes task stdout/stderr')
    .option('--keep-logs', "keep the tasks' log files when the agent ends (removed with it by default)")
    .addOption(cgroupParentOption())
    .option(
      '--docker-socket <path>',
      'Docker Engine socket (default: DOCKER_HOST, else /var/run/docker.sock)',
    )
    .option(
      '--exec-plugin',
      'run the exec driver out of process, as a `taskpulse plugin exec` (docs/plugins.md)',
    );
  for (const option of inspectOptions()) command.addOption(option);
  command
    .addHelpText(
      'after',
      `
Examples:
  $ taskpulse agent examples/demo.job.yaml
  $ taskpulse agent --port 0 --output json jobs/*.yaml > samples.jsonl
  $ taskpulse agent --keep-serving --metrics-prefix nomad_client_allocs web.job.yaml
  $ curl -s 'http://127.0.0.1:4646/v1/metrics?format=prometheus'

Signals: INT, TERM, HUP, QUIT (also XCPU, PWR) stop the tasks (or detach, --on-signal); a second
one SIGKILLs every task process and exits 130. USR2, ALRM, VTALRM, PROF, IO, XFSZ are ignored (a
warn line). SIGKILL of the agent leaves the tasks running, as a detach does: the next agent on the
same --data-dir recovers them (docs/recovery.md).

${exitCodesHelp([
  [EXIT.ok, 'every task ended well, or SIGINT/SIGTERM stopped the agent and its tasks in time'],
  [EXIT.taskFailed, 'a task failed, or a stop had to force-kill tasks at --shutdown-deadline'],
  [
    EXIT.usage,
    'bad usage, an invalid job file, an unusable output path, or a saved state that is corrupt, newer, or locked by another agent (nothing started)',
  ],
  [EXIT.forced, 'a second SIGINT/SIGTERM forced the exit'],
])}`,
    )
    .action(async (files: string[], flags: AgentFlags) => {
      const [{ checkHttpBinding, HttpConfigError }, { loadJobs }, { supervise }] = await Promise.all([
        import('../../agent/http-api.js'),
        import('../jobs.js'),
        import('../supervise.js'),
      ]);
      // Checked before anything is read or started: a usage error, like a bad flag.
      if (flags.http) {
        try {
          checkHttpBinding(flags.host, flags.token);
        } catch (error) {
          if (error instanceof HttpConfigError) throw new CliError(error.message, EXIT.usage);
          throw error;
        }
      }
      const jobs = await loadJobs(files);
      const { logger } = await globals();
      const summary = await supervise({
        logger,
        output: flags.output,
        onSignal: flags.onSignal,
        onOutputClosed: 'continue',
        ...inspectSettings(flags),
        agent: {
          jobs,
          ...(flags.http
            ? {
                http: {
                  port: flags.port,
                  host: flags.host,
                  ui: flags.ui,
                  ...(flags.token === undefined ? {} : { token: flags.token }),
                },
              }
            : {}),
          metricsPrefix: flags.metricsPrefix,
          keepServing: flags.keepServing === true,
          onStop: flags.onSignal,
          shutdownDeadlineMs: flags.shutdownDeadline,
          ...(flags.execLogDir ? { execLogDir: flags.execLogDir } : {}),
          ...(flags.keepLogs ? { keepLogs: true } : {}),
          ...(flags.cgroupParent ? { execCgroupParent: flags.cgroupParent } : {}),
          ...(flags.dockerSocket ? { dockerSocketPath: flags.dockerSocket } : {}),
          ...(flags.execPlugin ? { execOutOfProcess: true } : {}),
          ...(flags.dataDir === false ? {} : { dataDir: flags.dataDir ?? defaultDataDir() }),
        },
      });
      process.exitCode = summary.failed || summary.timedOut ? EXIT.taskFailed : EXIT.ok;
    });
}
