import { defineConfig } from 'vitest/config';

/** The unit tests StrykerJS runs per mutant (stryker.config.mjs): no lab, no built CLI needed. */
export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts'],
    testTimeout: 30_000,
  },
});
