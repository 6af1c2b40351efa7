import { createHash } from 'node:crypto';

/**
 * authorized_keys lines as sshd reads them (sshd(8), AUTHORIZED_KEYS FILE FORMAT):
 * `[options] keytype base64-key [comment]`. Pure: text in, keys and refusals out.
 * A line sshd would skip (bad options, unknown type, broken blob) is reported with
 * its number and the reason, never guessed at.
 */

export interface KeyOption {
  /** Lower-cased, as sshd matches option names case-insensitively. */
  name: string;
  /** The dequoted value of `name="value"`; absent for flags. */
  value?: string;
}

export interface AuthorizedKey {
  line: number;
  options: KeyOption[];
  /** The key type as written (`ssh-ed25519`, `ssh-rsa-cert-v01@openssh.com`…). */
  type: string;
  /** How ssh-keygen -l names it: ED25519, RSA, ECDSA, DSA, ED25519-SK, ECDSA-SK, …-CERT. */
  label: string;
  bits: number;
  /** `SHA256:` + unpadded base64, as `ssh-keygen -lf` prints it. */
  fingerprint: string;
  comment: string;
  certAuthority: boolean;
  /** The line's text (without the line break), for duplicate detection and reports. */
  text: string;
}

export interface InvalidLine {
  line: number;
  reason: string;
}

export interface AuthorizedKeysFile {
  keys: AuthorizedKey[];
  invalid: InvalidLine[];
}

/** Longer than any real key line (an RSA-16384 certificate is ~6 KB); sshd itself has no limit. */
export const MAX_LINE_LENGTH = 65_536;

const FLAG_OPTIONS = new Set([
  'agent-forwarding',
  'cert-authority',
  'no-agent-forwarding',
  'no-port-forwarding',
  'no-pty',
  'no-user-rc',
  'no-x11-forwarding',
  'port-forwarding',
  'pty',
  'user-rc',
  'x11-forwarding',
  'no-touch-required',
  'verify-required',
  'restrict',
]);
const VALUE_OPTIONS = new Set([
  'command',
  'environment',
  'expiry-time',
  'from',
  'permitlisten',
  'permitopen',
  'principals',
  'tunnel',
]);

interface KeyKind {
  label: string;
  /** The canonical plain type whose public fields the blob carries (what the fingerprint hashes). */
  plain: string;
  cert: boolean;
}

/** Canonical plain types and how ssh-keygen -l labels them. */
const PLAIN_LABELS: Record<string, string> = {
  'ssh-ed25519': 'ED25519',
  'ssh-rsa': 'RSA',
  'ssh-dss': 'DSA',
  'ecdsa-sha2-nistp256': 'ECDSA',
  'ecdsa-sha2-nistp384': 'ECDSA',
  'ecdsa-sha2-nistp521': 'ECDSA',
  'sk-ssh-ed25519@openssh.com': 'ED25519-SK',
  'sk-ecdsa-sha2-nistp256@openssh.com': 'ECDSA-SK',
};

/**
 * Every name OpenSSH's sshkey_type_from_name knows (sshkey.c keyimpls, OpenSSH 9.x without
 * XMSS), mapped to its canonical plain type. sshkey_read accepts any of them at the start of
 * a line, and the blob inside may carry any name of the same key type: an
 * `rsa-sha2-256` line holding an `ssh-rsa` blob is an RSA key sshd logs in with.
 */
const PLAIN_ALIASES: Record<string, string> = {
  ...Object.fromEntries(Object.keys(PLAIN_LABELS).map((t) => [t, t])),
  'rsa-sha2-256': 'ssh-rsa',
  'rsa-sha2-512': 'ssh-rsa',
  'webauthn-sk-ecdsa-sha2-nistp256@openssh.com': 'sk-ecdsa-sha2-nistp256@openssh.com',
};

const CERT_ALIASES: Record<string, string> = {
  'ssh-ed25519-cert-v01@openssh.com': 'ssh-ed25519',
  'sk-ssh-ed25519-cert-v01@openssh.com': 'sk-ssh-ed25519@openssh.com',
  'ssh-rsa-cert-v01@openssh.com': 'ssh-rsa',
  'rsa-sha2-256-cert-v01@openssh.com': 'ssh-rsa',
  'rsa-sha2-512-cert-v01@openssh.com': 'ssh-rsa',
  'ssh-dss-cert-v01@openssh.com': 'ssh-dss',
  'ecdsa-sha2-nistp256-cert-v01@openssh.com': 'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384-cert-v01@openssh.com': 'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521-cert-v01@openssh.com': 'ecdsa-sha2-nistp521',
  'sk-ecdsa-sha2-nistp256-cert-v01@openssh.com': 'sk-ecdsa-sha2-nistp256@openssh.com',
};

