/**
 * The test lab: real sshd hosts on loopback, one per fake host, each with its own
 * Unix user (so `~` and ownership are real), host key, address and port. Used by the
 * integration and e2e tests, the demo and the benchmarks. Needs root (useradd, and
 * sshd switching users); CI runs as root. See shared/docs/ssh-testing.md.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { isLive } from './procs.js';

export interface LabHostOptions {
  /** Extra sshd_config lines (e.g. `SetEnv PATH=/bin`). */
  sshdExtra?: string[];
  /** sshd's default StrictModes yes (the lab runs with it off; sshd keeps a keyword's first value, so sshdExtra cannot turn it on). */
  strictModes?: boolean;
  /** Also listen on a second port (`altPort`): the same host reached at another port (host edit --port). */
  secondPort?: boolean;
}

export interface LabHost {
  index: number;
  user: string;
  uid: number;
  gid: number;
  address: string;
  port: number;
  /** The second port it listens on, with `secondPort`. */
  altPort?: number;
  dir: string;
  home: string;
  /** `user@address:port`, as `till host add` takes it. */
  spec: string;
  isRunning(): boolean;
  start(): Promise<void>;
  /** Takes the host down: the listener and every connection it served. */
  stop(): void;
  /**
   * Freezes the host: SIGSTOP to its sshd listener and every process it started (open
   * sessions, ControlMaster connections), so new connections hang at the banner and open
   * ones stop answering, as a host that hangs whole does.
   */
  pause(): void;
  /** SIGCONT to the same tree: the host answers again, open connections included. */
  resume(): void;
  /** A new host key: till must refuse the host until told otherwise. */
  changeHostKey(): Promise<void>;
  authorize(publicKey: string): void;
  /** Runs a shell line as the host's user (no ssh), for test set-up and checks. */
  shell(line: string): string;
}

export interface Lab {
  dir: string;
  hosts: LabHost[];
  /**
   * A Unix user with no sshd of its own (an operator running till or ssh), home under
   * the lab folder: stop() removes it, and so does the stale-lab clean-up once this
   * process is gone, never while it runs.
   */
  addUser(): LabUser;
  stop(): void;
}

export interface LabUser {
  user: string;
  uid: number;
  gid: number;
  home: string;
}

const SSHD = '/usr/sbin/sshd';
/** Absolute: the user's PATH given to shell() does not include sbin. */
const RUNUSER = existsSync('/usr/sbin/runuser') ? '/usr/sbin/runuser' : '/sbin/runuser';
const USER_PREFIX = 'tl';
/** In each lab folder: `<pid> <start time>` of the process that started it. */
const OWNER_FILE = 'owner';

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Every descendant of a process, from /proc (sshd's per-connection children live on otherwise). */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // process ended while we looked
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

export function killTree(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  for (const p of [pid, ...descendants(pid)]) {
    try {
      process.kill(p, signal);
    } catch {
      // already gone
    }
  }
}

/** Every process running as `uid` (a lab user's leftovers: a daemon a test started on the host). */
function processesOf(uid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      if (new RegExp(`^Uid:\\s+${uid}\\s`, 'm').test(status)) out.push(Number(entry));
    } catch {
      // ended while we looked
    }
  }
  return out;
}

/** Processes whose command line names a file under `dir` (a lab's sshd listeners and their children). */
function processesUsing(dir: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // sshd rewrites its title: its arguments become one string ("sshd: /usr/sbin/sshd -D -f <dir>/h0/…").
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.split(/[\0 ]/).some((a) => a.startsWith(`${dir}/`))) out.push(Number(entry));
    } catch {
      // ended while we looked
    }
  }
  return out;
}

/** `pid start-time`: which process owns a lab (the start time tells a reused pid apart). */
function processIdentity(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return `${pid} ${stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]}`;
  } catch {
    return undefined;
  }
}

