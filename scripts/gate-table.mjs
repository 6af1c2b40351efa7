// Writes src/protocol/gate-table.ts (or the file given) from the registry: `npm run gate-table`.
// Run it after adding or changing a version in src/protocol/, and commit the result;
// test/unit/gate-table.test.ts fails until the table and the registry agree.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { format, resolveConfig } from 'prettier';

const out = process.argv[2] ?? 'src/protocol/gate-table.ts';
const bundled = await build({
  entryPoints: ['src/protocol/registry.ts'],
  bundle: true,
  platform: 'node',
  format: 'esm',
  write: false,
  logLevel: 'warning',
});
const { gateEntries } = await import(
  `data:text/javascript;base64,${Buffer.from(bundled.outputFiles[0].text).toString('base64')}`
);
const sha256 = (text) => createHash('sha256').update(text).digest('hex');
const entries = gateEntries().map(({ text, entry }) => `[${JSON.stringify(sha256(text))}, ${JSON.stringify(entry)}],`);
const text = `// Generated from src/protocol/registry.ts by scripts/gate-table.mjs (npm run gate-table): do not edit.
// test/unit/gate-table.test.ts fails when this table and the registry disagree.
import type { GateEntry } from './wire.js';

/**
 * What till gate runs: every version of the registry that a gate knows (not the ungated
 * ones), by the sha256 (hex) of its text. The gate looks up the text a client sent
 * (a script's, or a whole line) and runs that text, byte for byte the registered one.
 */
export const GATE_TABLE: ReadonlyMap<string, GateEntry> = new Map<string, GateEntry>([
${entries.join('\n')}
]);
`;
writeFileSync(out, await format(text, { ...(await resolveConfig('src/protocol/gate-table.ts')), filepath: out }));
