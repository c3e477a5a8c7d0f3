/**
 * `taskpulse plugin exec|docker|mock`: serves a built-in driver as a go-plugin compatible plugin.
 * A taskpulse agent (a job's `plugins:`) or a go-plugin host launches it; run by hand it says so
 * and exits 1, as go-plugin plugins do without the magic cookie.
 */
import { Argument, type Command, Option } from 'commander';
import { DRIVER_NAMES, type DriverName } from '../../agent/drivers.js';
import type { ExecDriver } from '../../drivers/exec/index.js';
import { EXIT } from '../errors.js';

interface PluginFlags {
  execLogDir?: string;
  cgroupParent?: string;
  dockerSocket?: string;
}

export function registerPlugin(program: Command): void {
  program
    .command('plugin')
    .description('serve a built-in driver as a plugin (launched by a taskpulse agent or a go-plugin host)')
    .addArgument(new Argument('<driver>', 'the driver to serve').choices(DRIVER_NAMES))
    .option('--exec-log-dir <dir>', 'where the exec driver writes task stdout/stderr')
    .addOption(
      new Option('--cgroup-parent <name>', 'cgroup under which exec makes task cgroups').env(
        'TASKPULSE_CGROUP_PARENT',
      ),
    )
    .option(
      '--docker-socket <path>',
      'Docker Engine socket (default: DOCKER_HOST, else /var/run/docker.sock)',
    )
    .addHelpText(
      'after',
      `
Logs go to stderr as hclog JSON at TASKPULSE_PLUGIN_LOG_LEVEL (default info).
Example (a job file):
  plugins:
    exec-oop: { command: npx, args: [taskpulse, plugin, exec] }`,
    )
    .action(async (name: DriverName, flags: PluginFlags) => {
      // Loaded here, so the other commands never load gRPC.
      const [{ builtInPluginDriver }, { PluginLaunchError }, { createPluginLogger }, { servePlugin }] =
        await Promise.all([
          import('../../plugins/builtin.js'),
          import('../../plugins/errors.js'),
          import('../../plugins/plugin-logger.js'),
          import('../../plugins/serve.js'),
        ]);
      const logger = createPluginLogger(process.env.TASKPULSE_PLUGIN_LOG_LEVEL ?? 'info');
      const driver = await builtInPluginDriver(name, {
        logger,
        ...(flags.execLogDir ? { execLogDir: flags.execLogDir } : {}),
        ...(flags.cgroupParent ? { execCgroupParent: flags.cgroupParent } : {}),
        ...(flags.dockerSocket ? { dockerSocketPath: flags.dockerSocket } : {}),
      });
      let server: Awaited<ReturnType<typeof servePlugin>>;
      try {
        server = await servePlugin(driver, { logger });
      } catch (error) {
        if (!(error instanceof PluginLaunchError)) throw error;
        process.stderr.write(`${error.message}\n`);
        process.exitCode = EXIT.taskFailed; // 1, as go-plugin plugins exit without the cookie
        return;
      }
      // go-plugin plugins ignore SIGINT (a terminal's Ctrl-C is for the host); SIGTERM shuts down.
      const ignore = () => {};
      const terminate = () => void server.shutdown();
      process.on('SIGINT', ignore);
      process.on('SIGTERM', terminate);
      await server.closed;
      // A plugin that shuts down (Shutdown, SIGTERM, its host gone) takes its exec tasks with it:
      // only a plugin killed outright leaves them, for its relaunched self to re-attach.
      if (name === 'exec') await (driver as ExecDriver).destroyAll();
      process.off('SIGINT', ignore);
      process.off('SIGTERM', terminate);
      process.stdin.destroy();
    });
}
