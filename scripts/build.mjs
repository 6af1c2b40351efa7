// Builds what the package ships, into dist/:
//   dist/till.mjs          the whole CLI in one self-contained file: what `till host setup`
//                          copies to hosts (SPEC §4: one file), and what runs there.
//   dist/cli/              the same CLI split into chunks, loaded per command with V8's code
//                          cache (src/boot/loader.ts): what the local `till` (bin/till.cjs) runs.
//   dist/till.1            the man page, and dist/completions/ the shell completion scripts,
//                          rendered from the same command definitions as --help (scripts/docs.ts).
// and, into build/, what only this checkout uses (never shipped: the demo needs root).
import { build } from 'esbuild';
import { bundleCli, bundleTill, REQUIRE_BANNER } from './bundle.mjs';
import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, rmSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

/** The commit this is built from, `-dirty` when the tree differs from it; `unknown` outside a git checkout. */
function buildCommit() {
  const git = (args) => execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    const commit = git(['rev-parse', '--short=12', 'HEAD']);
    return git(['status', '--porcelain']) === '' ? commit : `${commit}-dirty`;
  } catch {
    return 'unknown';
  }
}

const node = { bundle: true, platform: 'node', target: 'node20', format: 'esm', logLevel: 'warning' };
const values = { __TILL_VERSION__: pkg.version, __TILL_COMMIT__: buildCommit() };
const define = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, JSON.stringify(v)]));

rmSync('dist', { recursive: true, force: true });
await bundleTill('src/cli/main.ts', 'dist/till.mjs', values);
chmodSync('dist/till.mjs', 0o755);
await bundleCli('src/cli/main.ts', 'dist/cli', values);

// The man page and completion scripts, from the same command tree as --help.
await build({
  ...node,
  entryPoints: ['scripts/docs.ts'],
  outfile: 'build/docs.mjs',
  define,
  banner: { js: REQUIRE_BANNER },
});
execFileSync(process.execPath, ['build/docs.mjs', 'dist'], { stdio: 'inherit' });

// The demo starts real sshd hosts with the test lab; bundle it for `npm run demo`.
await build({ ...node, entryPoints: ['scripts/demo.ts'], outfile: 'build/demo.mjs' });
// So does the soak (npm run soak), which also locks schedule.json like a till (proper-lockfile: CommonJS).
await build({ ...node, entryPoints: ['scripts/soak.ts'], outfile: 'build/soak.mjs', banner: { js: REQUIRE_BANNER } });
