/** The `taskpulse` entry point: `bin/taskpulse.js` runs the bundle built from this file (dist/cli/main.js). */
import { main } from './program.js';

const code = await main(process.argv);
process.exitCode = code;
// Every handle should be closed by now; if a driver left one open, do not hang the shell.
setTimeout(() => process.exit(code), 1000).unref();
