/** Spawns the built `till` exactly as a person runs it, with its own TILL_HOME. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { UNRECORDED } from '../../src/cli/journal.js';
import { startLab, type Lab, type LabHost } from './lab.js';

export const TILL_BIN = resolve('bin/till.cjs');

export interface TillRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** What was run (the words after `till`) and the till process's id, to find its record in the journal. */
  args?: string[];
  pid?: number | undefined;
  /** When it was spawned and when it ended (ms since the epoch): a pid is reused over a long run. */
  spawnedMs?: number;
  endedMs?: number;
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
    const spawnedMs = Date.now();
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
      resolvePromise({ code, signal, stdout, stderr, args, pid: child.pid, spawnedMs, endedMs: Date.now() });
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

/**
 * The fleet of the `watch --keep-warm` tests: 4 lab hosts, h0 till-ready with its key
 * restricted to the gate, h1 and h2 till-ready, h3 only connected; no sync due for a day
 * (so a watch started on it runs none).
 */
export async function keepWarmFleet(): Promise<{ home: string; lab: Lab }> {
  const { home } = tempHome();
  await tillOk(home, ['host', 'init']);
  const lab = await startLab(4, {
    authorizedKey: readFileSync(join(home, 'ssh', 'till_federation_ed25519.pub'), 'utf8'),
  });
  for (const h of lab.hosts) await tillOk(home, ['host', 'add', `h${h.index}`, h.spec]);
  await tillOk(home, ['host', 'setup', 'h0', '--restrict'], { timeoutMs: 180_000 });
  await tillOk(home, ['host', 'setup', 'h1', 'h2'], { timeoutMs: 180_000 });
  await tillOk(home, ['host', 'test', 'h3']);
  const file = join(home, 'schedule.json');
  const s = JSON.parse(readFileSync(file, 'utf8'));
  s.sync.next_run = new Date(Date.now() + 86_400_000).toISOString();
  writeFileSync(file, JSON.stringify(s, null, 2));
  return { home, lab };
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

/**
 * Closes the ControlMaster processes a TILL_HOME started, so tests leave nothing running,
 * and then REMOVES that TILL_HOME: for an afterAll, never mid-file.
 */
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

/**
 * What is wrong with the operations journal (logs/operations.jsonl and its rotated files)
 * for these runs: a line that is not JSON (two records interleaved, one cut short), or a
 * run of a recording command without exactly one record of its own (its pid, its argv, its
 * exit code). Runs of commands that do not record (UNRECORDED) and runs killed by a signal
 * (no till could record being SIGKILLed) are not looked for.
 */
export function journalProblems(home: string, runs: readonly TillRun[]): string[] {
  const problems: string[] = [];
  const byPid = new Map<number, Array<{ argv: string[]; exitCode: number; time: string }>>();
  for (const f of ['operations.jsonl', ...[1, 2, 3, 4, 5].map((i) => `operations.jsonl.${i}`)]) {
    const file = join(home, 'logs', f);
    if (!existsSync(file)) continue;
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        if (line === '') return;
        try {
          const rec = JSON.parse(line) as { pid: number; argv: string[]; exitCode: number; time: string };
          byPid.set(rec.pid, [...(byPid.get(rec.pid) ?? []), rec]);
        } catch {
          problems.push(`${f} line ${i + 1} is not JSON: ${line.slice(0, 80)}`);
        }
      });
  }
  for (const r of runs) {
    if (r.args === undefined) {
      problems.push('a run not started by till() (no argv or pid to look for)');
      continue;
    }
    const words = r.args.filter((a) => !a.startsWith('-'));
    const unrecorded = [1, 2, 3].some((n) => UNRECORDED.has(words.slice(0, n).join(' ')));
    if (unrecorded || r.signal !== null || r.pid === undefined) continue;
    // This process's records: its pid, started while it ran (pids are reused over a long soak).
    const during = (x: { time: string }) => {
      const t = Date.parse(x.time);
      return t >= (r.spawnedMs ?? 0) - 1000 && t <= (r.endedMs ?? Infinity) + 1000;
    };
    const recs = (byPid.get(r.pid) ?? []).filter(during);
    const mine = recs.filter((x) => JSON.stringify(x.argv) === JSON.stringify(r.args) && x.exitCode === r.code);
    if (mine.length !== 1 || recs.length !== 1)
      problems.push(
        `till ${r.args.join(' ')} (pid ${r.pid}, exit ${r.code}): ${recs.length} records, ${mine.length} its own`,
      );
  }
  return problems;
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

/** The release a lab host's installation (~/projects/github/Tekton) points at. */
export function liveRelease(h: LabHost): string {
  return h.shell('readlink projects/github/Tekton').trim().split('/').pop()!;
}

/** One host's result in a fleet command's --json report. */
export function hostResult(doc: { results: Array<Record<string, unknown>> }, host: string): Record<string, unknown> {
  return doc.results.find((r) => r.host === host)!;
}
