import { checkControlPath, type TillPaths } from '../core/paths.js';
import { aliasOf } from './config.js';

export interface SshCallOptions {
  connectTimeout?: number;
  /** Allocate a terminal (interactive `host ssh`). */
  tty?: boolean;
  /** Extra `-o Key=Value` options, e.g. ControlMaster=no for a probe. */
  options?: Record<string, string>;
}

/** The ssh argv for one call through till's config and alias. Pure: a list of words. */
export function buildSshArgs(
  paths: TillPaths,
  name: string,
  remoteCommand: string | undefined,
  opts: SshCallOptions = {},
): string[] {
  // Refuse before connecting when the ControlMaster socket path cannot fit.
  checkControlPath(paths);
  const args = ['-F', paths.sshConfig];
  if (opts.connectTimeout !== undefined) args.push('-o', `ConnectTimeout=${opts.connectTimeout}`);
  for (const [key, value] of Object.entries(opts.options ?? {})) args.push('-o', `${key}=${value}`);
  args.push(opts.tty ? '-t' : '-T');
  args.push('--', aliasOf(name));
  if (remoteCommand !== undefined) args.push(remoteCommand);
  return args;
}

/** Where a master connection goes: what its ControlPath hash (%C) is made of. */
export interface MasterAddress {
  host: string;
  port: number;
  user: string;
  jump?: string;
}

/**
 * `ssh -O exit`: closes a host's master connection, if any. `at` names the address the
 * master went to when the config no longer says it (after `host edit` moved or renamed
 * the host): options given with -o win over the config, so ssh finds that socket.
 */
export function buildControlExitArgs(paths: TillPaths, name: string, at?: MasterAddress): string[] {
  checkControlPath(paths);
  const where = at
    ? [
        ...['-o', `HostName=${at.host}`, '-o', `Port=${at.port}`, '-o', `User=${at.user}`],
        ...['-o', `ProxyJump=${at.jump === undefined ? 'none' : aliasOf(at.jump)}`],
      ]
    : [];
  return ['-F', paths.sshConfig, ...where, '-O', 'exit', '--', aliasOf(name)];
}

/** The `-e` value rsync uses to reach a host through till's config. */
export function rsyncRemoteShell(paths: TillPaths, connectTimeout?: number): string {
  checkControlPath(paths);
  const quoted = paths.sshConfig.includes(' ') ? `"${paths.sshConfig}"` : paths.sshConfig;
  return connectTimeout === undefined
    ? `ssh -F ${quoted} -T`
    : `ssh -F ${quoted} -T -o ConnectTimeout=${connectTimeout}`;
}
