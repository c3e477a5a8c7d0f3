/** `taskpulse validate <job files…>`: checks job files, starts nothing. */
import type { Command } from 'commander';
import { loadJobs } from '../jobs.js';

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('check job files (JSON or YAML) and list every problem; starts nothing')
    .argument('<jobs...>', 'job files')
    .addHelpText('after', '\nExample:\n  $ taskpulse validate examples/demo.job.yaml')
    .action(async (files: string[]) => {
      const jobs = await loadJobs(files);
      for (const [index, job] of jobs.entries()) {
        const tasks = job.groups.reduce((sum, group) => sum + group.count * group.tasks.length, 0);
        process.stdout.write(
          `${files[index]}: ok (job "${job.name}", ${job.type}, ${job.groups.length} group(s), ${tasks} task(s))\n`,
        );
      }
    });
}
