import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration files each start their own sshd lab; two workers match CI's two cores.
    maxWorkers: 2,
    globalSetup: ['test/lab/global-setup.ts'],
  },
});
