// `npm run mutation [-- <module>…]`: StrykerJS over each module of stryker.config.mjs in
// turn, each with only the unit tests listed for it (a module-level mutant, such as a
// regex constant, reruns every test of the run it is in: one run per module keeps that
// to the module's own tests). Prints the per-module table docs/testing.md records and
// fails unless every module scores at least THRESHOLD. Not part of `npm test`.
import { Stryker } from '@stryker-mutator/core';
import { MODULES, THRESHOLD } from '../stryker.config.mjs';

const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !MODULES.some(([source]) => source === w));
if (unknown.length > 0) {
  console.error(`mutation: not a module of stryker.config.mjs: ${unknown.join(', ')}`);
  process.exit(2);
}
const modules = wanted.length > 0 ? MODULES.filter(([source]) => wanted.includes(source)) : MODULES;

/** Stryker's own score: mutants killed (or timed out) among the valid ones, covered or not. */
function score(results) {
  const count = (...statuses) => results.filter((m) => statuses.includes(m.status)).length;
  const detected = count('Killed', 'Timeout');
  const undetected = count('Survived', 'NoCoverage');
  return { detected, undetected, pct: (100 * detected) / (detected + undetected || 1) };
}

const started = Date.now();
const rows = [];
const all = [];
for (const [source, tests] of modules) {
  const base = `reports/mutation/${source.replace(/^src\//, '').replace(/[/.]/g, '-')}`;
  // Read by vitest.mutation.config.ts in Stryker's test-runner processes (not Stryker's
  // `testFiles`: stryker-js#6144 makes every module-level mutant survive with it).
  process.env.TILL_MUTATION_TESTS = tests.join(',');
  const results = await new Stryker({
    mutate: [source],
    jsonReporter: { fileName: `${base}.json` },
    htmlReporter: { fileName: `${base}.html` },
  }).runMutationTest();
  all.push(...results);
  rows.push([source, score(results)]);
}
if (modules.length > 1) rows.push(['all', score(all)]);

const minutes = ((Date.now() - started) / 60_000).toFixed(1);
console.log(`\n| module | score | killed | survived or not covered |\n|---|---|---|---|`);
for (const [name, s] of rows) console.log(`| ${name} | ${s.pct.toFixed(1)} % | ${s.detected} | ${s.undetected} |`);
console.log(`\n(${minutes} min; reports in reports/mutation/)`);
const low = rows.filter(([, s]) => s.pct < THRESHOLD);
if (low.length > 0) {
  console.error(`mutation: under ${THRESHOLD} %: ${low.map(([n, s]) => `${n} (${s.pct.toFixed(1)} %)`).join(', ')}`);
  process.exit(1);
}
console.log(`mutation: every module at or above ${THRESHOLD} %`);
