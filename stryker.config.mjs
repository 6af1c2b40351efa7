// @ts-check
/**
 * StrykerJS over the modules that guard ssh/config, remote shells and the state files,
 * each killed by its own unit tests only (no lab, no e2e: they are too slow to run once
 * per mutant). One line per module: the source and the unit tests that cover it.
 * `npm run mutation` (scripts/mutation.mjs) runs Stryker once per module and fails when
 * any module scores under THRESHOLD; `npx stryker run` runs them all together.
 */
export const MODULES = [
  ['src/core/validate.ts', ['test/unit/validate.test.ts', 'test/unit/validators.property.test.ts']],
  ['src/core/targets.ts', ['test/unit/targets.test.ts']],
  ['src/core/fanout.ts', ['test/unit/fanout.test.ts']],
  ['src/core/state/store.ts', ['test/unit/store.test.ts', 'test/unit/state.test.ts', 'test/unit/hosts-seal.test.ts']],
  ['src/protocol/quote.ts', ['test/unit/quote.property.test.ts']],
  ['src/audit/analyze.ts', ['test/unit/audit.test.ts']],
  ['src/protocol/args.ts', ['test/unit/protocol-args.test.ts']],
  ['src/gate/words.ts', ['test/unit/gate-words.test.ts']],
  ['src/gate/rsync.ts', ['test/unit/gate-rsync.test.ts']],
  ['src/gate/decide.ts', ['test/unit/gate.test.ts']],
  ['src/protocol/checks.ts', ['test/unit/gate.test.ts', 'test/unit/restricted-keys.test.ts']],
];

export const THRESHOLD = 85;

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts', related: false },
  mutate: MODULES.map(([source]) => source),
  coverageAnalysis: 'perTest',
  reporters: ['clear-text', 'progress', 'json', 'html'],
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  // scripts/mutation.mjs fails the run per module; Stryker itself only colours its table.
  thresholds: { high: 90, low: THRESHOLD, break: null },
  concurrency: 2,
  // A loaded machine stretches a mutant's run; an infinite loop still ends here.
  timeoutMS: 10_000,
  ignorePatterns: ['dist', 'coverage', 'reports', 'bench'],
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
