/**
 * `taskpulse/plugin`: drivers out of process. `servePlugin(driver)` makes any TaskDriver a
 * go-plugin compatible plugin executable; `createPluginDriver({ command, args, env })` launches one
 * and is a TaskDriver itself. The protocol is proto/taskpulse/driver/v1/driver.proto (docs/plugins.md).
 */
export {
  DEFAULT_PLUGIN_RESTART_POLICY,
  type PluginEndpoint,
  type PluginRestartPolicy,
  type PluginSupervisorOutput,
  pluginSupervisorMachine,
} from '../../machines/plugin-supervisor.machine.js';
export { NotImplementedError, PluginLaunchError, RECOVERABLE_TRAILER } from './errors.js';
export {
  createPluginDriver,
  type PluginDriver,
  type PluginDriverOptions,
  type PluginReattachConfig,
} from './plugin-driver.js';
export { createPluginLogger } from './plugin-logger.js';
export {
  CORE_PROTOCOL_VERSION,
  MAGIC_COOKIE_KEY,
  MAGIC_COOKIE_VALUE,
  SUPPORTED_PROTOCOL_VERSIONS,
} from './protocol.js';
export { type PluginServer, type ServePluginOptions, servePlugin } from './serve.js';
