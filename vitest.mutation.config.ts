import { defineConfig } from 'vitest/config';

/**
 * The unit tests StrykerJS runs per mutant (scripts/mutation.mjs names them in
 * TILL_MUTATION_TESTS, comma-separated): no lab, no built CLI needed. They are chosen
 * here rather than with Stryker's `testFiles`, which makes Stryker 9.6 activate a
 * module-level mutant (a regex constant) only after the module has loaded, so it
 * always "survives" (stryker-js#6144).
 */
export default defineConfig({
  test: {
    include: process.env.TILL_MUTATION_TESTS?.split(',') ?? ['test/unit/**/*.test.ts'],
    testTimeout: 30_000,
  },
});
