/**
 * The watch daemon under a storm of host failures, on real sshd hosts: what the e2e
 * test runs once (test/e2e/watch-storm.test.ts) and `npm run soak` runs for minutes
 * (scripts/soak.ts). `startStorm` brings up a lab and a `till watch` with health every
 * few seconds and /metrics; `faultRound` puts four hosts down at once (sshd killed,
 * frozen with SIGSTOP, its host key changed, till's key removed from authorized_keys),
 * waits until /metrics and watch.log show each one down with its reason, heals them,
 * and waits until each is up again; `stop` ends the daemon with `watch --stop` and
 * checks nothing is left running. Every figure is measured, and every check recorded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { scheduleStore } from '../../src/core/state/schedule.js';
import { tillPaths } from '../../src/core/paths.js';
import type { Lab, LabHost } from './lab.js';
import { TILL_BIN, closeMasters, freePort, homeWithHosts, till, tillOk } from './till.js';

export type FaultKind = 'killed' | 'frozen' | 'rekeyed' | 'unauthorized';

/** The reason label /metrics gives each fault (till_host_down_reason). */
export const FAULT_REASON: Record<FaultKind, string> = {
  killed: 'refused',
  frozen: 'timeout',
  rekeyed: 'hostkey-changed',
  unauthorized: 'auth',
};

export interface Check {
  what: string;
  ok: boolean;
  detail: string;
}

export interface ProcessFigures {
  rssKb: number;
  fds: number;
}

export interface StormOptions {
  hosts: number;
  /** --health-interval, in seconds (10 at least). */
  healthIntervalS: number;
  /** --reauth-interval, in seconds: how soon a removed key shows. */
  reauthIntervalS: number;
  /** Hosts given till (host setup), so the scheduled `till sync` reaches them: the first N (default all). */
  setupHosts?: number;
  log?: (line: string) => void;
}

export interface Storm {
  home: string;
  lab: Lab;
  names: string[];
  checks: Check[];
  /** Milliseconds from each fault to its host showing down, and from its heal to up. */
  downMs: Record<FaultKind, number[]>;
  upMs: Record<FaultKind, number[]>;
  start: ProcessFigures;
  daemonPid: number;
  metrics(): Promise<Map<string, number>>;
  /** The daemon's steady figures now (steadyFigures: about 5 s of samples). */
  figures(): Promise<ProcessFigures>;
  /** Healthy hosts the log reported down during rounds so far (the controller too loaded to check them in time). */
  falseDowns(): number;
  faultRound(round: number): Promise<void>;
  /** Makes the scheduled sync due now (under the schedule's lock, as another till would). */
  syncDueNow(): Promise<void>;
  /** Sync runs the watch started and recorded. */
  watchSyncs(): number;
  /** Times a sync was made due that no recorded run (of any trigger) ended after. */
  unrunDues(): string[];
  stop(): Promise<void>;
  /** After a round that failed part-way: every host running, thawed, with till's key, its host key trusted afresh. */
  healAll(): Promise<void>;
  cleanup(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** /proc figures of a process now: resident memory and open file descriptors. */
export function processFigures(pid: number): ProcessFigures {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
  return { rssKb, fds: readdirSync(`/proc/${pid}/fd`).length };
}

/**
 * The daemon's steady figures: the least over a few seconds of samples. A single sample
 * may land while a run's children hold their pipes (a health run, the 16 `ssh -O stop`
 * of a re-authentication): what would grow without bound is the floor, not those peaks.
 */
export async function steadyFigures(pid: number, samples = 12, everyMs = 400): Promise<ProcessFigures> {
  let low = processFigures(pid);
  for (let i = 1; i < samples; i++) {
    await sleep(everyMs);
    const now = processFigures(pid);
    low = { rssKb: Math.min(low.rssKb, now.rssKb), fds: Math.min(low.fds, now.fds) };
  }
  return low;
}

/** Processes (other than the lab's sshd) whose command line names this TILL_HOME: ssh masters, till children. */
export function processesFor(home: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
      if (cmd.includes(home) && !cmd.startsWith('sshd')) out.push(Number(p));
    } catch {
      // ended while we looked
    }
  }
  return out;
}

