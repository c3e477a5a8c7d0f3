/** Loads job files for a command; every problem of every file is reported before exiting 2. */
import type { Job } from '../agent/job-schema.js';
import { describeProblem, JobFileError, loadJobFile } from '../agent/load-job.js';
import { CliError, EXIT } from './errors.js';

export type LoadedJobFile = { file: string; job: Job } | { file: string; problems: string[] };

/** Each file, read on its own: a bad one does not hide the others' results. */
export async function readJobFiles(files: string[]): Promise<LoadedJobFile[]> {
  const results = await Promise.allSettled(files.map((file) => loadJobFile(file)));
  return results.map((result, index): LoadedJobFile => {
    const file = files[index] ?? '';
    if (result.status === 'fulfilled') return { file, job: result.value };
    if (!(result.reason instanceof JobFileError)) throw result.reason;
    const { problems } = result.reason;
    return {
      file,
      problems: [
        `${file}: ${problems.length} problem(s)`,
        ...problems.map((problem) => `  ${describeProblem(file, problem)}`),
      ],
    };
  });
}

/** The problems of every file, as one error. */
export function problemsError(loaded: LoadedJobFile[]): CliError | undefined {
  const reports = loaded.flatMap((entry) => ('problems' in entry ? entry.problems : []));
  return reports.length > 0 ? new CliError(reports.join('\n'), EXIT.usage) : undefined;
}

export async function loadJobs(files: string[]): Promise<Job[]> {
  const loaded = await readJobFiles(files);
  const failure = problemsError(loaded);
  if (failure) throw failure;
  const jobs = loaded.flatMap((entry) => ('job' in entry ? [entry.job] : []));
  const names = jobs.map((job) => job.name);
  const duplicate = names.find((name, index) => names.indexOf(name) !== index);
  if (duplicate) throw new CliError(`two job files define the job "${duplicate}"`, EXIT.usage);
  return jobs;
}
