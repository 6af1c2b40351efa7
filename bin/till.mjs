#!/usr/bin/env node
// The `till` command. `till --version` answers from package.json without compiling
// the 600 KB bundle (Node 20 has no compile cache for ES modules: that costs ~40 ms);
// everything else runs dist/till.mjs, the self-contained build `host setup` ships.
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  const { readFileSync } = await import('node:fs');
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  process.stdout.write(`${pkg.version}\n`);
} else {
  await import('../dist/till.mjs');
}
