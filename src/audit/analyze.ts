/**
 * From what the audit script saw to what an operator needs to know: keys, till's own
 * key, findings by severity and drift since the previous audit. Pure.
 */
import { createHash } from 'node:crypto';
import {
  expiredAt,
  formatOptions,
  isRestricted,
  isTillGateLine,
  parseAuthorizedKeys,
  type KeyOption,
} from './authorized-keys.js';
import { AUDIT_FILES, type AuditFileName, type AuditPathLabel, type AuditSnapshot } from './script.js';

export const SEVERITIES = ['info', 'low', 'medium', 'high'] as const;
export type Severity = (typeof SEVERITIES)[number];

export function severityRank(s: Severity): number {
  return SEVERITIES.indexOf(s);
}

/** till's key slots: the current key, the previous one during a rotation, the next one before the switch. */
export type TillKeyWhich = 'current' | 'old' | 'next';

export interface AuditedKey {
  file: AuditFileName;
  line: number;
  type: string;
  label: string;
  bits: number;
  fingerprint: string;
  comment: string;
  options: KeyOption[];
  certAuthority: boolean;
  /** Which of till's keys this is, if any. */
  till: TillKeyWhich | null;
  /** till's key: its line is in till's gate form (isTillGateLine). Another key: `restrict` or a forced command. */
  restricted: boolean;
}

export interface Finding {
  severity: Severity;
  code: string;
  message: string;
  fingerprint?: string;
  file?: AuditFileName;
  line?: number;
  path?: AuditPathLabel;
}

export interface DriftKey {
  fingerprint: string;
  label: string;
  bits: number;
  comment: string;
  till: TillKeyWhich | null;
}

export interface AuditedFile {
  name: AuditFileName;
  present: boolean;
  size: number | null;
  sha256: string | null;
  truncated: boolean;
}

export interface PathMode {
  path: AuditPathLabel;
  mode: string | null;
  owner: string | null;
  uid: number | null;
}

export interface HostAudit {
  at: string;
  user: string;
  uid: number;
  keys: AuditedKey[];
  tillKey: { present: boolean; which: TillKeyWhich | 'both' | null; restricted: boolean };
  findings: Finding[];
  /** null on a host's first audit: it records the baseline. */
  drift: { baseline: boolean; added: DriftKey[]; removed: DriftKey[] };
  files: AuditedFile[];
  modes: PathMode[];
}

export interface TillFingerprints {
  current?: string;
  old?: string;
  /** `till_federation_ed25519.new`: hosts get it before the local switch of a rotation. */
  next?: string;
}

const PATH_NAMES: Record<AuditPathLabel, string> = {
  home: '~',
  ssh: '~/.ssh',
  authorized_keys: '~/.ssh/authorized_keys',
  authorized_keys2: '~/.ssh/authorized_keys2',
};

function describe(k: { label: string; bits: number; comment: string; fingerprint: string }): string {
  return `${k.label} ${k.bits}-bit key ${k.fingerprint}${k.comment ? ` (${k.comment})` : ''}`;
}

/**
 * What sshd's StrictModes checks (auth_secure_path): each of ~, ~/.ssh and the file
 * owned by the user or root and not writable by group or others. A group- or
 * world-writable path also lets others add keys, whatever StrictModes says.
 */
function modeFindings(snap: AuditSnapshot): Finding[] {
  const out: Finding[] = [];
  for (const label of ['home', 'ssh', ...AUDIT_FILES] as AuditPathLabel[]) {
    const st = snap.stats[label];
    const where = PATH_NAMES[label];
    if (st === null) continue;
    if (st === 'unknown') {
      out.push({
        severity: 'medium',
        code: 'mode-unknown',
        message: `could not stat ${where} (neither GNU nor BSD stat answered)`,
        path: label,
      });
      continue;
    }
    if ((st.mode & 0o022) !== 0) {
      const who = [(st.mode & 0o020) !== 0 ? 'group' : '', (st.mode & 0o002) !== 0 ? 'others' : '']
        .filter(Boolean)
        .join(' and ');
      out.push({
        severity: 'high',
        code: 'unsafe-mode',
        message: `${where} is mode ${st.mode.toString(8).padStart(3, '0')}: writable by ${who} (sshd StrictModes refuses it; others can add keys)`,
        path: label,
      });
    }
    if (st.uid !== snap.uid && st.uid !== 0) {
      out.push({
        severity: 'high',
        code: 'unsafe-owner',
        message: `${where} is owned by ${st.owner} (uid ${st.uid}), not by ${snap.user} (uid ${snap.uid}) or root`,
        path: label,
      });
    }
  }
  return out;
}

