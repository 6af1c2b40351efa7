import { readFile } from 'node:fs/promises';
import { analyzeSnapshot, uniqueKeys, type HostAudit, type TillFingerprints } from '../audit/analyze.js';
import { isInvalid, parseAuthorizedKeysLine } from '../audit/authorized-keys.js';
import { parseAuditOutput } from '../audit/script.js';
import { audit as auditOp } from '../protocol/probes.js';
import type { HostJob } from '../core/fanout.js';
import type { TillPaths } from '../core/paths.js';
import { appendAudit, auditStore, type AuditHistory } from '../audit/history.js';
import { errorMessage } from '../core/errors.js';
import { keyFile } from '../ssh/key-set.js';
import { remoteFailure } from '../ssh/outcome.js';
import { runScript, scriptOutcome } from '../ssh/run-script.js';

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

/** Fingerprints of till's current key and, during a rotation, its old and next ones. */
export async function tillFingerprints(paths: TillPaths): Promise<TillFingerprints> {
  const [current, old, next] = await Promise.all([
    fingerprintOf(paths.publicKey),
    fingerprintOf(oldPublicKeyPath(paths)),
    fingerprintOf(`${keyFile(paths, 'next')}.pub`),
  ]);
  return { ...(current ? { current } : {}), ...(old ? { old } : {}), ...(next ? { next } : {}) };
}

/** Why sshd refuses a key it has: StrictModes is the cause an audit is most likely to meet. */
export const STRICT_MODES_HINT =
  "if till's key is in ~/.ssh/authorized_keys, sshd's StrictModes refuses every key there when ~, ~/.ssh or the file is group- or world-writable or not owned by the user: fix the modes on the host (chmod go-w ~ ~/.ssh ~/.ssh/authorized_keys)";

/**
 * One round trip per host: the read-only audit script. The result is compared with the
 * host's previous audit and appended to its bounded history (the first one is the baseline).
 */
export function auditJob(
  paths: TillPaths,
  till: TillFingerprints,
  opts: { connectTimeout?: number; timeoutMs?: number; now?: () => Date } = {},
): HostJob<HostAudit> {
  return async ({ name, signal }) => {
    const run = await runScript(paths, name, auditOp, undefined, {
      signal,
      connectTimeout: opts.connectTimeout,
      timeoutMs: opts.timeoutMs,
    });
    const result = run.result;
    // The raw output is a hex dump: useless in reports, so it is not passed on.
    const outcome = { ...scriptOutcome<HostAudit>(run), stdout: '' };
    if (!outcome.ok) {
      if (outcome.failure?.kind === 'auth')
        return {
          ...outcome,
          failure: { ...outcome.failure, message: `${outcome.failure.message}; ${STRICT_MODES_HINT}` },
        };
      return outcome;
    }
    let snapshot;
    try {
      snapshot = parseAuditOutput(result.stdout);
    } catch (err) {
      return {
        ...outcome,
        ok: false,
        failure: remoteFailure(`audit output not understood: ${(err as Error).message}`),
      };
    }
    // A history file that cannot be read or locked fails this host only (not retried: the
    // file is left as it is for the operator), never the others' audits.
    const store = auditStore(paths, name);
    let audit: HostAudit;
    try {
      audit = await store.update((history: AuditHistory) => {
        const previous = history.audits.at(-1);
        const a = analyzeSnapshot(
          snapshot,
          till,
          previous ? uniqueKeys(previous.keys as HostAudit['keys']) : null,
          opts.now?.() ?? new Date(),
        );
        appendAudit(history, a);
        return a;
      });
    } catch (err) {
      const message = errorMessage(err);
      const named = message.includes(store.file) ? message : `${store.file}: ${message}`;
      return {
        ...outcome,
        ok: false,
        failure: {
          kind: 'local',
          connection: false,
          retryable: false,
          message: `audit history not updated (drift unknown): ${named}`,
        },
      };
    }
    return { ...outcome, data: audit };
  };
}
