import { rm } from 'node:fs/promises';
import { auditStore } from '../audit/history.js';
import type { TillPaths } from '../core/paths.js';
import { journalStore } from '../core/state/deploy-journal.js';
import { healthHistoryStore } from '../core/state/health.js';
import { UNCHANGED } from '../core/state/store.js';

/**
 * Moves what till keeps about a host under another name, in every state file keyed by
 * host name besides the database: the health history, the audit history (its own file)
 * and the deploy journal. Each move is one locked, atomic write and merges into what
 * the new name may already have, so running it again after an interruption finishes
 * the job. `host edit --rename` runs it under the database's lock, before the database
 * itself is renamed.
 */
export async function renameHostState(paths: TillPaths, from: string, to: string): Promise<void> {
  await healthHistoryStore(paths).update((history) => {
    const points = history.hosts[from];
    if (points === undefined) return UNCHANGED;
    history.hosts[to] = [...(history.hosts[to] ?? []), ...points].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
    delete history.hosts[from];
  });

  const oldAudits = auditStore(paths, from);
  if (await oldAudits.exists()) {
    const { audits } = await oldAudits.read();
    await auditStore(paths, to).update((history) => {
      history.host = to;
      // A rename interrupted after this write and before the rm below merges them again: one audit per time.
      const had = new Set(history.audits.map((a) => a.at));
      history.audits = [...history.audits, ...audits.filter((a) => !had.has(a.at))].sort(
        (a, b) => Date.parse(a.at) - Date.parse(b.at),
      );
    });
    await rm(oldAudits.file, { force: true });
  }

  await journalStore(paths).update((journal) => {
    let changed = false;
    for (const run of journal.runs) {
      const progress = run.hosts[from];
      if (progress === undefined) continue;
      run.hosts[to] = progress;
      delete run.hosts[from];
      changed = true;
    }
    return changed ? undefined : UNCHANGED;
  });
}
