import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GATE_TABLE } from '../../src/protocol/gate-table.js';
import { gateEntries, VERSIONS } from '../../src/protocol/registry.js';
import type { GateEntry } from '../../src/protocol/wire.js';

/**
 * The gate reads what it allows from src/protocol/gate-table.ts, which
 * scripts/gate-table.mjs generates from the registry. Nothing regenerates it on its own:
 * this test is the check that it was regenerated (and committed) after a version was
 * added or changed.
 */
const REGENERATE = 'src/protocol/gate-table.ts disagrees with the registry: run `npm run gate-table` and commit it';

/** What the registry says the table holds. */
const gateTable = () =>
  new Map(gateEntries().map(({ text, entry }) => [createHash('sha256').update(text).digest('hex'), entry]));

/** How `table` differs from what the registry makes of it, one line a difference. */
function drift(table: ReadonlyMap<string, GateEntry>, fresh: ReadonlyMap<string, GateEntry>): string[] {
  const out: string[] = [];
  for (const [hash, entry] of fresh) {
    const had = table.get(hash);
    if (had === undefined) out.push(`${entry.name}: its text (sha256 ${hash.slice(0, 12)}…) is not in the table`);
    else if (JSON.stringify(had) !== JSON.stringify(entry))
      out.push(`${entry.name}: the table says ${JSON.stringify(had)}, the registry ${JSON.stringify(entry)}`);
  }
  for (const [hash, entry] of table)
    if (!fresh.has(hash)) out.push(`${entry.name}: in the table, but no version a gate knows has this text`);
  return out;
}

describe('gate-table.ts', () => {
  it('holds exactly what the registry says a gate knows', () => {
    expect(drift(GATE_TABLE, gateTable()), REGENERATE).toEqual([]);
    // every version but the ungated ones, and nothing else
    expect([...GATE_TABLE.values()].map((e) => e.name)).toEqual(
      VERSIONS.filter(({ version }) => version.ungated === undefined).map(({ version }) => version.name),
    );
  });

  it('a difference in any field fails, naming the version', () => {
    const fresh = gateTable();
    const edited = (hash: string, change: Partial<GateEntry>) =>
      new Map([...fresh].map(([h, e]) => [h, h === hash ? { ...e, ...change } : e]));
    const at = (name: string) => [...fresh].find(([, e]) => e.name === name)![0];
    // a new version the table lacks
    const missing = new Map(fresh);
    missing.delete(at('deploy-switch-v5'));
    expect(drift(missing, fresh)).toEqual([
      expect.stringMatching(/^deploy-switch-v5: its text .* is not in the table$/),
    ]);
    // a text that is no longer registered (edited in place, or made ungated)
    const stale = new Map([...fresh, ['0'.repeat(64), { name: 'old', form: 'script', args: [] } as GateEntry]]);
    expect(drift(stale, fresh)).toEqual(['old: in the table, but no version a gate knows has this text']);
    // a changed argument type, retired, upgrade, check
    const changes: [string, Partial<GateEntry>][] = [
      ['deploy-check-v2', { args: ['deployRoot', 'label', 'hooks'] }],
      ['rollback-v2', { retired: undefined }],
      ['rollback-v4', { retired: 'unsafe' }],
      ['setup-prepare', { upgrade: undefined }],
      ['restrict-v2', { check: undefined }],
      ['key-remove', { check: 'blobOfType' }],
    ];
    for (const [name, change] of changes)
      expect(drift(edited(at(name), change), fresh)).toEqual([
        expect.stringMatching(new RegExp(`^${name}: the table says`)),
      ]);
  });

  it('is what the generator writes, byte for byte', () => {
    const dir = mkdtempSync(join(tmpdir(), 't-'));
    try {
      const out = join(dir, 'gate-table.ts');
      execFileSync(process.execPath, ['scripts/gate-table.mjs', out], { stdio: 'pipe' });
      expect(readFileSync(out, 'utf8') === readFileSync('src/protocol/gate-table.ts', 'utf8'), REGENERATE).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
