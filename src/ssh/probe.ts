import type { TillPaths } from '../core/paths.js';
import type { HostsFile } from '../core/state/hosts.js';
import { aliasOf, configPath, DEFAULT_CONNECT_TIMEOUT } from './config.js';
import { shQuote } from '../protocol/quote.js';

/**
 * An ssh call that authenticates with ONE given key file and nothing else: `-F
 * /dev/null` so no IdentityFile from till's config is added to the list (a
 * command-line IdentityFile is tried before, not instead of, the config's), no
 * ControlMaster so an existing master cannot hide a refused key, and till's
 * known_hosts with strict checking. rotate-key proves a new key with it.
 */
export function buildKeyProbeArgs(
  paths: TillPaths,
  db: HostsFile,
  name: string,
  keyFile: string,
  command: string,
  connectTimeout = DEFAULT_CONNECT_TIMEOUT,
): string[] {
  const h = db.hosts[name];
  if (!h) throw new Error(`buildKeyProbeArgs: no host ${name}`);
  const args = [
    '-F',
    '/dev/null',
    '-o',
    `IdentityFile=${configPath(keyFile)}`,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'IdentityAgent=none',
    '-o',
    `UserKnownHostsFile=${configPath(paths.knownHosts)}`,
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'UpdateHostKeys=no',
    '-o',
    'ControlMaster=no',
    '-o',
    'ControlPath=none',
    '-o',
    'BatchMode=yes',
    '-o',
    `ConnectTimeout=${connectTimeout}`,
    '-o',
    'PasswordAuthentication=no',
    '-o',
    'KbdInteractiveAuthentication=no',
    '-o',
    'PreferredAuthentications=publickey',
    '-o',
    'LogLevel=ERROR',
  ];
  if (h.jump !== undefined) {
    const cfg = shQuote(paths.sshConfig.replace(/%/g, '%%'));
    args.push('-o', `ProxyCommand=ssh -F ${cfg} -W [%h]:%p ${aliasOf(h.jump)}`);
  }
  args.push('-p', String(h.port), '-l', h.user, '-T', '--', h.host, command);
  return args;
}
