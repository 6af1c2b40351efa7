import { readFile } from 'node:fs/promises';
import { analyzeSnapshot, uniqueKeys, type HostAudit, type TillFingerprints } from '../audit/analyze.js';
import { isInvalid, parseAuthorizedKeysLine } from '../audit/authorized-keys.js';
import { AUDIT_COMMAND, parseAuditOutput } from '../audit/script.js';
import type { HostJob } from '../core/fanout.js';
import type { TillPaths } from '../core/paths.js';
import { appendAudit, auditStore, type AuditHistory } from '../core/state/audit.js';
import { sshRun, toOutcome } from '../ssh/client.js';

/** During a key rotation the previous key pair lives here until no host uses it. */
export function oldPublicKeyPath(paths: TillPaths): string {
  return `${paths.privateKey}.old.pub`;
}

async function fingerprintOf(file: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  const line = text.split('\n').find((l) => l.trim() !== '');
  const parsed = line === undefined ? null : parseAuthorizedKeysLine(line, 1);
  return parsed && !isInvalid(parsed) ? parsed.fingerprint : undefined;
}

/** Fingerprints of till's current key and, during a rotation, its old one. */
export async function tillFingerprints(paths: TillPaths): Promise<TillFingerprints> {
  const [current, old] = await Promise.all([fingerprintOf(paths.publicKey), fingerprintOf(oldPublicKeyPath(paths))]);
  return { ...(current ? { current } : {}), ...(old ? { old } : {}) };
}

/**
 * One round trip per host: the read-only audit script. The result is compared with the
 * host's previous audit and appended to its bounded history (the first one is the baseline).
 */
export function auditJob(paths: TillPaths, till: TillFingerprints, opts: { connectTimeout?: number; timeoutMs?: number; now?: () => Date } = {}): HostJob<HostAudit> {
  return async ({ name, signal }) => {
    const result = await sshRun(paths, name, AUDIT_COMMAND, { signal, connectTimeout: opts.connectTimeout, timeoutMs: opts.timeoutMs });
    // The raw output is a hex dump: useless in reports, so it is not passed on.
    const outcome = { ...toOutcome<HostAudit>(result), stdout: '' };
    if (!outcome.ok) return outcome;
    let snapshot;
    try {
      snapshot = parseAuditOutput(result.stdout);
    } catch (err) {
      return { ...outcome, ok: false, failure: { kind: 'remote', connection: false, retryable: false, message: `audit output not understood: ${(err as Error).message}` } };
    }
    const audit = await auditStore(paths, name).update((history: AuditHistory) => {
      const previous = history.audits.at(-1);
      const a = analyzeSnapshot(snapshot, till, previous ? uniqueKeys(previous.keys as HostAudit['keys']) : null, opts.now?.() ?? new Date());
      appendAudit(history, a);
      return a;
    });
    return { ...outcome, data: audit };
  };
}
