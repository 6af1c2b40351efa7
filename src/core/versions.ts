import type { HostEntry } from './state/hosts.js';

/**
 * Which till is older. On a host whose key is restricted, the host's own till runs
 * `till gate`, the trust boundary, and a fix to the gate reaches that host only when
 * `till host setup` installs a newer till there: the views flag a restricted host whose
 * recorded till is older than this one. Pure.
 */

const SEMVER = /^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;

interface Parsed {
  core: [bigint, bigint, bigint];
  pre: string[];
}

function parse(version: string): Parsed | null {
  const m = SEMVER.exec(version);
  if (!m) return null;
  return { core: [BigInt(m[1]!), BigInt(m[2]!), BigInt(m[3]!)], pre: m[4] === undefined ? [] : m[4].split('.') };
}

const sign = (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0);

/** Semver 2.0's order of two pre-release identifiers: numbers by value and below words, words in ASCII order. */
function compareIdentifier(a: string, b: string): number {
  const an = /^\d+$/.test(a);
  const bn = /^\d+$/.test(b);
  if (an && bn) return sign(BigInt(a), BigInt(b));
  if (an !== bn) return an ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Semver 2.0 precedence: negative when `a` is older than `b`, 0 when neither is, positive
 * when it is newer; null when either is not a version. A pre-release is older than its
 * release (`0.2.0-rc.1` < `0.2.0`); build metadata (`+…`) does not count.
 */
export function compareVersions(a: string, b: string): number | null {
  const pa = parse(a);
  const pb = parse(b);
  if (!pa || !pb) return null;
  for (let i = 0; i < 3; i++) {
    const c = sign(pa.core[i]!, pb.core[i]!);
    if (c !== 0) return c;
  }
  // A release is newer than any of its pre-releases.
  if (pa.pre.length === 0 || pb.pre.length === 0) return Math.sign(pb.pre.length) - Math.sign(pa.pre.length);
  for (let i = 0; i < Math.min(pa.pre.length, pb.pre.length); i++) {
    const c = compareIdentifier(pa.pre[i]!, pb.pre[i]!);
    if (c !== 0) return c;
  }
  return sign(BigInt(pa.pre.length), BigInt(pb.pre.length));
}

/**
 * Whether a host's gate is older than till `version`: true or false for a host whose key
 * is restricted (from its recorded `till_version`), null when that version is unknown or
 * not a version; false for an unrestricted host, whose till is no trust boundary.
 */
export function gateOutdated(entry: Pick<HostEntry, 'restricted' | 'till_version'>, version: string): boolean | null {
  if (entry.restricted !== true) return false;
  if (typeof entry.till_version !== 'string') return null;
  const c = compareVersions(entry.till_version, version);
  return c === null ? null : c < 0;
}
