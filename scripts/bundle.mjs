// How till is bundled, for scripts/build.mjs and for tests that build a variant of it
// (another version baked in). Two builds of the same sources:
//   - bundleTill: one self-contained ESM file for Node 20 (dist/till.mjs): what
//     `till host setup` copies to hosts, and what runs there (`till gate` included);
//   - bundleCli: the same CLI split into chunks for the local `till` (dist/cli/), one
//     per command group and what only it uses, as CommonJS-shaped scripts that
//     src/boot/loader.ts compiles with V8's code cache (bin/till.cjs starts it).
import { build, transform } from 'esbuild';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// Bundled CommonJS dependencies (proper-lockfile, string-width) call require().
export const REQUIRE_BANNER = [
  "import { createRequire as __tillCreateRequire } from 'node:module';",
  "import { fileURLToPath as __tillFileURLToPath } from 'node:url';",
  "import { dirname as __tillDirname } from 'node:path';",
  'const require = __tillCreateRequire(import.meta.url);',
  'const __filename = __tillFileURLToPath(import.meta.url);',
  'const __dirname = __tillDirname(__filename);',
].join('\n');

/**
 * Node modules that a bundled library requires as it loads but needs later, if ever, and
 * whose loading costs a start: the library gets a stand-in that loads the real module
 * on first use. commander requires node:child_process for external subcommands till
 * does not have (loading it costs a start as much as the rest of `till host list`).
 * signal-exit, which proper-lockfile loads (before every command that records to the
 * journal), calls node:assert's equal() once as it loads, and loading assert makes
 * process.stderr (with net and the streams): its stand-in's equal() compares as
 * assert.equal does (==) and hands a failing check to the real one, which throws.
 */
const LAZY_BUILTINS = [
  { importer: /[\\/]node_modules[\\/]commander[\\/]/, module: 'child_process', own: {} },
  {
    importer: /[\\/]node_modules[\\/]signal-exit[\\/]/,
    module: 'assert',
    own: {
      equal: '(actual, expected, message) => { if (actual != expected) load().equal(actual, expected, message); }',
    },
  },
];
const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(build) {
    build.onResolve({ filter: /^(node:)?(child_process|assert)$/ }, (args) => {
      const name = args.path.replace(/^node:/, '');
      const lazy = LAZY_BUILTINS.find((l) => l.module === name && l.importer.test(args.importer));
      return lazy ? { path: name, namespace: 'lazy-builtin' } : undefined;
    });
    build.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => {
      const { own } = LAZY_BUILTINS.find((l) => l.module === args.path);
      const members = Object.entries(own).map(([key, fn]) => `${JSON.stringify(key)}: ${fn}`);
      return {
        contents: [
          'let real;',
          `const load = () => (real ??= require('node:${args.path}'));`,
          `const own = { ${members.join(', ')} };`,
          'module.exports = new Proxy({}, { get: (_, key) => (Object.hasOwn(own, key) ? own[key] : load()[key]) });',
        ].join('\n'),
        loader: 'js',
      };
    });
  },
};

/**
 * picocolors works out, as it loads, whether to colour by default, and for that reads
 * process.stdout.isTTY: making process.stdout on a pipe (`till host list | grep`) loads
 * net and the streams. till never uses that default (output/terminal.ts decides and
 * calls createColors), so the bundled picocolors skips the question. The build fails if
 * picocolors no longer reads it in exactly this way, rather than silently keep the cost.
 */
const STDOUT_PROBE = '((p.stdout || {}).isTTY && env.TERM !== "dumb")';
const picocolorsWithoutStdout = {
  name: 'picocolors-without-stdout',
  setup(build) {
    build.onLoad({ filter: /[\\/]node_modules[\\/]picocolors[\\/]picocolors\.js$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      if (source.split(STDOUT_PROBE).length !== 2)
        throw new Error(`${args.path}: expected its default-colour check to read ${STDOUT_PROBE} once`);
      return { contents: source.replace(STDOUT_PROBE, 'false'), loader: 'js' };
    });
  },
};

