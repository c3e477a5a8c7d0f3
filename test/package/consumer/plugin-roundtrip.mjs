// Run by test/package/consumer.test.ts in the embedder's project: `taskpulse/plugin` from the
// installed package launches the installed CLI's `taskpulse plugin mock` (go-plugin handshake, gRPC,
// the shipped proto/ files) and runs one task through it, then shuts the plugin down.
import { join } from 'node:path';
import { createPluginDriver } from 'taskpulse/plugin';

const bin = join(process.cwd(), 'node_modules', 'taskpulse', 'bin', 'taskpulse.js');
const driver = await createPluginDriver({
  command: process.execPath,
  args: [bin, 'plugin', 'mock'],
  logDir: join(process.cwd(), 'plugin-logs'), // inside the project the test removes
});
try {
  await driver.startTask({ id: 'a/t', name: 't', config: { runForMs: 100, exitCode: 3 } });
  const exit = await driver.waitTask('a/t');
  await driver.destroyTask('a/t');
  console.log(`plugin ${driver.name}: exit ${exit.exitCode}`);
} finally {
  await driver.stop();
}
