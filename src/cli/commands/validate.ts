/**
 * `taskpulse validate <job files…>`: checks job files, starts nothing. Each valid file gets its `ok`
 * line on stdout even when another fails; the problems go to stderr and the exit code is 2.
 * The job modules are imported when the command runs, so other commands do not load them.
 */
import type { Command } from 'commander';
import { EXIT, exitCodesHelp } from '../errors.js';

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('check job files (JSON or YAML) and list every problem; starts nothing')
    .argument('<jobs...>', 'job files')
    .addHelpText(
      'after',
      `\nExample:\n  $ npx taskpulse validate examples/demo.job.yaml\n\n${exitCodesHelp([
        [EXIT.ok, 'every file is valid'],
        [EXIT.usage, 'a file has problems (each listed as file:line:column)'],
      ])}`,
    )
    .action(async (files: string[]) => {
      const { problemsError, readJobFiles } = await import('../jobs.js');
      const loaded = await readJobFiles(files);
      for (const entry of loaded) {
        if (!('job' in entry)) continue;
        const { job } = entry;
        const tasks = job.groups.reduce((sum, group) => sum + group.count * group.tasks.length, 0);
        process.stdout.write(
          `${entry.file}: ok (job "${job.name}", ${job.type}, ${job.groups.length} group(s), ${tasks} task(s))\n`,
        );
      }
      const failure = problemsError(loaded);
      if (failure) throw failure;
    });
}
