import { deployPathProblem, NAME_RE, plainDeployPath, remotePathProblem } from '../protocol/args.js';
import { UsageError } from './errors.js';

/**
 * node:net's isIP, with node:net loaded on the first call: loading it (and with it
 * Node's streams) costs a start of every command that imports this module, which is
 * most, while only a command that checks an address calls it.
 */
const isIP = (value: string): number => process.getBuiltinModule('node:net').isIP(value);

/**
 * Every value that ends up in ssh/config or on an ssh/rsync command line passes
 * through here first. A newline in a host name would otherwise let anyone who can
 * add a host inject `ProxyCommand` and run code on the operator's machine.
 */
export { NAME_RE, remotePathProblem };
// POSIX-ish user names, plus the dots and capitals real systems allow.
export const USER_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,31}$/;
// RFC 1123 host names: labels of letters, digits and inner hyphens.
export const HOSTNAME_RE =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

export type NameKind = 'host' | 'group' | 'installation';

export function validateName(value: string, kind: NameKind = 'host'): string {
  if (!NAME_RE.test(value)) {
    throw new UsageError(
      `invalid ${kind} name ${JSON.stringify(value)}`,
      `${kind} names start with a letter or digit and use only A-Z a-z 0-9 . _ - (at most 63 characters)`,
    );
  }
  return value;
}

export function validateUser(value: string): string {
  if (!USER_RE.test(value)) {
    throw new UsageError(
      `invalid user ${JSON.stringify(value)}`,
      'user names use only letters, digits, . _ - and do not start with - or .',
    );
  }
  return value;
}

/** A DNS name, an IPv4 address or an IPv6 literal (without brackets). */
export function isValidAddress(value: string): boolean {
  // No IPv6 zone ids (fe80::1%eth0): `%` is a token introducer in ssh_config.
  if (value.includes('%')) return false;
  return isIP(value) !== 0 || (HOSTNAME_RE.test(value) && !/^\d+(\.\d+){3}$/.test(value));
}

export function validateAddress(value: string): string {
  if (isValidAddress(value)) return value;
  throw new UsageError(
    `invalid host address ${JSON.stringify(value)}`,
    'use a DNS name (letters, digits, dots, inner hyphens), an IPv4 address, or an IPv6 literal in brackets: user@[2001:db8::5]:2222',
  );
}

export function validatePort(value: string | number): number {
  const text = String(value);
  if (!/^\d{1,5}$/.test(text))
    throw new UsageError(`invalid port ${JSON.stringify(text)}`, 'a port is a whole number from 1 to 65535');
  const port = Number(text);
  if (port < 1 || port > 65535)
    throw new UsageError(`invalid port ${port}`, 'a port is a whole number from 1 to 65535');
  return port;
}

/**
 * A host's tekton_path (a deploy root): absolute, or relative to the remote home with
 * `~/`. No control characters, quotes, whitespace or `..` segments: it is written into
 * unit files, shell snippets and rsync arguments, and must mean exactly one place. A
 * trailing slash is dropped (`~/app/` is `~/app`); the root, the home, `~/.ssh` and
 * `~/.till` are refused (deployPathProblem: a deploy replaces the folder with a symlink).
 */
export function validateTektonPath(value: string, what = 'tekton_path'): string {
  const plain = plainDeployPath(value);
  const problem = deployPathProblem(plain);
  if (problem)
    throw new UsageError(
      `invalid ${what} ${JSON.stringify(value)}: ${problem}`,
      'use an absolute path or one starting with ~/, of letters, digits and / . _ - + @ , =, naming the folder till deploys into',
    );
  return plain;
}

export interface HostSpec {
  user: string;
  host: string;
  port?: number;
}

/** Parses `user@host[:port]`, `user@[v6]:port`, with `host` starting with a letter, digit or `[`. */
export function parseHostSpec(spec: string): HostSpec {
  const at = spec.lastIndexOf('@');
  if (at <= 0) {
    throw new UsageError(
      `invalid host ${JSON.stringify(spec)}: expected user@host[:port]`,
      'for example deploy@web1.example.com:2222 or deploy@[2001:db8::5]:2222',
    );
  }
  const user = validateUser(spec.slice(0, at));
  const rest = spec.slice(at + 1);
  let host: string;
  let portText: string | undefined;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close === -1) throw new UsageError(`invalid host ${JSON.stringify(spec)}: unclosed [ in IPv6 literal`);
    host = rest.slice(1, close);
    const after = rest.slice(close + 1);
    if (after !== '') {
      if (!after.startsWith(':')) throw new UsageError(`invalid host ${JSON.stringify(spec)}: unexpected text after ]`);
      portText = after.slice(1);
    }
    if (isIP(host) !== 6)
      throw new UsageError(`invalid host ${JSON.stringify(spec)}: ${JSON.stringify(host)} is not an IPv6 address`);
    // isIP accepts a zone id (fe80::1%eth0), which ssh_config would read as a % token.
    if (host.includes('%')) {
      throw new UsageError(
        `invalid host ${JSON.stringify(spec)}: IPv6 zone ids (${JSON.stringify(host.slice(host.indexOf('%')))}) are not supported`,
        'use a global or unique-local IPv6 address, or a DNS name',
      );
    }
    validateAddress(host);
  } else {
    const colon = rest.indexOf(':');
    // Two colons or more: an IPv6 address, which only brackets tell from a port.
    if (colon !== rest.lastIndexOf(':')) {
      throw new UsageError(
        `invalid host ${JSON.stringify(spec)}: write an IPv6 address in brackets`,
        'for example deploy@[2001:db8::5]:2222',
      );
    }
    host = colon === -1 ? rest : rest.slice(0, colon);
    portText = colon === -1 ? undefined : rest.slice(colon + 1);
    if (!/^[A-Za-z0-9]/.test(host)) {
      throw new UsageError(`invalid host ${JSON.stringify(spec)}: the address must start with a letter, a digit or [`);
    }
    validateAddress(host);
  }
  const out: HostSpec = { user, host };
  if (portText !== undefined) out.port = validatePort(portText);
  return out;
}

export function formatHostSpec(h: { user: string; host: string; port: number }): string {
  const host = h.host.includes(':') ? `[${h.host}]` : h.host;
  return `${h.user}@${host}:${h.port}`;
}
