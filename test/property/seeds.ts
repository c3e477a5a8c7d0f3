/**
 * Seeds of the property suites. `npm test` (and CI) runs `FIXED_SEEDS` only, so it cannot fail at
 * random: a red run means the code changed, and the failure's seed is one of these. To search
 * further, `PROPERTY_SEEDS=random` adds one fresh seed, logged before the run starts, so any failure
 * it finds replays with `PROPERTY_SEEDS=<that seed>` (also `PROPERTY_SEEDS=12,-34` for a list).
 * A seed that once found a bug joins the list, with the bug it found.
 */
export const FIXED_SEEDS: readonly number[] = [
  // Found "call 4: gap after open error #3: expected 2000 to be 4000": the oracle counted an open
  // error answered in the same tick as a second poststart, which the hook (rightly) never sees.
  -2119116717, 1, 42, 20_261_201, -7_654_321,
];

/** The seeds to run, from `PROPERTY_SEEDS` (unset: the fixed list). */
export function propertySeeds(env: string | undefined = process.env.PROPERTY_SEEDS): number[] {
  if (env === undefined || env.trim() === '') return [...FIXED_SEEDS];
  if (env.trim() === 'random') {
    const seed = (Date.now() ^ (Math.random() * 2 ** 32)) | 0;
    console.info(`property tests: random seed ${seed} (replay: PROPERTY_SEEDS=${seed})`);
    return [...FIXED_SEEDS, seed];
  }
  return env.split(',').map((text) => {
    const seed = Number(text.trim());
    if (!Number.isSafeInteger(seed)) throw new Error(`PROPERTY_SEEDS: "${text}" is not an integer seed`);
    return seed;
  });
}

/**
 * How many runs a property makes per seed: `n`, scaled by `PROPERTY_RUNS_SCALE` (the mutation run
 * sets 0.2: every mutant runs the suite again, and the fixed seeds still reach each case they cover).
 */
export function propertyRuns(n: number, scale: string | undefined = process.env.PROPERTY_RUNS_SCALE): number {
  const factor = scale === undefined ? 1 : Number(scale);
  if (!(factor > 0)) throw new Error(`PROPERTY_RUNS_SCALE: "${scale}" is not a positive number`);
  return Math.max(1, Math.round(n * factor));
}