/** Audits one host's snapshot against till's key fingerprints and its previous audit's keys. */
export function analyzeSnapshot(
  snap: AuditSnapshot,
  till: TillFingerprints,
  previous: readonly DriftKey[] | null,
  at: Date = new Date(),
): HostAudit {
  const keys: AuditedKey[] = [];
  const findings: Finding[] = [];
  const files: AuditedFile[] = [];
  const seen = new Map<string, { file: AuditFileName; line: number }>();

  for (const name of AUDIT_FILES) {
    const f = snap.files[name];
    if (f === undefined) {
      files.push({ name, present: snap.stats[name] !== null, size: null, sha256: null, truncated: false });
      continue;
    }
    if (f === 'unreadable') {
      files.push({ name, present: true, size: null, sha256: null, truncated: false });
      findings.push({
        severity: 'medium',
        code: 'unreadable',
        message: `~/.ssh/${name} exists but its owner cannot read it`,
        file: name,
      });
      continue;
    }
    files.push({
      name,
      present: true,
      size: f.size,
      sha256: createHash('sha256').update(f.content).digest('hex'),
      truncated: f.truncated,
    });
    if (f.truncated) {
      findings.push({
        severity: 'medium',
        code: 'truncated',
        message: `~/.ssh/${name} is ${f.size} bytes; only the first ${f.content.length} were audited`,
        file: name,
      });
    }
    // Bytes that are not UTF-8 become U+FFFD: such a line cannot be a valid key anyway.
    const parsed = parseAuthorizedKeys(f.content.toString('utf8'));
    for (const bad of parsed.invalid) {
      findings.push({
        severity: 'medium',
        code: 'unparseable-line',
        message: `~/.ssh/${name} line ${bad.line}: ${bad.reason} (sshd skips this line)`,
        file: name,
        line: bad.line,
      });
    }
    for (const k of parsed.keys) {
      const which: TillKeyWhich | null =
        k.fingerprint === till.current
          ? 'current'
          : k.fingerprint === till.old
            ? 'old'
            : k.fingerprint === till.next
              ? 'next'
              : null;
      const key: AuditedKey = {
        file: name,
        line: k.line,
        type: k.type,
        label: k.label,
        bits: k.bits,
        fingerprint: k.fingerprint,
        comment: k.comment,
        options: k.options,
        certAuthority: k.certAuthority,
        till: which,
        // till's key counts as restricted only in till's own gate form; any key, with some limit.
        restricted: which !== null ? isTillGateLine(k.options) : isRestricted(k.options),
      };
      keys.push(key);
      const first = seen.get(k.fingerprint);
      if (first) {
        findings.push({
          severity: 'low',
          code: 'duplicate-key',
          message: `~/.ssh/${name} line ${k.line} repeats the key of ~/.ssh/${first.file} line ${first.line}${formatOptions(k.options) ? ' (sshd uses the first line, so these options are ignored)' : ''}`,
          fingerprint: k.fingerprint,
          file: name,
          line: k.line,
        });
      } else {
        seen.set(k.fingerprint, { file: name, line: k.line });
      }
      const expired = expiredAt(k.options, at);
      if (expired !== null) {
        findings.push({
          severity: 'low',
          code: 'key-expired',
          message: `~/.ssh/${name} line ${k.line}: expiry-time ${expired} has passed, sshd refuses ${describe(k)}`,
          fingerprint: k.fingerprint,
          file: name,
          line: k.line,
        });
      }
      if (k.label.startsWith('DSA')) {
        findings.push({
          severity: 'high',
          code: 'weak-key',
          message: `weak key: ${describe(k)} (DSA is broken and disabled since OpenSSH 7.0)`,
          fingerprint: k.fingerprint,
          file: name,
          line: k.line,
        });
      } else if (k.label.startsWith('RSA') && k.bits < 2048) {
        findings.push({
          severity: 'high',
          code: 'weak-key',
          message: `weak key: ${describe(k)} (RSA under 2048 bits)`,
          fingerprint: k.fingerprint,
          file: name,
          line: k.line,
        });
      }
    }
  }

  findings.push(...modeFindings(snap));

  const tillKeys = keys.filter((k) => k.till !== null);
  const slots = new Set(tillKeys.map((k) => k.till!));
  const tillKey: HostAudit['tillKey'] = {
    present: tillKeys.length > 0,
    // 'both': more than one of till's keys (a rotation in progress).
    which: slots.size > 1 ? 'both' : slots.size === 1 ? [...slots][0]! : null,
    restricted: tillKeys.length > 0 && tillKeys.every((k) => k.restricted),
  };
  if (!tillKey.present) {
    findings.push({
      severity: 'info',
      code: 'till-key-absent',
      message: "till's key is not in ~/.ssh/authorized_keys{,2} (sshd may read another AuthorizedKeysFile)",
    });
  } else if (tillKey.which === 'old') {
    findings.push({
      severity: 'low',
      code: 'till-key-old',
      message: "only till's old key is authorized: this host has not been rotated yet",
    });
  }

  const current = uniqueKeys(keys);
  const drift: HostAudit['drift'] = { baseline: previous === null, added: [], removed: [] };
  if (previous !== null) {
    const before = new Set(previous.map((k) => k.fingerprint));
    const now = new Set(current.map((k) => k.fingerprint));
    drift.added = current.filter((k) => !before.has(k.fingerprint));
    drift.removed = previous.filter((k) => !now.has(k.fingerprint));
    for (const k of drift.added) {
      if (k.till !== null) {
        findings.push({
          severity: 'info',
          code: 'till-key-added',
          message: `till's ${k.till} key was added since the last audit`,
          fingerprint: k.fingerprint,
        });
      } else {
        findings.push({
          severity: 'high',
          code: 'key-added',
          message: `unknown key added since the last audit: ${describe(k)}`,
          fingerprint: k.fingerprint,
        });
      }
    }
    for (const k of drift.removed) {
      findings.push({
        severity: 'low',
        code: 'key-removed',
        message: `key removed since the last audit: ${describe(k)}`,
        fingerprint: k.fingerprint,
      });
    }
  }

  findings.sort((a, b) => severityRank(b.severity) - severityRank(a.severity));
  const modes: PathMode[] = (['home', 'ssh', ...AUDIT_FILES] as AuditPathLabel[]).map((path) => {
    const st = snap.stats[path];
    return st === null || st === 'unknown'
      ? { path, mode: null, owner: null, uid: null }
      : { path, mode: st.mode.toString(8).padStart(3, '0'), owner: st.owner, uid: st.uid };
  });
  return { at: at.toISOString(), user: snap.user, uid: snap.uid, keys, tillKey, findings, drift, files, modes };
}

/** Each distinct key once, as drift compares them. */
export function uniqueKeys(keys: readonly AuditedKey[]): DriftKey[] {
  const out = new Map<string, DriftKey>();
  for (const k of keys) {
    if (!out.has(k.fingerprint))
      out.set(k.fingerprint, {
        fingerprint: k.fingerprint,
        label: k.label,
        bits: k.bits,
        comment: k.comment,
        till: k.till,
      });
  }
  return [...out.values()];
}

export function worstSeverity(findings: readonly Finding[]): Severity | null {
  if (findings.length === 0) return null;
  return SEVERITIES[Math.max(...findings.map((f) => severityRank(f.severity)))]!;
}

export function countBySeverity(findings: readonly Finding[]): Record<Severity, number> {
  const counts: Record<Severity, number> = { info: 0, low: 0, medium: 0, high: 0 };
  for (const f of findings) counts[f.severity] += 1;
  return counts;
}