/** Key type names sshd accepts in authorized_keys (exact, case-sensitive, as sshkey_read matches them). */
export function keyKind(type: string): KeyKind | undefined {
  if (Object.hasOwn(PLAIN_ALIASES, type)) {
    const plain = PLAIN_ALIASES[type]!;
    return { label: PLAIN_LABELS[plain]!, plain, cert: false };
  }
  if (Object.hasOwn(CERT_ALIASES, type)) {
    const plain = CERT_ALIASES[type]!;
    return { label: `${PLAIN_LABELS[plain]!}-CERT`, plain, cert: true };
  }
  return undefined;
}

export function isKeyType(type: string): boolean {
  return keyKind(type) !== undefined;
}

class BlobReader {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}
  get offset(): number {
    return this.pos;
  }
  get remaining(): number {
    return this.buf.length - this.pos;
  }
  string(what: string): Buffer {
    if (this.remaining < 4) throw new Error(`key blob ends before ${what}`);
    const len = this.buf.readUInt32BE(this.pos);
    if (len > this.remaining - 4) throw new Error(`key blob ends inside ${what}`);
    const out = this.buf.subarray(this.pos + 4, this.pos + 4 + len);
    this.pos += 4 + len;
    return out;
  }
  slice(from: number, to: number): Buffer {
    return this.buf.subarray(from, to);
  }
}

/** Bit length of an SSH mpint (big-endian two's complement; keys are positive). */
function mpintBits(m: Buffer): number {
  let i = 0;
  while (i < m.length && m[i] === 0) i++;
  if (i === m.length) return 0;
  return (m.length - i - 1) * 8 + (32 - Math.clz32(m[i]!));
}

const CURVES: Record<string, { bits: number; point: number }> = {
  nistp256: { bits: 256, point: 65 },
  nistp384: { bits: 384, point: 97 },
  nistp521: { bits: 521, point: 133 },
};

function lengthPrefixed(s: string): Buffer {
  const body = Buffer.from(s, 'latin1');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
}

/** Reads the public fields of a plain key type; returns its size in bits. */
function readPublicFields(r: BlobReader, plain: string): number {
  switch (plain) {
    case 'ssh-ed25519':
    case 'sk-ssh-ed25519@openssh.com': {
      const pk = r.string('the Ed25519 public key');
      if (pk.length !== 32) throw new Error(`Ed25519 public key is ${pk.length} bytes, not 32`);
      if (plain.startsWith('sk-')) r.string('the security key application');
      return 256;
    }
    case 'ssh-rsa': {
      r.string('the RSA exponent');
      const n = mpintBits(r.string('the RSA modulus'));
      if (n === 0) throw new Error('RSA modulus is zero');
      return n;
    }
    case 'ssh-dss': {
      const p = mpintBits(r.string('the DSA p'));
      r.string('the DSA q');
      r.string('the DSA g');
      r.string('the DSA y');
      if (p === 0) throw new Error('DSA p is zero');
      return p;
    }
    default: {
      // ecdsa-sha2-nistpNNN and sk-ecdsa-sha2-nistp256@openssh.com
      const expected = /nistp\d+/.exec(plain)![0];
      const curve = r.string('the ECDSA curve name').toString('latin1');
      if (curve !== expected) throw new Error(`ECDSA curve ${JSON.stringify(curve)} does not match key type ${plain}`);
      const q = r.string('the ECDSA point');
      const spec = CURVES[curve]!;
      if (q.length !== spec.point || q[0] !== 4) throw new Error(`ECDSA point is not an uncompressed ${curve} point`);
      if (plain.startsWith('sk-')) r.string('the security key application');
      return spec.bits;
    }
  }
}

/**
 * Checks a decoded key blob against its declared type and returns its size and
 * fingerprint. Like sshkey_read, the line's name and the blob's may differ as long as
 * they name the same key type (and, for ECDSA, the same curve). The fingerprint is
 * OpenSSH's: SHA-256 of the plain key re-serialized under its canonical name
 * (sshkey_fingerprint), so a certificate's is its public key's and an `rsa-sha2-512`
 * blob's is the `ssh-rsa` one's.
 */
