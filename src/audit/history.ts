import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod';
import '../core/state/zod.js';
import { errorMessage, fileSystemError } from '../core/errors.js';
import type { TillPaths } from '../core/paths.js';
import { JsonFileStore } from '../core/state/store.js';
import type { HostAudit } from './analyze.js';

/**
 * `$TILL_HOME/state/audit/<host>.json`: the last AUDIT_HISTORY_LIMIT audits of one host,
 * oldest first. The newest is the baseline the next audit's drift is measured against.
 */
export const AUDIT_HISTORY_LIMIT = 20;

const severity = z.enum(['info', 'low', 'medium', 'high']);
const which = z.enum(['current', 'old', 'next']).nullable();

const driftKey = z.looseObject({
  fingerprint: z.string(),
  label: z.string(),
  bits: z.number(),
  comment: z.string(),
  till: which,
});

export const hostAuditSchema = z.looseObject({
  at: z.string(),
  user: z.string(),
  uid: z.number(),
  keys: z.array(
    z.looseObject({
      file: z.enum(['authorized_keys', 'authorized_keys2']),
      line: z.number(),
      type: z.string(),
      label: z.string(),
      bits: z.number(),
      fingerprint: z.string(),
      comment: z.string(),
      options: z.array(z.looseObject({ name: z.string(), value: z.string().optional() })),
      certAuthority: z.boolean(),
      till: which,
      restricted: z.boolean(),
    }),
  ),
  tillKey: z.looseObject({
    present: z.boolean(),
    which: z.enum(['current', 'old', 'next', 'both']).nullable(),
    restricted: z.boolean(),
  }),
  findings: z.array(
    z.looseObject({
      severity,
      code: z.string(),
      message: z.string(),
      fingerprint: z.string().optional(),
      file: z.enum(['authorized_keys', 'authorized_keys2']).optional(),
      line: z.number().optional(),
      path: z.enum(['home', 'ssh', 'authorized_keys', 'authorized_keys2']).optional(),
    }),
  ),
  drift: z.looseObject({ baseline: z.boolean(), added: z.array(driftKey), removed: z.array(driftKey) }),
  files: z.array(
    z.looseObject({
      name: z.enum(['authorized_keys', 'authorized_keys2']),
      present: z.boolean(),
      size: z.number().nullable(),
      sha256: z.string().nullable(),
      truncated: z.boolean(),
    }),
  ),
  modes: z.array(
    z.looseObject({
      path: z.enum(['home', 'ssh', 'authorized_keys', 'authorized_keys2']),
      mode: z.string().nullable(),
      owner: z.string().nullable(),
      uid: z.number().nullable(),
    }),
  ),
});

export const auditHistorySchema = z.looseObject({
  version: z.literal(1),
  host: z.string(),
  audits: z.array(hostAuditSchema),
});
export type AuditHistory = z.output<typeof auditHistorySchema>;

export function auditDir(paths: TillPaths): string {
  return join(paths.stateDir, 'audit');
}

/** Host names are validated (`[A-Za-z0-9][A-Za-z0-9._-]*`), so they are safe file names. */
export function auditStore(paths: TillPaths, host: string) {
  return new JsonFileStore(join(auditDir(paths), `${host}.json`), auditHistorySchema, (): AuditHistory => ({
    version: 1,
    host,
    audits: [],
  }));
}

/** Appends an audit, keeping the newest `limit`. */
export function appendAudit(history: AuditHistory, audit: HostAudit, limit = AUDIT_HISTORY_LIMIT): void {
  history.audits.push(audit as AuditHistory['audits'][number]);
  if (history.audits.length > limit) history.audits.splice(0, history.audits.length - limit);
}

/**
 * The newest stored audit of every audited host (for metrics), by host name. A history
 * that cannot be read is skipped (and left as it is), with `onSkip` told why, so one
 * broken file does not hide every other host's numbers.
 */
export async function readLatestAudits(
  paths: TillPaths,
  onSkip?: (message: string) => void,
): Promise<Array<{ host: string; audit: HostAudit }>> {
  let names: string[];
  try {
    names = await readdir(auditDir(paths));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw fileSystemError(auditDir(paths), err, 'read') ?? err;
  }
  const out: Array<{ host: string; audit: HostAudit }> = [];
  for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
    const host = name.slice(0, -'.json'.length);
    const store = auditStore(paths, host);
    let history: AuditHistory;
    try {
      history = await store.read();
    } catch (err) {
      const message = errorMessage(err);
      onSkip?.(
        `skipped the audit history of ${host}: ${message.includes(store.file) ? message : `${store.file}: ${message}`}`,
      );
      continue;
    }
    const latest = history.audits.at(-1);
    if (latest) out.push({ host, audit: latest as HostAudit });
  }
  return out;
}

/** `host remove`: the host's audit history goes with it, so a new host of that name starts a fresh baseline. */
export async function removeAuditHistory(paths: TillPaths, host: string): Promise<void> {
  await rm(join(auditDir(paths), `${host}.json`), { force: true });
}
