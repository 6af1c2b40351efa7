import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { UsageError } from './errors.js';

/** Everything till writes locally lives under TILL_HOME (default ~/.till). */
export interface TillPaths {
  home: string;
  sshDir: string;
  sshConfig: string;
  knownHosts: string;
  privateKey: string;
  publicKey: string;
  controlDir: string;
  hostsDb: string;
  /** The secret that seals hosts-local.json (core/state/store.ts). */
  sealKey: string;
  scheduleFile: string;
  installationsFile: string;
  logsDir: string;
  stateDir: string;
}

export const KEY_NAME = 'till_federation_ed25519';

export function resolveTillHome(env: NodeJS.ProcessEnv = process.env): string {
  const raw = env.TILL_HOME;
  if (raw !== undefined && raw !== '') {
    // ssh_config splits its values on quotes and backslashes: such a path cannot be written there.
    if (/[\n\r\0"'\\]/.test(raw)) {
      throw new UsageError('TILL_HOME contains a newline, NUL, quote or backslash', 'choose a plain directory path');
    }
    return resolve(raw);
  }
  return join(homedir(), '.till');
}

export function tillPaths(home: string = resolveTillHome()): TillPaths {
  const sshDir = join(home, 'ssh');
  return {
    home,
    sshDir,
    sshConfig: join(sshDir, 'config'),
    knownHosts: join(sshDir, 'known_hosts'),
    privateKey: join(sshDir, KEY_NAME),
    publicKey: join(sshDir, `${KEY_NAME}.pub`),
    controlDir: join(sshDir, 'control'),
    hostsDb: join(home, 'hosts-local.json'),
    sealKey: join(home, 'seal.key'),
    scheduleFile: join(home, 'schedule.json'),
    installationsFile: join(home, 'installations.json'),
    logsDir: join(home, 'logs'),
    stateDir: join(home, 'state'),
  };
}

/**
 * sun_path is 108 bytes on Linux and 104 on macOS, NUL included. ssh binds
 * `<ControlPath>.<16 random chars>` first, and %C expands to 40 hex characters.
 */
export function socketPathLimit(platform: NodeJS.Platform = process.platform): number {
  return platform === 'linux' ? 108 : 104;
}

export const CONTROL_HASH_LEN = 40;
export const CONTROL_TEMP_SUFFIX_LEN = 17;

export function controlPathLength(controlDir: string): number {
  return Buffer.byteLength(controlDir) + 1 + CONTROL_HASH_LEN + CONTROL_TEMP_SUFFIX_LEN;
}

/** Refuses a TILL_HOME whose ControlMaster socket path would not fit. */
export function checkControlPath(paths: TillPaths, platform: NodeJS.Platform = process.platform): void {
  const len = controlPathLength(paths.controlDir);
  const max = socketPathLimit(platform) - 1;
  if (len > max) {
    throw new UsageError(
      `TILL_HOME is too long for ssh's ControlMaster socket: ${paths.controlDir}/<40-char hash> needs ${len} characters with ssh's temporary suffix, the limit is ${max}`,
      `use a TILL_HOME of at most ${max - (len - Buffer.byteLength(paths.home))} characters (e.g. ~/.till)`,
    );
  }
}
