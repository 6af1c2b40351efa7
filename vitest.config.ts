import { defineConfig } from 'vitest/config';
import SlowestFirst from './test/lab/sequencer.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration files each start their own sshd lab. Three workers on CI's two cores:
    // with two, a quarter of the CPU sat idle while files waited on hosts, timeouts and
    // daemons (perf, 7 e2e files: 165 s at 2 workers, 148 s at 3, 135 s at 4); the whole
    // suite took 719 s at 2 and 640-646 s at 3, CPU then ~90 % busy; one clean clone, 805 s
    // at 2 and 743 s at 3 (docs/testing.md).
    maxWorkers: 3,
    globalSetup: ['test/lab/global-setup.ts'],
    // The longest files first, with or without vitest's cache of durations (test/lab/sequencer.ts).
    sequence: { sequencer: SlowestFirst },
  },
});
