import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';

/**
 * Key blobs and fingerprints, computed here rather than by ssh-keygen: a SHA256
 * fingerprint is the unpadded base64 of the SHA-256 of the decoded key blob, exactly
 * what `ssh-keygen -l` prints. Pure, apart from `fingerprintAtLine` which reads one
 * known_hosts line when ssh reports a changed host key.
 */
export const FINGERPRINT_RE = /^SHA256:[A-Za-z0-9+/]{43}$/;
const BLOB_RE = /^[A-Za-z0-9+/]+={0,3}$/;
const KEY_TYPE_RE =
  /^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)$/;

export function fingerprintOfBlob(blob: string): string {
  const digest = createHash('sha256').update(Buffer.from(blob, 'base64')).digest('base64');
  return `SHA256:${digest.replace(/=+$/, '')}`;
}

/** Accepts `SHA256:abc…` with or without base64 padding; anything else is undefined. */
export function normalizeFingerprint(text: string): string | undefined {
  const trimmed = text.trim().replace(/=+$/, '');
  return FINGERPRINT_RE.test(trimmed) ? trimmed : undefined;
}

export interface PublicKeyLine {
  type: string;
  blob: string;
  comment: string;
  fingerprint: string;
}

/** A `.pub` file's line (`type blob [comment]`), without options. */
export function parsePublicKey(line: string): PublicKeyLine | undefined {
  const m = /^(\S+) (\S+)(?: (.*))?$/.exec(line.trim());
  if (!m || !KEY_TYPE_RE.test(m[1]!) || !BLOB_RE.test(m[2]!)) return undefined;
  if ([...(m[3] ?? '')].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) return undefined;
  return { type: m[1]!, blob: m[2]!, comment: m[3] ?? '', fingerprint: fingerprintOfBlob(m[2]!) };
}

/** How ssh names a host in known_hosts: `addr` on port 22, `[addr]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/**
 * Whether a known_hosts line holds a key of `name` (as knownHostsName gives it): one of
 * its comma-separated names, plain or hashed (`|1|salt|hash`). The lines `ssh-keygen -R`
 * removes: an `@cert-authority` or `@revoked` line is not the host's key, and stays.
 */
export function lineNamesHost(line: string, name: string): boolean {
  const fields = line.trim().split(/\s+/);
  if (fields[0]?.startsWith('@')) return false;
  const names = fields[0]?.split(',') ?? [];
  return names.some((n) => {
    const hashed = /^\|1\|([^|]+)\|([^|]+)$/.exec(n);
    if (!hashed) return n === name;
    return createHmac('sha1', Buffer.from(hashed[1]!, 'base64')).update(name).digest('base64') === hashed[2];
  });
}

/** The text without the lines for `name`; every other byte kept as it was. */
export function withoutHost(text: string, name: string): string {
  return text
    .split(/(?<=\n)/)
    .filter((l) => !lineNamesHost(l, name))
    .join('');
}

export interface ScannedKey {
  name: string;
  type: string;
  blob: string;
  fingerprint: string;
  /** The known_hosts line for it. */
  line: string;
}

/** ssh-keyscan's output: `name type blob` lines, and `#` comments. */
export function parseKeyscan(stdout: string): ScannedKey[] {
  const keys: ScannedKey[] = [];
  for (const raw of stdout.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\S+) (\S+) (\S+)$/.exec(line);
    if (!m || !KEY_TYPE_RE.test(m[2]!) || !BLOB_RE.test(m[3]!)) continue;
    keys.push({ name: m[1]!, type: m[2]!, blob: m[3]!, fingerprint: fingerprintOfBlob(m[3]!), line });
  }
  return keys;
}

export interface HostKeyChange {
  /** The host as ssh names it in known_hosts (`[127.0.0.2]:2201`). */
  address?: string;
  /** The fingerprint of the key the host sent. */
  offered?: string;
  /** Where till's known_hosts holds the key it expected. */
  knownFile?: string;
  knownLine?: number;
}

/** What ssh's REMOTE HOST IDENTIFICATION HAS CHANGED banner says, in parts. */
export function parseHostKeyChange(stderr: string): HostKeyChange {
  const text = stderr.replace(/\r/g, '');
  const out: HostKeyChange = {};
  const offered = /key sent by the remote host is\s+(SHA256:[A-Za-z0-9+/]+)/.exec(text);
  if (offered) out.offered = offered[1];
  const offending = /Offending \S+ key in (.+):(\d+)\s*$/m.exec(text);
  if (offending) {
    out.knownFile = offending[1];
    out.knownLine = Number(offending[2]);
  }
  const address = /Host key for (\S+) has changed/.exec(text);
  if (address) out.address = address[1];
  return out;
}

/** The fingerprint of the key on one line of a known_hosts file, if it can be read. */
export function fingerprintAtLine(file: string, lineNumber: number): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const line = text.split('\n')[lineNumber - 1];
  if (line === undefined) return undefined;
  const fields = line.trim().split(/\s+/);
  // [@marker] names type blob
  const typeAt = fields.findIndex((f) => KEY_TYPE_RE.test(f));
  const blob = typeAt === -1 ? undefined : fields[typeAt + 1];
  return blob !== undefined && BLOB_RE.test(blob) ? fingerprintOfBlob(blob) : undefined;
}