/**
 * proper-lockfile takes its fs from graceful-fs, which as it loads patches a copy of fs
 * and reads fs.ReadStream, and so loads Node's file streams and node:fs/promises: before
 * every command that records to the journal (host exec among them, ahead of its first
 * ssh). What graceful-fs adds is a retry queue for EMFILE on calls that open files, and
 * workarounds for old Node and Windows; the lock makes none of those calls (mkdir, stat,
 * utimes, rmdir, realpath: no descriptor), so the bundled proper-lockfile gets node:fs
 * itself. Anything else that imports graceful-fs fails the build, rather than quietly
 * lose what it relies on.
 */
const properLockfileWithPlainFs = {
  name: 'proper-lockfile-with-plain-fs',
  setup(build) {
    build.onResolve({ filter: /^graceful-fs$/ }, (args) => {
      if (!/[\\/]node_modules[\\/]proper-lockfile[\\/]/.test(args.importer))
        throw new Error(`${args.importer} imports graceful-fs: only proper-lockfile's is replaced by node:fs`);
      return { path: 'fs', namespace: 'plain-fs' };
    });
    build.onLoad({ filter: /.*/, namespace: 'plain-fs' }, () => ({
      contents: "module.exports = require('node:fs');",
      loader: 'js',
    }));
  },
};

const defines = (values) => Object.fromEntries(Object.entries(values).map(([k, v]) => [k, JSON.stringify(v)]));

/**
 * The most dist/till.mjs may weigh: it is what `host setup` copies to every host and
 * what runs there. It was 961 KiB when this was set; a change that keeps a library's
 * whole namespace (re-exporting `import * as z from 'zod'` did: +367 KB, 55aefaf) stops
 * the build here instead of shipping. A growth that is wanted raises this number.
 */
export const BUNDLE_BUDGET_KIB = 1100;

/** Why a bundle of `bytes` is over the budget, or undefined. */
export function overBudget(bytes, budgetKib = BUNDLE_BUDGET_KIB) {
  if (bytes <= budgetKib * 1024) return undefined;
  return `the bundle is ${Math.round(bytes / 1024)} KiB, over its budget of ${budgetKib} KiB (scripts/bundle.mjs BUNDLE_BUDGET_KIB): look for a library kept whole (a re-exported namespace), or raise the budget if the growth is wanted`;
}

/** Bundles src/cli/main.ts into `outfile` with these `__TILL_*__` values (version, commit). */
export async function bundleTill(entry, outfile, define) {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    minify: true,
    keepNames: false,
    legalComments: 'none',
    define: defines({ ...define, __TILL_LAYOUT__: 'bundle' }),
    banner: { js: `#!/usr/bin/env node\n${REQUIRE_BANNER}` },
    plugins: [lazyBuiltins, picocolorsWithoutStdout, properLockfileWithPlainFs],
    logLevel: 'warning',
  });
  const why = overBudget(statSync(outfile).size);
  if (why !== undefined) throw new Error(`${outfile}: ${why}`);
}

/**
 * The split CLI into `outdir` (emptied first): `till.cjs` (the entry), `<name>-<hash>.cjs`
 * chunks, and `boot.cjs` (the loader). esbuild splits only ES modules, so each output is
 * then turned into a CommonJS-shaped script: imports become require() of a sibling chunk,
 * import() a require() in a promise, and import.meta.url the loader's `__tillMeta.url`.
 */
export async function bundleCli(entry, outdir, define) {
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const result = await build({
    entryPoints: { till: entry },
    outdir,
    bundle: true,
    splitting: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    minify: true,
    legalComments: 'none',
    chunkNames: '[name]-[hash]',
    outExtension: { '.js': '.cjs' },
    define: defines({ ...define, __TILL_LAYOUT__: 'split' }),
    plugins: [lazyBuiltins, picocolorsWithoutStdout, properLockfileWithPlainFs],
    write: false,
    logLevel: 'warning',
  });
  for (const file of result.outputFiles) {
    const { code } = await transform(file.text, {
      format: 'cjs',
      platform: 'node',
      target: 'node20',
      minify: true,
      supported: { 'dynamic-import': false },
      define: { 'import.meta.url': '__tillMeta.url' },
      // The build above has reported on the sources; what is left is minified dependencies' code.
      logLevel: 'error',
    });
    writeFileSync(file.path, code);
  }
  await build({
    entryPoints: ['src/boot/loader.ts'],
    outfile: join(outdir, 'boot.cjs'),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
}
