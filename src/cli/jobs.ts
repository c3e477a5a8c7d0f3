/** Loads job files for a command; every problem of every file is reported before exiting 2. */
import type { Job } from '../agent/job-schema.js';
import { formatProblem, JobFileError, loadJobFile } from '../agent/load-job.js';
import { CliError, EXIT } from './errors.js';

export async function loadJobs(files: string[]): Promise<Job[]> {
  const results = await Promise.allSettled(files.map((file) => loadJobFile(file)));
  const reports: string[] = [];
  const jobs: Job[] = [];
  for (const result of results) {
    if (result.status === 'fulfilled') jobs.push(result.value);
    else if (result.reason instanceof JobFileError) {
      const { file, problems } = result.reason;
      reports.push(`${file}: ${problems.length} problem(s)`, ...problems.map((p) => `  ${formatProblem(p)}`));
    } else throw result.reason;
  }
  if (reports.length > 0) throw new CliError(reports.join('\n'), EXIT.usage);
  const names = jobs.map((job) => job.name);
  const duplicate = names.find((name, index) => names.indexOf(name) !== index);
  if (duplicate) throw new CliError(`two job files define the job "${duplicate}"`, EXIT.usage);
  return jobs;
}
