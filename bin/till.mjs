#!/usr/bin/env node
// The `till` command. Kept to syntax an old Node.js still parses (no top-level await,
// no ?. or ??), so that on one older than package.json's "engines" it says so in one
// line instead of failing somewhere inside the bundle (npm only warns at install).
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 19)) {
  process.stderr.write('till: needs Node.js 20.19 or newer; this is Node.js ' + process.version + '\n');
  process.exit(2);
}

// `till --version` answers from package.json without compiling the 600 KB bundle (Node 20
// has no compile cache for ES modules: that costs ~40 ms); everything else runs
// dist/till.mjs, the self-contained build `host setup` ships.
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  import('node:fs').then(({ readFileSync }) => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    process.stdout.write(pkg.version + '\n');
  });
} else {
  import('../dist/till.mjs');
}
