import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { errorMessage, StateError, UsageError } from './errors.js';

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

/** A user's name from /etc/passwd, for messages (undefined when it has none there). */
function userName(uid: number): string | undefined {
  try {
    return readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .map((line) => line.split(':'))
      .find((f) => f[2] === String(uid))?.[0];
  } catch {
    return undefined;
  }
}

/**
 * TILL_HOME must belong to the user till runs as, who must be able to read and write it:
 * it holds till's private key, and a till run as another user (root, through sudo) would
 * leave files there its owner can no longer read. Checked before a command reads or
 * writes anything there. A TILL_HOME that does not exist yet passes (`host init` makes it).
 */
export function checkTillHome(paths: TillPaths): void {
  const home = paths.home;
  let st;
  try {
    st = statSync(home);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'EACCES')
      throw new StateError(
        `cannot reach TILL_HOME ${home}: permission denied on a folder above it`,
        'set TILL_HOME to a folder of your own (the default is ~/.till)',
      );
    throw new StateError(`cannot use TILL_HOME ${home}: ${errorMessage(err)}`, 'set TILL_HOME to a folder of your own');
  }
  if (!st.isDirectory())
    throw new StateError(`TILL_HOME ${home} is not a folder`, 'set TILL_HOME to a folder (the default is ~/.till)');
  const uid = process.geteuid?.();
  if (uid !== undefined && st.uid !== uid) {
    let me: string | undefined;
    try {
      me = userInfo().username;
    } catch {
      // no passwd entry for this uid: the number says it
    }
    const owner = userName(st.uid);
    throw new StateError(
      `TILL_HOME ${home} belongs to ${owner === undefined ? `uid ${st.uid}` : `${owner} (uid ${st.uid})`}, not to ${me === undefined ? `uid ${uid}` : `${me} (uid ${uid})`}: till keeps its private key there and does not use another user's`,
      `run till as ${owner === undefined ? 'that user' : `${owner} (sudo -u ${owner} till …)`}, or set TILL_HOME to a folder of your own (the default is ~/.till); if the folder is yours, take it back: sudo chown -R ${me ?? uid} ${home}`,
    );
  }
  try {
    accessSync(home, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch {
    throw new StateError(
      `TILL_HOME ${home} is not readable and writable by you (mode ${(st.mode & 0o777).toString(8).padStart(3, '0')})`,
      `chmod 700 ${home}`,
    );
  }
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
