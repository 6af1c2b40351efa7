import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/**
 * `till gate` is what a restricted key runs on a host: everything it can do must be
 * readable in one sitting. The CLI's entry hands `till gate` to src/gate/main.ts before
 * loading anything else; this measures what that file pulls in (esbuild's metafile of
 * the bundle it makes) and fails when the closure grows: the gate's own files, the
 * protocol package (whose bulk is the frozen script texts), and the log writer. The
 * package has one module per family of operations (18 since the manual lock, hooks and
 * going back to a release got theirs): a new family raises this on purpose.
 */
const MAX_FILES = 18;
const ALLOWED = [/^src\/gate\//, /^src\/protocol\//, /^src\/watch\/log\.ts$/];

describe("the gate's import closure", () => {
  it(`bundles from at most ${MAX_FILES} source files, none of them the CLI, the state store, the fan-out engine, ssh or sync`, async () => {
    const result = await build({
      entryPoints: ['src/gate/main.ts'],
      bundle: true,
      platform: 'node',
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs).sort();
    const lines = inputs.reduce((n, f) => n + readFileSync(f, 'utf8').split('\n').length, 0);
    // printed for the report: what an auditor of the gate reads
    console.log(`gate closure: ${inputs.length} files, ${lines} lines\n  ${inputs.join('\n  ')}`);
    expect(inputs.filter((f) => !ALLOWED.some((re) => re.test(f)))).toEqual([]);
    expect(inputs.some((f) => f.includes('node_modules'))).toBe(false);
    expect(inputs.length).toBeLessThanOrEqual(MAX_FILES);
  });

  it("is reached from the CLI's entry before any of the CLI is loaded", () => {
    const main = readFileSync('src/cli/main.ts', 'utf8');
    // the entry imports nothing statically: `till gate` and the CLI are both dynamic imports
    expect(main).not.toMatch(/^import /m);
    expect(main).toMatch(/argv\[0\] === 'gate'[\s\S]*import\('\.\.\/gate\/main\.js'\)/);
  });
});
