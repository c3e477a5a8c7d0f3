import type { TaskResourceUsage } from '../../src/index.js';

/** A valid sample with the given timestamp. */
export function sampleAt(timestamp: number, rss = 1024): TaskResourceUsage {
  return {
    timestamp,
    resourceUsage: {
      memory: {
        rss,
        cache: 0,
        swap: 0,
        mappedFile: 0,
        usage: rss,
        maxUsage: rss,
        kernelUsage: 0,
        kernelMaxUsage: 0,
        measured: ['RSS'],
      },
    },
  };
}
