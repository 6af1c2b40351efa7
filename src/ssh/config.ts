import { StateError } from '../core/errors.js';
import type { TillPaths } from '../core/paths.js';
import type { HostEntry, HostsFile } from '../core/state/hosts.js';
import { isValidAddress, NAME_RE, USER_RE } from '../core/validate.js';

export const ALIAS_PREFIX = 'till-';
export const DEFAULT_CONNECT_TIMEOUT = 10;

export function aliasOf(name: string): string {
  return `${ALIAS_PREFIX}${name}`;
}

/**
 * A path as an ssh_config value: `%` is a token introducer in IdentityFile,
 * ControlPath and UserKnownHostsFile, and a path with spaces needs double quotes.
 * Paths with `"` or newlines never get here (TILL_HOME is checked when resolved).
 */
export function configPath(path: string): string {
  const escaped = path.replace(/%/g, '%%');
  return /\s/.test(escaped) ? `"${escaped}"` : escaped;
}

/**
 * The header line that records which database text a config was rendered from: a
 * config whose line does not match the current hosts-local.json is rebuilt before use.
 */
export const SOURCE_LINE_RE = /^# Rendered from hosts-local\.json with sha256 ([0-9a-f]{64})$/m;

export function sourceLine(sha256: string): string {
  return `# Rendered from hosts-local.json with sha256 ${sha256}`;
}

/** The database hash a config text was rendered from, or undefined (missing, older till, hand-made). */
export function renderedFrom(configText: string): string | undefined {
  return SOURCE_LINE_RE.exec(configText.slice(0, 4096))?.[1];
}

/**
 * Every value written into a host's block, checked again right here: a newline in any
 * of them would let the database inject `ProxyCommand` (code run on this machine). The
 * database is validated on read; this holds even if a value got past that (a bug, or a
 * seal made with a stolen key), so ssh/config is never written from such a value.
 */
function checkConfigValues(name: string, h: HostEntry): void {
  const bad = (field: string, value: unknown) =>
    new StateError(
      `hosts-local.json: host ${JSON.stringify(name)} has an invalid ${field} ${JSON.stringify(value)}; ssh/config was not written`,
      'fix that field by hand; till never writes such a value into ssh/config',
    );
  if (!NAME_RE.test(name)) throw bad('name', name);
  if (typeof h.user !== 'string' || !USER_RE.test(h.user)) throw bad('user', h.user);
  if (typeof h.host !== 'string' || !isValidAddress(h.host)) throw bad('host', h.host);
  if (!Number.isInteger(h.port) || h.port < 1 || h.port > 65535) throw bad('port', h.port);
  if (h.jump !== undefined && (typeof h.jump !== 'string' || !NAME_RE.test(h.jump))) throw bad('jump', h.jump);
}

/** A till key other than the current one (mid-rotation): hosts recorded on it use it. */
export interface OtherKey {
  fingerprint: string;
  file: string;
}

/**
 * ssh/config, regenerated in full from the database after every change.
 * Per-host blocks come first because OpenSSH keeps the first value it sees for each
 * option; the `Host till-*` defaults follow. Differences from the seed's template:
 * ControlPath uses %C (a 40-char hash) so the socket path fits whatever the host name;
 * BatchMode and ConnectTimeout so till never waits for a password or a dead host.
 */
export function renderSshConfig(
  db: HostsFile,
  paths: TillPaths,
  otherKeys: readonly OtherKey[] = [],
  sourceSha256?: string,
): string {
  const lines: string[] = [
    '# Till SSH configuration - generated from hosts-local.json by till; do not edit.',
    `# Use it by hand with: ssh -F ${configPath(paths.sshConfig)} till-<name>`,
    ...(sourceSha256 === undefined ? [] : [sourceLine(sourceSha256)]),
    '',
  ];
  const names = Object.keys(db.hosts).sort();
  for (const name of names) {
    const h = db.hosts[name]!;
    checkConfigValues(name, h);
    lines.push(`Host ${aliasOf(name)}`);
    lines.push(`    HostName ${h.host}`);
    lines.push(`    User ${h.user}`);
    lines.push(`    Port ${h.port}`);
    if (h.jump !== undefined) lines.push(`    ProxyJump ${aliasOf(h.jump)}`);
    // A host still on an older (or already on the next) till key during a rotation.
    const other =
      h.key_fingerprint === undefined ? undefined : otherKeys.find((k) => k.fingerprint === h.key_fingerprint);
    if (other) lines.push(`    IdentityFile ${configPath(other.file)}`);
    lines.push('');
  }
  lines.push(
    `Host ${ALIAS_PREFIX}*`,
    `    IdentityFile ${configPath(paths.privateKey)}`,
    '    IdentitiesOnly yes',
    '    StrictHostKeyChecking accept-new',
    `    UserKnownHostsFile ${configPath(paths.knownHosts)}`,
    '    GlobalKnownHostsFile /dev/null',
    '    HashKnownHosts no',
    '    UpdateHostKeys no',
    '    ControlMaster auto',
    `    ControlPath ${configPath(paths.controlDir)}/%C`,
    '    ControlPersist 10m',
    // The seed's 60 s left a master to a vanished host hanging for 3 minutes; 15 s × 3 still
    // held every session over the master of a frozen host for 45 s. 5 s × 3: 15 s.
    '    ServerAliveInterval 5',
    '    ServerAliveCountMax 3',
    '    BatchMode yes',
    `    ConnectTimeout ${DEFAULT_CONNECT_TIMEOUT}`,
    '    PasswordAuthentication no',
    '    KbdInteractiveAuthentication no',
    '    PreferredAuthentications publickey',
    '    LogLevel ERROR',
    '',
  );
  return lines.join('\n');
}
