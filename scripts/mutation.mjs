// `npm run mutation`: runs StrykerJS (stryker.config.mjs), then reads its JSON report
// and fails unless every module, and the whole, score at least THRESHOLD. Prints the
// per-module table docs/testing.md records. Not part of `npm test`: it takes minutes.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import config, { MODULES, THRESHOLD } from '../stryker.config.mjs';

const report = config.jsonReporter.fileName;
// A report left by an earlier run must never be read as this run's.
rmSync(report, { force: true });
const args = process.argv.slice(2);
const stryker = spawnSync('npx', ['stryker', 'run', ...args], { stdio: 'inherit' });
if (stryker.status !== 0) {
  console.error(`mutation: stryker exited ${stryker.status ?? stryker.signal}; no score`);
  process.exit(1);
}

const files = JSON.parse(readFileSync(report, 'utf8')).files;
/** Stryker's own score: killed (or timed out) among mutants that are valid, covered or not. */
function score(mutants) {
  const count = (...s) => mutants.filter((m) => s.includes(m.status)).length;
  const detected = count('Killed', 'Timeout');
  const undetected = count('Survived', 'NoCoverage');
  return { detected, undetected, total: detected + undetected, pct: (100 * detected) / (detected + undetected || 1) };
}

const rows = [];
const all = [];
for (const [source] of MODULES) {
  const mutants = files[source]?.mutants;
  if (!mutants) {
    console.error(`mutation: ${source} is not in the report`);
    process.exit(1);
  }
  all.push(...mutants);
  rows.push([source, score(mutants)]);
}
rows.push(['all', score(all)]);
console.log(`\n| module | score | killed | survived or not covered |\n|---|---|---|---|`);
for (const [name, s] of rows) console.log(`| ${name} | ${s.pct.toFixed(1)} % | ${s.detected} | ${s.undetected} |`);
const low = rows.filter(([, s]) => s.pct < THRESHOLD);
if (low.length > 0) {
  console.error(`\nmutation: under ${THRESHOLD} %: ${low.map(([n, s]) => `${n} (${s.pct.toFixed(1)} %)`).join(', ')}`);
  process.exit(1);
}
console.log(`\nmutation: every module at or above ${THRESHOLD} %`);