function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(till_\w+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

export async function startStorm(opts: StormOptions): Promise<Storm> {
  const say = opts.log ?? (() => undefined);
  const { home, lab, key } = await homeWithHosts(opts.hosts, 's');
  const names = lab.hosts.map((h) => `s${h.index}`);
  let t = Date.now();
  const setUp = names.slice(0, opts.setupHosts ?? names.length);
  await tillOk(home, ['host', 'setup', ...setUp], { timeoutMs: 600_000 });
  say(`lab: ${opts.hosts} hosts up, till installed on ${setUp.length} of them in ${Date.now() - t} ms`);
  await tillOk(home, ['schedule', 'set', '--interval-hours', '24']);

  const port = await freePort();
  const interval = opts.healthIntervalS * 1000;
  const child: ChildProcess = spawn(
    process.execPath,
    [
      TILL_BIN,
      'watch',
      '--health-interval',
      `${opts.healthIntervalS}s`,
      '--reauth-interval',
      `${opts.reauthIntervalS}s`,
      '--metrics',
      `127.0.0.1:${port}`,
    ],
    { env: { PATH: process.env.PATH, HOME: process.env.HOME, TILL_HOME: home, NO_COLOR: '1' }, stdio: 'ignore' },
  );
  const daemonPid = child.pid!;
  const checks: Check[] = [];
  const check = (what: string, ok: boolean, detail = '') => {
    checks.push({ what, ok, detail });
    say(`${ok ? 'ok  ' : 'FAIL'} ${what}${detail ? `: ${detail}` : ''}`);
  };
  const watchLog = () => {
    const f = join(home, 'logs', 'watch.log');
    return existsSync(f) ? readFileSync(f, 'utf8') : '';
  };

  /** /metrics, fetched with a bound: a daemon that hangs fails here. */
  const metrics = async (): Promise<Map<string, number>> => {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`till watch exited (${child.exitCode ?? child.signalCode}):\n${watchLog().slice(-3000)}`);
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(15_000) });
    if (!res.ok) throw new Error(`/metrics answered ${res.status}`);
    return parseMetrics(await res.text());
  };
  const up = (m: Map<string, number>, name: string) => m.get(`till_host_up{host="${name}"}`);
  const healthAt = (m: Map<string, number>, name: string) =>
    m.get(`till_host_health_timestamp_seconds{host="${name}"}`);

  /** Polls /metrics until `done` holds; the time it took, or a failed check after `limitMs`. */
  const until = async (what: string, limitMs: number, done: (m: Map<string, number>) => boolean): Promise<number> => {
    const from = Date.now();
    for (;;) {
      let m: Map<string, number> | undefined;
      try {
        m = await metrics();
      } catch (err) {
        if (child.exitCode !== null || child.signalCode !== null) throw err;
      }
      if (m && done(m)) return Date.now() - from;
      if (Date.now() - from > limitMs) throw new Error(`${what}: not within ${limitMs} ms`);
      await sleep(250);
    }
  };

  t = Date.now();
  await until('every host up at the start', 6 * interval, (m) => names.every((n) => up(m, n) === 1));
  check('every host up at the start', true, `${Date.now() - t} ms after the daemon started`);
  // Figures once the daemon has done its first runs (its steady state), not at exec.
  const start = await steadyFigures(daemonPid);
  say(`daemon pid ${daemonPid}: ${start.rssKb} kB resident, ${start.fds} open fds`);

  let falseDownHosts = 0;
  const downMs: Record<FaultKind, number[]> = { killed: [], frozen: [], rekeyed: [], unauthorized: [] };
  const upMs: Record<FaultKind, number[]> = { killed: [], frozen: [], rekeyed: [], unauthorized: [] };
  const authorizedKeys = (h: LabHost) => join(h.home, '.ssh', 'authorized_keys');

  const faults: Record<FaultKind, { apply(h: LabHost): Promise<void>; heal(h: LabHost, name: string): Promise<void> }> =
    {
      killed: { apply: async (h) => h.stop(), heal: (h) => h.start() },
      frozen: { apply: async (h) => h.pause(), heal: async (h) => h.resume() },
      rekeyed: {
        apply: (h) => h.changeHostKey(),
        // The operator accepts the new key on the host's administrator's word.
        heal: async (_h, name) => void (await tillOk(home, ['host', 'forget', name])),
      },
      unauthorized: {
        apply: async (h) =>
          writeFileSync(
            authorizedKeys(h),
            readFileSync(authorizedKeys(h), 'utf8')
              .split('\n')
              .filter((l) => l.trim() !== key)
              .join('\n'),
          ),
        heal: async (h) => h.authorize(key),
      },
    };

  const faultRound = async (round: number): Promise<void> => {
    // Four different hosts each round, moving through the fleet.
    const kinds: FaultKind[] = ['killed', 'frozen', 'rekeyed', 'unauthorized'];
    const picked = kinds.map((kind, i) => ({ kind, index: (round * kinds.length + i) % names.length }));
    const hit = new Set(picked.map((p) => names[p.index]!));
    const others = names.filter((n) => !hit.has(n));
    const logFrom = watchLog().length;
    const before = await metrics();
    const applied = Date.now();
    await Promise.all(picked.map((p) => faults[p.kind].apply(lab.hosts[p.index]!)));
    say(`round ${round}: ${picked.map((p) => `${names[p.index]} ${p.kind}`).join(', ')}`);

    const pending = new Set(picked);
    const reportedWhileDown = new Set<string>();
    // A host that has lost till's key shows once the masters are stopped (--reauth-interval).
    const downLimit = Math.max(3 * interval, (opts.reauthIntervalS * 1000 + interval) * 2);
    await until(`round ${round}: every faulted host down`, downLimit, (m) => {
      for (const p of [...pending]) {
        const name = names[p.index]!;
        if (
          up(m, name) === 0 &&
          m.get(`till_host_down_reason{host="${name}",reason="${FAULT_REASON[p.kind]}"}`) === 1
        ) {
          downMs[p.kind].push(Date.now() - applied);
          pending.delete(p);
        }
      }
      for (const n of others) if ((healthAt(m, n) ?? 0) > (healthAt(before, n) ?? 0)) reportedWhileDown.add(n);
      return pending.size === 0;
    });
    for (const p of picked)
      check(
        `round ${round}: ${names[p.index]} ${p.kind} shows down (${FAULT_REASON[p.kind]})`,
        true,
        `${downMs[p.kind].at(-1)} ms after the fault`,
      );
    // The others were checked meanwhile: the faulted hosts delayed nobody's report.
    await until(`round ${round}: the other hosts reported meanwhile`, 3 * interval, (m) => {
      for (const n of others) if ((healthAt(m, n) ?? 0) > (healthAt(before, n) ?? 0)) reportedWhileDown.add(n);
      return reportedWhileDown.size === others.length;
    });
    check(`round ${round}: the ${others.length} other hosts kept being checked while the 4 were down`, true);
    // The log says every fault, with its host.
    await until(`round ${round}: every fault in watch.log`, 3 * interval, () => {
      const text = watchLog().slice(logFrom);
      return picked.every((p) => text.includes(`[host health] ${names[p.index]} is down`));
    });
    check(`round ${round}: watch.log names each faulted host as down, with its reason`, true);

    const healed = Date.now();
    await Promise.all(picked.map((p) => faults[p.kind].heal(lab.hosts[p.index]!, names[p.index]!)));
    const recovering = new Set(picked);
    // Every host, not only the healed ones: one that an overloaded controller could not
    // check in time (no answer within the bound) must be up again too.
    await until(`round ${round}: every host up again`, 3 * interval + 15_000, (mm) => {
      for (const p of [...recovering])
        if (up(mm, names[p.index]!) === 1) {
          upMs[p.kind].push(Date.now() - healed);
          recovering.delete(p);
        }
      return recovering.size === 0 && names.every((n) => up(mm, n) === 1);
    });
    for (const p of picked)
      check(`round ${round}: ${names[p.index]} up again`, true, `${upMs[p.kind].at(-1)} ms after it recovered`);
    const text = watchLog().slice(logFrom);
    const falseDowns = others.filter((n) => text.includes(`[host health] ${n} is down`));
    falseDownHosts += falseDowns.length;
    say(
      `round ${round}: ${falseDowns.length} healthy host(s) reported down meanwhile (an overloaded controller, not a fault)${falseDowns.length ? `: ${falseDowns.join(', ')}` : ''}`,
    );
  };

  const dues: number[] = [];
  const syncDueNow = async () => {
    await scheduleStore(tillPaths(home)).update((f) => {
      dues.push(Date.now());
      f.sync.next_run = new Date().toISOString();
    });
  };
  const history = () =>
    (
      JSON.parse(readFileSync(join(home, 'schedule.json'), 'utf8')) as {
        history?: Array<{ trigger?: string; started: string; finished?: string }>;
      }
    ).history ?? [];
  const watchSyncs = () => history().filter((h) => h.trigger === 'watch').length;
  // A due sync is run by the watch, or by a till sync that got there first: a run that ends
  // after it was made due records it (and sets next_run from its end).
  const unrunDues = () => {
    const ends = history().map((h) => Date.parse(h.finished ?? h.started));
    return dues.filter((t) => !ends.some((end) => end >= t)).map((t) => new Date(t).toISOString());
  };

  const stop = async () => {
    const r = await till(home, ['watch', '--stop'], { timeoutMs: 90_000 });
    check('watch --stop ends the daemon', r.code === 0, r.stderr.trim());
    await sleep(500);
    const gone = !existsSync(`/proc/${daemonPid}`) || child.exitCode !== null;
    check('the daemon process is gone', gone, `pid ${daemonPid}, exit ${child.exitCode ?? child.signalCode}`);
    const schedule = JSON.parse(readFileSync(join(home, 'schedule.json'), 'utf8')) as { watch?: unknown };
    check('its pid is cleared from schedule.json', (schedule.watch ?? null) === null);
    // ssh masters stop once their last session ends: give them a moment.
    let left: number[] = [];
    for (let i = 0; i < 40; i++) {
      left = processesFor(home);
      if (left.length === 0) break;
      await sleep(250);
    }
    check(
      'nothing of this TILL_HOME is left running (no ssh master, no till child)',
      left.length === 0,
      left.map((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ')).join('; '),
    );
  };

  return {
    home,
    lab,
    names,
    checks,
    downMs,
    upMs,
    start,
    daemonPid,
    metrics,
    figures: () => steadyFigures(daemonPid),
    falseDowns: () => falseDownHosts,
    faultRound,
    syncDueNow,
    watchSyncs,
    unrunDues,
    stop,
    healAll: async () => {
      for (const [i, h] of lab.hosts.entries()) {
        h.resume();
        if (!h.isRunning()) await h.start();
        h.authorize(key);
        await till(home, ['host', 'forget', names[i]!]);
      }
    },
    cleanup: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      for (const h of lab.hosts) h.resume();
      lab.stop();
      await closeMasters(home);
    },
  };
}