/** Removes a lab user after ending whatever still runs as it (userdel refuses a user with processes). */
function removeUser(user: string, uid: number | undefined): void {
  if (uid !== undefined) {
    for (const pid of processesOf(uid)) killTree(pid);
    // SIGKILL is delivered, not awaited: give the processes a moment to finish exiting.
    const deadline = Date.now() + 5_000;
    while (processesOf(uid).some(isLive) && Date.now() < deadline) sleepSync(10);
  }
  if (uid !== undefined) {
    // What it left in the shared temp folders (a session's mktemp -d killed before its trap ran):
    // once userdel frees the uid, a later lab user given the same uid would seem to own it.
    try {
      execFileSync(
        'find',
        [
          '/tmp',
          '/var/tmp',
          '/dev/shm',
          '-xdev',
          '-mindepth',
          '1',
          '-maxdepth',
          '1',
          '-user',
          String(uid),
          '-exec',
          'rm',
          '-rf',
          '--',
          '{}',
          '+',
        ],
        { stdio: 'ignore' },
      );
    } catch {
      // a folder it could not read or an entry already gone: nothing more to clean
    }
  }
  try {
    run('userdel', [user]);
  } catch {
    // already removed
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function randomLoopback(): string {
  const b = randomBytes(3);
  return `127.${1 + (b[0]! % 250)}.${b[1]! % 250}.${2 + (b[2]! % 250)}`;
}

function randomPort(): number {
  return 20_000 + (randomBytes(2).readUInt16BE(0) % 40_000);
}

async function waitFor(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`lab: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A lab user (named so the stale-lab clean-up knows it) whose home, with an empty ~/.ssh, is `home`. */
function newUser(home: string): LabUser {
  const user = `${USER_PREFIX}${randomBytes(4).toString('hex')}`;
  // The home exists before the user does: a concurrent removeStaleLabUsers() deletes
  // lab users whose home is missing.
  mkdirSync(join(home, '.ssh'), { recursive: true });
  chmodSync(join(home, '..'), 0o755);
  run('useradd', ['-M', '-d', home, '-s', '/bin/bash', '-p', '*', user]);
  const uid = Number(run('id', ['-u', user]).trim());
  const gid = Number(run('id', ['-g', user]).trim());
  chmodSync(home, 0o755);
  chmodSync(join(home, '.ssh'), 0o700);
  for (const p of [home, join(home, '.ssh')]) chownSync(p, uid, gid);
  return { user, uid, gid, home };
}

function makeHost(labDir: string, index: number, opts: LabHostOptions): LabHost {
  const dir = join(labDir, `h${index}`);
  const { user, uid, gid, home } = newUser(join(dir, 'home'));
  writeFileSync(join(home, '.ssh', 'authorized_keys'), '', { mode: 0o600 });
  chownSync(join(home, '.ssh', 'authorized_keys'), uid, gid);

  const hostKey = join(dir, 'host_ed25519');
  const pidFile = join(dir, 'sshd.pid');
  const configFile = join(dir, 'sshd_config');
  let child: ChildProcess | undefined;
  let address = randomLoopback();
  let port = randomPort();
  let altPort = opts.secondPort ? randomPort() : undefined;

  const genHostKey = () => {
    rmSync(hostKey, { force: true });
    rmSync(`${hostKey}.pub`, { force: true });
    run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  };
  genHostKey();

  const writeConfig = () =>
    writeFileSync(
      configFile,
      [
        `ListenAddress ${address}:${port}`,
        ...(altPort !== undefined ? [`ListenAddress ${address}:${altPort}`] : []),
        `HostKey ${hostKey}`,
        `PidFile ${pidFile}`,
        `AllowUsers ${user}`,
        'UsePAM no',
        // Audit tests chmod ~/.ssh 777 and must still log in to report it.
        opts.strictModes ? 'StrictModes yes' : 'StrictModes no',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'PubkeyAuthentication yes',
        'AuthorizedKeysFile .ssh/authorized_keys',
        'PermitRootLogin no',
        'Subsystem sftp /usr/lib/openssh/sftp-server',
        'MaxStartups 200:30:400',
        'MaxSessions 200',
        'LogLevel ERROR',
        ...(opts.sshdExtra ?? []),
        '',
      ].join('\n'),
    );

  const host: LabHost = {
    index,
    user,
    uid,
    gid,
    get address() {
      return address;
    },
    get port() {
      return port;
    },
    get altPort() {
      return altPort;
    },
    dir,
    home,
    get spec() {
      return `${user}@${address}:${port}`;
    },
    isRunning: () => child !== undefined && child.exitCode === null,
    async start() {
      for (let attempt = 0; attempt < 10; attempt++) {
        writeConfig();
        rmSync(pidFile, { force: true });
        const proc = spawn(SSHD, ['-D', '-f', configFile, '-E', join(dir, 'sshd.log')], { stdio: 'ignore' });
        child = proc;
        try {
          // The PidFile appears after the bind; an early exit means the port was taken.
          await waitFor(() => existsSync(pidFile) || proc.exitCode !== null, 10_000, `sshd on ${address}:${port}`);
        } catch (err) {
          killTree(proc.pid!);
          throw err;
        }
        if (proc.exitCode === null) return;
        address = randomLoopback();
        port = randomPort();
        if (altPort !== undefined) altPort = randomPort();
      }
      throw new Error(`lab: sshd for host ${index} would not start; see ${join(dir, 'sshd.log')}`);
    },
    stop() {
      if (child?.pid !== undefined) {
        killTree(child.pid, 'SIGCONT');
        killTree(child.pid);
      }
      child = undefined;
    },
    pause() {
      if (child?.pid !== undefined) killTree(child.pid, 'SIGSTOP');
    },
    resume() {
      if (child?.pid !== undefined) killTree(child.pid, 'SIGCONT');
    },
    async changeHostKey() {
      host.stop();
      genHostKey();
      await host.start();
    },
    authorize(publicKey: string) {
      const file = join(home, '.ssh', 'authorized_keys');
      const current = readFileSync(file, 'utf8');
      if (!current.includes(publicKey.trim())) writeFileSync(file, `${current}${publicKey.trim()}\n`);
    },
    shell(line: string) {
      return execFileSync(RUNUSER, ['-u', user, '--', '/bin/bash', '-c', `cd "$HOME" && ${line}`], {
        encoding: 'utf8',
        env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: home, USER: user, LOGNAME: user },
      });
    },
  };
  return host;
}

/** Starts `count` hosts; `authorizedKey` (till's public key) goes into each one's authorized_keys. */
export async function startLab(
  count: number,
  opts: { authorizedKey?: string; perHost?: (i: number) => LabHostOptions } = {},
): Promise<Lab> {
  if (process.getuid?.() !== 0)
    throw new Error('the sshd test lab needs root (useradd, sshd switching users); CI runs as root');
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  // Labs whose process died without stop() (SIGKILL, a crash): their users, listeners and folders.
  removeStaleLabUsers();
  const dir = mkdtempSync('/tmp/tl-');
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, OWNER_FILE), `${processIdentity(process.pid) ?? process.pid}\n`);
  const hosts: LabHost[] = [];
  const users: LabUser[] = [];
  const lab: Lab = {
    dir,
    hosts,
    addUser() {
      const home = join(dir, `u${users.length}`, 'home');
      const user = newUser(home);
      users.push(user);
      return user;
    },
    stop() {
      for (const h of hosts) {
        h.stop();
        removeUser(h.user, h.uid);
      }
      for (const u of users) removeUser(u.user, u.uid);
      for (const pid of processesUsing(dir)) killTree(pid);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    for (let i = 0; i < count; i++) hosts.push(makeHost(dir, i, opts.perHost?.(i) ?? {}));
    await Promise.all(hosts.map((h) => h.start()));
    if (opts.authorizedKey) for (const h of hosts) h.authorize(opts.authorizedKey);
  } catch (err) {
    lab.stop();
    throw err;
  }
  return lab;
}

/** Lab users: [name, uid, home]. */
function labUsers(): Array<[string, number, string]> {
  const out: Array<[string, number, string]> = [];
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const [name, , uid, , , home] = line.split(':');
    if (name && home && new RegExp(`^${USER_PREFIX}[0-9a-f]{8}$`).test(name) && home.startsWith('/tmp/tl-'))
      out.push([name, Number(uid), home]);
  }
  return out;
}

/** True when the lab's owner file names a process that no longer exists (labs without one are left alone). */
function ownerIsDead(labDir: string): boolean {
  let owner: string;
  try {
    owner = readFileSync(join(labDir, OWNER_FILE), 'utf8').trim();
  } catch {
    return false;
  }
  const pid = Number(owner.split(' ')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const now = processIdentity(pid);
  return now === undefined || (owner.includes(' ') && now !== owner);
}

/**
 * Cleans up after labs whose process died without `stop()` (SIGKILL, a crash): ends
 * their sshd listeners and sessions, removes their users and folders. A lab records
 * its owner (pid and start time) in `owner`; a lab whose owner still runs is never
 * touched. Also removes lab users whose home folder is gone.
 */
export function removeStaleLabUsers(): void {
  let dirs: string[] = [];
  try {
    dirs = readdirSync('/tmp')
      .filter((n) => /^tl-[A-Za-z0-9]{6}$/.test(n))
      .map((n) => `/tmp/${n}`);
  } catch {
    // no /tmp listing: nothing to clean
  }
  const users = labUsers();
  for (const dir of dirs.filter(ownerIsDead)) {
    for (const pid of processesUsing(dir)) killTree(pid);
    for (const [name, uid, home] of users) if (home.startsWith(`${dir}/`)) removeUser(name, uid);
    rmSync(dir, { recursive: true, force: true });
  }
  for (const [name, uid, home] of labUsers()) if (!existsSync(home)) removeUser(name, uid);
}
