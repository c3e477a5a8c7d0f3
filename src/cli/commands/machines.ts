/**
 * `taskpulse machines`: prints the state machines as JSON definitions or Mermaid diagrams. The
 * machines (and XState) are imported when the command runs, so other commands do not load them.
 */
import { type Command, Option } from 'commander';
import { CliError, EXIT } from '../errors.js';

export function registerMachines(program: Command): void {
  program
    .command('machines')
    .description("print taskpulse's state machines (Mermaid stateDiagram-v2 or JSON definitions)")
    .argument('[name]', 'one machine (task-runner or stats-hook); default: all')
    .addOption(
      new Option('--format <format>', 'output format').choices(['mermaid', 'json']).default('mermaid'),
    )
    .addHelpText(
      'after',
      '\nExamples:\n  $ taskpulse machines\n  $ taskpulse machines task-runner --format json > task-runner.json',
    )
    .action(async (name: string | undefined, options: { format: 'mermaid' | 'json' }) => {
      const { MACHINES, toDefinitionJson, toMermaid } = await import('../../machines-render.js');
      const selected = name === undefined ? MACHINES : MACHINES.filter((entry) => entry.name === name);
      if (selected.length === 0) {
        const known = MACHINES.map((entry) => entry.name).join(', ');
        throw new CliError(`unknown machine: ${name} (known: ${known})`, EXIT.usage);
      }
      if (options.format === 'json') {
        const definitions = selected.map((entry) => JSON.parse(toDefinitionJson(entry.machine)) as unknown);
        process.stdout.write(
          `${JSON.stringify(name === undefined ? definitions : definitions[0], null, 2)}\n`,
        );
        return;
      }
      process.stdout.write(
        selected.map((entry) => `%% ${entry.title} (${entry.name})\n${toMermaid(entry.machine)}`).join('\n'),
      );
    });
}
