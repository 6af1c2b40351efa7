import { UsageError } from '../core/errors.js';
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

/**
 * ssh takes the remote command line as one argument, and Linux refuses to start a
 * process with one argument over 128 KiB, its terminating NUL included (MAX_ARG_STRLEN:
 * spawn fails with E2BIG). The host's shell gets the line as one argument of `sh -c` too.
 */
export const MAX_REMOTE_COMMAND_BYTES = 128 * 1024 - 1;

/** Refuses, before anything runs, a remote command line ssh could not be started with. */
export function checkRemoteCommandLength(command: string): void {
  const bytes = Buffer.byteLength(command, 'utf8');
  if (bytes <= MAX_REMOTE_COMMAND_BYTES) return;
  throw new UsageError(
    `the remote command is ${bytes.toLocaleString('en-US')} bytes, over the ${MAX_REMOTE_COMMAND_BYTES.toLocaleString('en-US')} bytes (128 KiB) ` +
      'that one argument may hold: ssh passes the whole command line as one argument',
    'put it in a script, copy that to the hosts (till host copy), and run the script',
  );
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
