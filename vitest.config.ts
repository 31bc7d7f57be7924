import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup/no-leaks.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Files, and the tests inside each, run in a random order: no test may lean on another.
    // The run prints its seed; `--sequence.seed=<seed>` repeats that order.
    sequence: { shuffle: true },
    reporters: ['default'],
  },
});
