import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The files that take longest, longest first, as measured (2026-12-08, 3 workers; their
 * tests' time, without the lab each starts). vitest orders files by the durations it
 * cached on this machine, and without a cache (a clean clone: CI) by file size, which put
 * watch-storm (one 50–70 s test in a 2 KB file) last: the suite then ran a minute on one
 * worker. These go first, in this order; the rest as vitest orders them.
 */
export const SLOWEST = [
  'gate-escapes',
  'warm-sessions',
  'fleet',
  'watch',
  'inventory',
  'hostile',
  'gate-rotate-key',
  'deploy',
  'watch-storm',
  'gate-deploy',
  'core',
  'gate',
  'disk-full',
  'sync',
  'demo',
  'gate-releases',
  'frozen-host',
  'managed-keys',
  'many-tills',
].map((name) => `/test/e2e/${name}.test.ts`);

export default class SlowestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (f: TestSpecification) => {
      const at = SLOWEST.findIndex((suffix) => f.moduleId.endsWith(suffix));
      return at === -1 ? SLOWEST.length : at;
    };
    return [...sorted].sort((a, b) => rank(a) - rank(b));
  }
}