export function inspectKeyBlob(type: string, blob: Buffer): { bits: number; fingerprint: string; label: string } {
  const kind = keyKind(type);
  if (!kind) throw new Error(`unknown key type ${JSON.stringify(type)}`);
  const r = new BlobReader(blob);
  const inner = r.string('the key type').toString('latin1');
  const innerKind = keyKind(inner);
  if (!innerKind || innerKind.plain !== kind.plain || innerKind.cert !== kind.cert) {
    throw new Error(`line says ${type} but the key inside is ${JSON.stringify(inner.slice(0, 60))}`);
  }
  if (kind.cert) r.string('the certificate nonce');
  const from = r.offset;
  const bits = readPublicFields(r, kind.plain);
  const plainBlob = Buffer.concat([lengthPrefixed(kind.plain), r.slice(from, r.offset)]);
  if (kind.cert && r.remaining === 0) throw new Error('certificate ends after its public key');
  if (!kind.cert && r.remaining !== 0) throw new Error(`${r.remaining} unexpected bytes after the key`);
  const fingerprint = `SHA256:${createHash('sha256').update(plainBlob).digest('base64').replace(/=+$/, '')}`;
  return { bits, fingerprint, label: kind.label };
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

function decodeBase64(text: string): Buffer {
  if (!BASE64.test(text) || text.length % 4 !== 0) throw new Error('key is not valid base64');
  const buf = Buffer.from(text, 'base64');
  if (buf.toString('base64') !== text) throw new Error('key is not valid base64');
  return buf;
}

const isSpace = (c: string | undefined) => c === ' ' || c === '\t';

/**
 * sshd's option list: comma-separated names, `name="value"` where the value may hold
 * spaces, commas and `\"`. It ends at the first blank outside quotes. Returns the
 * options and the index after them.
 */
export function parseOptions(text: string, start = 0): { options: KeyOption[]; end: number } {
  const options: KeyOption[] = [];
  let i = start;
  for (;;) {
    const nameStart = i;
    while (i < text.length && text[i] !== '=' && text[i] !== ',' && !isSpace(text[i]) && text[i] !== '"') i++;
    const name = text.slice(nameStart, i).toLowerCase();
    if (name === '') throw new Error(`empty option at column ${i + 1}`);
    if (text[i] === '"') throw new Error(`stray quote in option ${JSON.stringify(name)}`);
    let value: string | undefined;
    if (text[i] === '=') {
      i++;
      if (text[i] !== '"') throw new Error(`option ${name}= needs a double-quoted value`);
      i++;
      let v = '';
      for (;;) {
        if (i >= text.length) throw new Error(`unterminated quoted value of option ${name}`);
        if (text[i] === '\\' && text[i + 1] === '"') {
          v += '"';
          i += 2;
        } else if (text[i] === '"') {
          i++;
          break;
        } else {
          v += text[i];
          i++;
        }
      }
      value = v;
    }
    if (value === undefined && !FLAG_OPTIONS.has(name)) {
      throw new Error(
        VALUE_OPTIONS.has(name) ? `option ${name} needs a value` : `unknown option or key type ${JSON.stringify(name)}`,
      );
    }
    if (value !== undefined && !VALUE_OPTIONS.has(name)) {
      throw new Error(
        FLAG_OPTIONS.has(name) ? `option ${name} takes no value` : `unknown option ${JSON.stringify(name)}`,
      );
    }
    options.push(value === undefined ? { name } : { name, value });
    if (i >= text.length || isSpace(text[i])) return { options, end: i };
    if (text[i] !== ',') throw new Error(`unexpected ${JSON.stringify(text[i])} after option ${name}`);
    i++;
    if (i >= text.length || isSpace(text[i])) throw new Error('options end with a comma');
  }
}

/**
 * sshd's a2port: a number 1-65535 (strtonum: blanks and a sign allowed before it), else a
 * service name looked up in the host's /etc/services, which till cannot see: any other
 * word is given the benefit of the doubt, so a line sshd may accept is never hidden.
 */
function isPort(p: string): boolean {
  if (/^\s*[+-]?\d+$/.test(p)) {
    const n = Number(p);
    return n >= 1 && n <= 65_535;
  }
  return /^\S+$/.test(p);
}

/** handle_permit: `host:port` (`[v6]:port`), port a number or `*`; permitlisten also takes a bare port. */
function checkPermit(name: string, value: string): void {
  let v = value;
  if (name === 'permitlisten' && !v.includes(':')) v = `*:${v}`;
  let rest: string | undefined;
  if (v.startsWith('[')) {
    const close = v.indexOf(']');
    if (close === -1) throw new Error(`${name}="${value}": invalid permission hostname`);
    const after = v[close + 1];
    if (after !== undefined && after !== ':' && after !== '/')
      throw new Error(`${name}="${value}": invalid permission hostname`);
    rest = after === undefined ? undefined : v.slice(close + 2);
  } else {
    const at = v.search(/[:/]/);
    rest = at === -1 ? undefined : v.slice(at + 1);
  }
  if (rest === undefined || (rest !== '*' && !isPort(rest)))
    throw new Error(`${name}="${value}": invalid permission port (needs host:port)`);
}

/**
 * Seconds since the epoch of an `expiry-time` value, as sshd's parse_absolute_time reads
 * it: `YYYYMMDD[HHMM[SS]]`, optionally ending in `Z` or `UTC`, each field cut at its fixed
 * place and read by glibc strptime (blanks before the digits allowed). null: sshd refuses it.
 */
export function parseExpiryTime(value: string): { time: number; utc: boolean } | null {
  let s = value;
  let utc = false;
  if (s.length > 1 && /z$/i.test(s)) {
    utc = true;
    s = s.slice(0, -1);
  } else if (s.length > 3 && /utc$/i.test(s)) {
    utc = true;
    s = s.slice(0, -3);
  }
  if (![8, 12, 14].includes(s.length)) return null;
  const fields = [s.slice(0, 4), s.slice(4, 6), s.slice(6, 8), s.slice(8, 10), s.slice(10, 12), s.slice(12, 14)].filter(
    (f) => f !== '',
  );
  if (!fields.every((f) => /^[ \t\n\v\f\r]*\d+$/.test(f))) return null;
  const [y, mo, d, h = 0, mi = 0, se = 0] = fields.map((f) => Number(f.trim()));
  if (y! < 1969 || mo! < 1 || mo! > 12 || d! < 1 || d! > 31 || h > 23 || mi > 59 || se > 61) return null;
  // The host's local time is unknown here: read as UTC; callers allow for the offset.
  const time = Date.UTC(y!, mo! - 1, d!, h, mi, se) / 1000;
  // Before the epoch (or at it) sshd refuses the value; local times only when surely so.
  if (utc ? time <= 0 : time + 12 * 3600 <= 0) return null;
  return { time, utc };
}

/**
 * The option values sshd checks when it reads the line (sshauthopt_parse) or authorizes
 * the key (auth_authorise_keyopts): any of these failing makes sshd refuse the line.
 */
export function checkOptionValues(options: readonly KeyOption[]): void {
  const seen = new Set<string>();
  for (const o of options) {
    if (['command', 'principals', 'from'].includes(o.name)) {
      if (seen.has(o.name)) throw new Error(`multiple "${o.name}" clauses`);
      seen.add(o.name);
    }
    const v = o.value;
    if (v === undefined) continue;
    switch (o.name) {
      case 'environment': {
        const eq = v.indexOf('=');
        if (eq === -1 || !/^[A-Za-z0-9_]*$/.test(v.slice(0, eq)))
          throw new Error(`environment="${v}": invalid environment string (needs NAME=value)`);
        break;
      }
      case 'expiry-time':
        if (parseExpiryTime(v) === null)
          throw new Error(`expiry-time="${v}": invalid expires time (needs YYYYMMDD[HHMM[SS]][Z])`);
        break;
      case 'tunnel': {
        const ok = /^any$/i.test(v) || (/^\s*[+-]?\d+$/.test(v) && Number(v) >= 0 && Number(v) <= 0x7ffffffd);
        if (!ok) throw new Error(`tunnel="${v}": invalid tun device`);
        break;
      }
      case 'permitopen':
      case 'permitlisten':
        checkPermit(o.name, v);
        break;
    }
  }
  if (seen.has('principals') && !options.some((o) => o.name === 'cert-authority')) {
    throw new Error('principals= without cert-authority (sshd refuses the key)');
  }
}

/**
 * When an `expiry-time` has passed (sshd then refuses the key): its date, else null. A
 * time without `Z` is the host's local time: only reported once past in every time zone.
 */
export function expiredAt(options: readonly KeyOption[], now: Date): string | null {
  let earliest: { time: number; utc: boolean } | null = null;
  for (const o of options) {
    if (o.name !== 'expiry-time' || o.value === undefined) continue;
    const t = parseExpiryTime(o.value);
    if (t && (earliest === null || t.time < earliest.time)) earliest = t;
  }
  if (earliest === null) return null;
  const latest = earliest.utc ? earliest.time : earliest.time + 14 * 3600;
  return latest * 1000 < now.getTime()
    ? new Date(earliest.time * 1000).toISOString().replace('.000Z', earliest.utc ? 'Z' : ' (host time)')
    : null;
}

function token(text: string, from: number): { word: string; end: number } {
  let i = from;
  while (i < text.length && !isSpace(text[i])) i++;
  return { word: text.slice(from, i), end: i };
}

function skipSpace(text: string, from: number): number {
  let i = from;
  while (isSpace(text[i])) i++;
  return i;
}

/** One line (no line break). null: blank or a comment. */
export function parseAuthorizedKeysLine(raw: string, line: number): AuthorizedKey | InvalidLine | null {
  const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
  if (text.length > MAX_LINE_LENGTH)
    return { line, reason: `line is ${text.length} characters long (limit ${MAX_LINE_LENGTH})` };
  if (text.includes('\0')) return { line, reason: 'line contains a NUL byte' };
  let i = skipSpace(text, 0);
  if (i >= text.length || text[i] === '#') return null;
  try {
    let options: KeyOption[] = [];
    // Like sshd: a line that starts with a key type has no options.
    if (!isKeyType(token(text, i).word)) {
      const parsed = parseOptions(text, i);
      options = parsed.options;
      checkOptionValues(options);
      i = skipSpace(text, parsed.end);
    }
    const type = token(text, i);
    if (type.word === '') throw new Error('options but no key');
    if (!isKeyType(type.word)) throw new Error(`unknown key type ${JSON.stringify(type.word.slice(0, 60))}`);
    i = skipSpace(text, type.end);
    const b64 = token(text, i);
    if (b64.word === '') throw new Error(`no key after ${type.word}`);
    const info = inspectKeyBlob(type.word, decodeBase64(b64.word));
    const comment = text.slice(skipSpace(text, b64.end)).trim();
    return {
      line,
      options,
      type: type.word,
      label: info.label,
      bits: info.bits,
      fingerprint: info.fingerprint,
      comment,
      certAuthority: options.some((o) => o.name === 'cert-authority'),
      text: text.trim(),
    };
  } catch (err) {
    return { line, reason: (err as Error).message };
  }
}

export function isInvalid(r: AuthorizedKey | InvalidLine): r is InvalidLine {
  return 'reason' in r;
}

/** A whole authorized_keys file: keys in order, and the lines sshd would skip. */
export function parseAuthorizedKeys(text: string): AuthorizedKeysFile {
  const keys: AuthorizedKey[] = [];
  const invalid: InvalidLine[] = [];
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  lines.forEach((raw, index) => {
    const r = parseAuthorizedKeysLine(raw, index + 1);
    if (r === null) return;
    if (isInvalid(r)) invalid.push(r);
    else keys.push(r);
  });
  return { keys, invalid };
}

/**
 * `restrict` or a forced command: some limit on the key. Not a verdict on what it can
 * run: `restrict` alone still runs any command (without a pty). For till's own key,
 * see isTillGateLine.
 */
export function isRestricted(options: readonly KeyOption[]): boolean {
  return options.some((o) => o.name === 'restrict' || o.name === 'command');
}

/** `<home>/.till/bin/till gate`: the forced command `host setup --restrict` writes (ops/restrict.ts). */
const TILL_GATE_COMMAND_RE = /^(\/[^"\\\n]*)?\/\.till\/bin\/till gate$/;

/** Options besides `restrict` and the command that only narrow what the key may do. */
const NARROWING = new Set([
  'from',
  'expiry-time',
  'verify-required',
  'no-agent-forwarding',
  'no-port-forwarding',
  'no-pty',
  'no-user-rc',
  'no-x11-forwarding',
]);

/**
 * Whether a line confines its key to till's gate, as `host setup --restrict` writes it:
 * `restrict`, exactly one forced command that is till's gate, `<home>/.till/bin/till gate`
 * (an absolute home, no `.` or `..` in it), and no option that gives back what `restrict`
 * takes (pty, port-forwarding, environment, …). `restrict` alone runs any command;
 * a command alone leaves forwarding open. The audit does not learn the host's $HOME, so
 * the home part is checked for its form, not compared.
 */
export function isTillGateLine(options: readonly KeyOption[]): boolean {
  const commands = options.filter((o) => o.name === 'command');
  if (!options.some((o) => o.name === 'restrict') || commands.length !== 1) return false;
  const command = commands[0]!.value ?? '';
  if (!TILL_GATE_COMMAND_RE.test(command) || command.split('/').some((s) => s === '.' || s === '..')) return false;
  return options.every((o) => o.name === 'restrict' || o.name === 'command' || NARROWING.has(o.name));
}

/** Options as written back in a line (for display). */
export function formatOptions(options: readonly KeyOption[]): string {
  return options.map((o) => (o.value === undefined ? o.name : `${o.name}="${o.value.replace(/"/g, '\\"')}"`)).join(',');
}
