/**
 * `--inspect=PORT`, as Node writes it. Commander has no option whose value may only follow `=`: an
 * optional value (`--inspect [port]`) would take the next word, so `agent --inspect job.yaml` would
 * read the job file as the port. So `--inspect` is a plain flag, `--inspect-port <port>` takes the
 * port, and `--inspect=PORT` is rewritten to `--inspect-port=PORT` before commander parses: only
 * among taskpulse's own options, never in the command line `run` supervises.
 */
import type { Command } from 'commander';

/** Whether `token` is an option of `command` that takes a separate value (`--port 80`). */
function takesValue(command: Command, token: string): boolean {
  if (!token.startsWith('-') || token.includes('=')) return false;
  const option = command.options.find((candidate) => candidate.long === token || candidate.short === token);
  return option?.required === true || option?.optional === true;
}

/**
 * `argv` (node, script, args…) with `--inspect=PORT` spelled `--inspect-port=PORT`. `commandLine`
 * names the commands whose first argument starts a command line of its own (`run node app.js`).
 */
export function expandInspectPort(
  program: Command,
  argv: string[],
  commandLine: ReadonlySet<string>,
): string[] {
  const out = argv.slice(0, 2);
  let command: Command | undefined;
  for (let index = 2; index < argv.length; index += 1) {
    const token = argv[index] ?? '';
    if (token === '--') {
      out.push(...argv.slice(index));
      break;
    }
    const scope = command ?? program;
    if (command && /^--inspect=/.test(token)) {
      out.push(`--inspect-port=${token.slice('--inspect='.length)}`);
      continue;
    }
    out.push(token);
    if (takesValue(scope, token)) {
      // The option's value, whatever it looks like.
      if (index + 1 < argv.length) out.push(argv[index + 1] ?? '');
      index += 1;
    } else if (!token.startsWith('-')) {
      if (command === undefined) {
        command = program.commands.find((candidate) => candidate.name() === token);
        if (!command) break; // an unknown command: commander says so
      } else if (commandLine.has(command.name())) {
        out.push(...argv.slice(index + 1));
        break;
      }
    }
  }
  return out.length === argv.length ? out : [...out, ...argv.slice(out.length)];
}
