/** renameHostState run again after an interruption: what it merged once is not merged twice. */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { auditStore, type AuditHistory } from '../../src/audit/history.js';
import { tillPaths } from '../../src/core/paths.js';
import { renameHostState } from '../../src/inventory/rename.js';

const dir = mkdtempSync('/tmp/t-rn-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function audit(at: string): AuditHistory['audits'][number] {
  return {
    at,
    user: 'u',
    uid: 1000,
    keys: [],
    tillKey: { present: true, which: 'current', restricted: false },
    findings: [],
    drift: { baseline: true, added: [], removed: [] },
    files: [],
    modes: [],
  };
}

describe('renameHostState', () => {
  it('an audit history already merged into the new name (interrupted before the old file went) is not doubled', async () => {
    const paths = tillPaths(join(dir, 'home'));
    mkdirSync(join(paths.stateDir, 'audit'), { recursive: true });
    const old = [audit('2026-12-07T10:00:00.000Z'), audit('2026-12-07T11:00:00.000Z')];
    await auditStore(paths, 'a').write({ version: 1, host: 'a', audits: old });
    // The first run wrote b.json (b's own audit and a's) and was killed before removing a.json.
    const own = audit('2026-12-07T09:00:00.000Z');
    await auditStore(paths, 'b').write({ version: 1, host: 'b', audits: [own, ...old] });
    await renameHostState(paths, 'a', 'b');
    const merged = JSON.parse(readFileSync(auditStore(paths, 'b').file, 'utf8')) as AuditHistory;
    expect(merged.audits.map((a) => a.at)).toEqual([own.at, old[0]!.at, old[1]!.at]);
    expect(await auditStore(paths, 'a').exists()).toBe(false);
  });
});
