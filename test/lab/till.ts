/** Spawns the built `till` exactly as a person runs it, with its own TILL_HOME. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { startLab, type Lab } from './lab.js';

export const TILL_BIN = resolve('bin/till.cjs');

export interface TillRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface TillOptions {
  env?: NodeJS.ProcessEnv;
  input?: string;
  timeoutMs?: number;
  /** Called with the child right after spawn (to send signals). */
  onSpawn?: (child: ReturnType<typeof spawn>) => void;
  /** Another script to run instead of bin/till.mjs (a wrapper standing in for another till). */
  script?: string;
}

/** A short TILL_HOME (the ControlPath must fit in ~90 characters). */
export function tempHome(): { home: string; cleanup: () => void } {
  const home = mkdtempSync('/tmp/t-');
  return { home, cleanup: () => rmSync(home, { recursive: true, force: true }) };
}

export function till(home: string, args: string[], opts: TillOptions = {}): Promise<TillRun> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [opts.script ?? TILL_BIN, ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, TILL_HOME: home, NO_COLOR: '1', ...opts.env },
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    opts.onSpawn?.(child);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
  });
}

/** A fresh TILL_HOME (host init) and `count` lab hosts that accept its key, added as `<prefix><index>`. */
export async function homeWithHosts(count: number, prefix = 'h'): Promise<{ home: string; lab: Lab; key: string }> {
  const { home } = tempHome();
  await tillOk(home, ['host', 'init']);
  const key = readFileSync(`${home}/ssh/till_federation_ed25519.pub`, 'utf8').trim();
  const lab = await startLab(count, { authorizedKey: key });
  for (const h of lab.hosts) await tillOk(home, ['host', 'add', `${prefix}${h.index}`, h.spec]);
  return { home, lab, key };
}

/** A loopback TCP port free right now (for --metrics / --serve). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolvePort(port));
    });
  });
}

/** till, expecting exit 0; throws with both streams otherwise. */
export async function tillOk(home: string, args: string[], opts: TillOptions = {}): Promise<TillRun> {
  const r = await till(home, args, opts);
  if (r.code !== 0)
    throw new Error(`till ${args.join(' ')} exited ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  return r;
}

/** Closes the ControlMaster processes a TILL_HOME started, so tests leave nothing running. */
export async function closeMasters(home: string): Promise<void> {
  const { execFileSync } = await import('node:child_process');
  let sockets: string[] = [];
  try {
    sockets = readdirSync(`${home}/ssh/control`);
  } catch {
    return;
  }
  for (const s of sockets) {
    try {
      execFileSync('ssh', ['-o', `ControlPath=${home}/ssh/control/${s}`, '-O', 'exit', 'x'], {
        stdio: 'ignore',
        timeout: 5000,
      });
    } catch {
      // already gone
    }
  }
  rmSync(home, { recursive: true, force: true });
}

/** Polls `check` until it holds; fails naming `what` after `ms`. */
export async function waitUntil(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** True while an rsync started for this TILL_HOME still runs (a killed till's children may outlive it). */
export function rsyncRunningFor(home: string): boolean {
  return readdirSync('/proc').some((p) => {
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
      return /^\d+$/.test(p) && cmd.startsWith('rsync\0') && cmd.includes(home);
    } catch {
      return false;
    }
  });
}

/** SIGKILLs `child` the moment `check` holds (polled every `ms`), then calls `onKill`: an interruption at a chosen step. */
export function killWhen(child: ChildProcess, check: () => boolean, onKill: () => void, ms = 5): void {
  const poll = setInterval(() => {
    if (!check()) return;
    clearInterval(poll);
    onKill();
    child.kill('SIGKILL');
  }, ms);
  child.on('close', () => clearInterval(poll));
}

/** Locks and atomic-write temp files left under a TILL_HOME (ssh control sockets aside): a finished till leaves none. */
export function leftovers(home: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const p = `${dir}/${entry.name}`;
      if (/\.lock$|\.tmp$/.test(entry.name)) out.push(p);
      else if (entry.isDirectory() && p !== `${home}/ssh/control`) walk(p);
    }
  };
  walk(home);
  return out;
}
