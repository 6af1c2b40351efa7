/**
 * `npm run soak [-- --minutes N]`: faults in combination on one TILL_HOME for a bounded
 * time (issue 20, items 3-5), on loopback sshd hosts only (test/lab; needs root). It
 * stops by itself: when the time is up the loops finish their step, the checks run, and
 * a guard ends everything if that overruns by 10 minutes.
 *
 * What runs at once:
 * - `till watch` with health every 10 s, /metrics, syncs made due every 30 s, while the
 *   storm (test/lab/storm.ts) puts four hosts at a time down (killed, frozen, new host
 *   key, till's key removed) and heals them, round after round;
 * - the ACTORS below, each a loop of till commands: deploys, `till sync`, `host health`
 *   every few seconds, hosts added (into groups) and removed, hosts imported and edited
 *   (renamed, given another port).
 * What it checks (and prints, one line each): every fault shows down in /metrics and
 * watch.log and is up again after healing, the other hosts keep being checked, the
 * daemon's memory and fds stay bounded, `watch --stop` leaves nothing running; no
 * command ever failed on a lock (a wait past the lock's bound), hit an internal error or
 * lost a lock; afterwards the database is valid and holds exactly the hosts it should
 * (ssh/config, groups and edited ports agree), every deploy, sync and health run is
 * recorded (deploy journal, schedule history, health history), no lock or temp file is
 * left, and health, deploy and sync work on every host.
 *
 * To add a loop or a check (the operations journal of `till log`, once it exists): add an
 * Actor to ACTORS and, for what must hold afterwards, a FinalCheck to FINAL_CHECKS.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startStorm, type Check, type ProcessFigures, type Storm } from '../test/lab/storm.js';
import { journalProblems, leftovers, till, type TillRun } from '../test/lab/till.js';

interface Options {
  minutes: number;
  hosts: number;
  healthIntervalS: number;
  reauthIntervalS: number;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { minutes: 3, hosts: 20, healthIntervalS: 10, reauthIntervalS: 30 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = Number(argv[i + 1]);
    const set = (key: keyof Options, min: number, max: number) => {
      if (!Number.isFinite(value) || value < min || value > max)
        throw new Error(`${flag} takes a number from ${min} to ${max}, got ${argv[i + 1] ?? 'nothing'}`);
      opts[key] = value;
      i++;
    };
    if (flag === '--minutes') set('minutes', 1, 24 * 60);
    else if (flag === '--hosts') set('hosts', 8, 60);
    else if (flag === '--health-interval') set('healthIntervalS', 10, 600);
    else if (flag === '--reauth-interval') set('reauthIntervalS', 10, 3600);
    else if (flag === '--help' || flag === '-h') {
      process.stdout.write(
        'npm run soak -- [--minutes N (3)] [--hosts N (20)] [--health-interval S (10)] [--reauth-interval S (30)]\n',
      );
      process.exit(0);
    } else throw new Error(`unknown option ${flag} (see --help)`);
  }
  return opts;
}

/** What one actor's commands did. */
interface Tally {
  runs: number;
  byExit: Map<string, number>;
  maxMs: number;
  /** Commands that failed on a lock (waited past its bound), lost one, or hit an internal error. */
  bad: string[];
}

interface SoakContext {
  storm: Storm;
  home: string;
  src: string;
  /** Hosts the add/remove and import/edit loops added and did not remove (name → its group). */
  added: Map<string, string>;
  /** Ports the edit loop gave hosts. */
  ports: Map<string, number>;
  removed: Set<string>;
  /** Commands whose result must be recorded: deploys (in the deploy journal), syncs that ran (in schedule.json). */
  recorded: { deploys: number; syncs: number };
  /** Every loop command run, to find its record in the operations journal. */
  runs: TillRun[];
  /** Each host's snapshot time in the health loop's last run: that point must be in the health history. */
  lastHealth: Map<string, string>;
  say: (line: string) => void;
}

/** A loop of till commands run beside the storm; `step` runs one and returns its result. */
interface Actor {
  name: string;
  pauseMs: number;
  step(ctx: SoakContext, i: number): Promise<TillRun>;
}

/** What must hold once the soak is over (the watch stopped, every host healed). */
interface FinalCheck {
  name: string;
  run(ctx: SoakContext): Promise<{ ok: boolean; detail: string }>;
}

const LOAD = ['--load-max', '10000', '--disk-min', '0'];
/** A `till sync` refused because another (the watch's) runs: it did nothing and records nothing. */
const ANOTHER_SYNC = /another till sync is running on this TILL_HOME/;

const readJson = <T>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;

const ACTORS: Actor[] = [
  {
    name: 'deploy loop (host deploy of a changing tree to 5 hosts, --max-fail 5)',
    pauseMs: 2_000,
    step: async (ctx, i) => {
      writeFileSync(join(ctx.src, 'version.txt'), `${i}\n`);
      const r = await till(
        ctx.home,
        ['host', 'deploy', ...ctx.storm.names.slice(-5), '--source', ctx.src, '--max-fail', '5'],
        { timeoutMs: 300_000 },
      );
      ctx.recorded.deploys += 1;
      return r;
    },
  },
  {
    name: 'sync loop (till sync; "another sync is running" while watch syncs)',
    // Room between runs for the watch's own syncs (made due every 30 s) to start too.
    pauseMs: 20_000,
    step: async (ctx) => {
      const r = await till(ctx.home, ['sync'], { timeoutMs: 300_000 });
      if (!ANOTHER_SYNC.test(r.stderr)) ctx.recorded.syncs += 1;
      return r;
    },
  },
  {
    name: 'health loop (host health --all every 5 s, beside the watch)',
    pauseMs: 5_000,
    step: async (ctx) => {
      const r = await till(ctx.home, ['host', 'health', '--all', '--json', ...LOAD], { timeoutMs: 120_000 });
      try {
        const { results } = JSON.parse(r.stdout) as { results: Array<{ host: string; health: { at: string } | null }> };
        ctx.lastHealth = new Map(results.flatMap((x) => (x.health ? [[x.host, x.health.at] as const] : [])));
      } catch {
        // no report (an error before the run): the check below looks at the last one that printed
      }
      return r;
    },
  },
  {
    name: 'hosts added (into three groups) and removed (host add / host remove, no contact)',
    pauseMs: 1_000,
    step: async (ctx, i) => {
      // Every third step removes the oldest host this loop added; the others add one.
      const oldest = [...ctx.added.keys()].find((n) => n.startsWith('x'));
      if (i % 3 === 2 && oldest !== undefined) {
        const r = await till(ctx.home, ['host', 'remove', oldest], { timeoutMs: 60_000 });
        if (r.code === 0) {
          ctx.added.delete(oldest);
          ctx.removed.add(oldest);
        }
        return r;
      }
      const name = `x${i}`;
      const spec = `u@127.250.${Math.floor(i / 250) % 250}.${(i % 250) + 2}:22`;
      const group = `soak${i % 3}`;
      const r = await till(ctx.home, ['host', 'add', name, spec, '--group', group], { timeoutMs: 60_000 });
      if (r.code === 0) ctx.added.set(name, group);
      return r;
    },
  },
  {
    name: 'hosts imported (host import of an ssh config) and edited (host edit --rename, --port)',
    pauseMs: 2_000,
    step: async (ctx, i) => {
      // Step 3k imports y<k>a and y<k>b; 3k+1 renames y<k>a to z<k>a; 3k+2 gives y<k>b port 2200.
      const k = Math.floor(i / 3);
      if (i % 3 === 0) {
        const file = join(ctx.src, '..', `${ctx.src.split('/').pop()}-import`);
        const at = (n: number) => `127.251.${Math.floor(k / 120) % 250}.${(k % 120) * 2 + n + 2}`;
        writeFileSync(file, `Host y${k}a\n  HostName ${at(0)}\n  User u\nHost y${k}b\n  HostName ${at(1)}\n  User u\n`);
        const r = await till(ctx.home, ['host', 'import', file, '--group', 'soakimp'], { timeoutMs: 60_000 });
        rmSync(file, { force: true });
        if (r.code === 0) for (const n of [`y${k}a`, `y${k}b`]) ctx.added.set(n, 'soakimp');
        return r;
      }
      const [from, args] = i % 3 === 1 ? [`y${k}a`, ['--rename', `z${k}a`]] : [`y${k}b`, ['--port', '2200']];
      const r = await till(ctx.home, ['host', 'edit', from, ...args], { timeoutMs: 60_000 });
      if (r.code === 0 && i % 3 === 1) {
        ctx.added.delete(from);
        ctx.removed.add(from);
        ctx.added.set(`z${k}a`, 'soakimp');
      }
      if (r.code === 0 && i % 3 === 2) ctx.ports.set(from, 2200);
      return r;
    },
  },
];

const FINAL_CHECKS: FinalCheck[] = [
  {
    name: 'the database is valid and holds every lab host and every added or imported host not removed or renamed, and no other; ssh/config, the groups and the edited ports agree',
    run: async (ctx) => {
      const r = await till(ctx.home, ['host', 'list', '--json']);
      if (r.code !== 0) return { ok: false, detail: r.stderr.trim() };
      const hosts = (JSON.parse(r.stdout) as { hosts: Array<{ name: string; port?: number }> }).hosts;
      const names = new Set(hosts.map((h) => h.name));
      const portsOff = [...ctx.ports].filter(([n, port]) => hosts.find((h) => h.name === n)?.port !== port);
      const missing = [...ctx.storm.names, ...ctx.added.keys()].filter((n) => !names.has(n));
      const stale = [...ctx.removed].filter((n) => names.has(n));
      const aliases = [...readFileSync(join(ctx.home, 'ssh', 'config'), 'utf8').matchAll(/^Host till-([^*\s]+)$/gm)];
      const configOff = aliases.length !== names.size || aliases.some((m) => !names.has(m[1]!));
      const g = await till(ctx.home, ['host', 'group', 'list', '--json']);
      const groups = g.code === 0 ? (JSON.parse(g.stdout) as { groups: Record<string, string[]> }).groups : {};
      const groupsOff = ['soak0', 'soak1', 'soak2', 'soakimp'].filter((group) => {
        const want = [...ctx.added].filter(([, grp]) => grp === group).map(([n]) => n);
        const have = groups[group] ?? [];
        return have.length !== want.length || want.some((n) => !have.includes(n));
      });
      return {
        ok:
          missing.length === 0 &&
          stale.length === 0 &&
          !configOff &&
          g.code === 0 &&
          groupsOff.length === 0 &&
          portsOff.length === 0,
        detail: [
          `${names.size} hosts, ${aliases.length} in ssh/config`,
          missing.length ? `missing ${missing.join(',')}` : '',
          stale.length ? `removed but present ${stale.join(',')}` : '',
          configOff ? 'ssh/config differs from the database' : '',
          g.code !== 0 ? g.stderr.trim() : '',
          groupsOff.length ? `groups differ: ${groupsOff.join(', ')}` : '',
          portsOff.length ? `ports not kept: ${portsOff.map(([n]) => n).join(', ')}` : '',
        ]
          .filter((x) => x !== '')
          .join('; '),
      };
    },
  },
  {
    name: 'no lock or temp file is left under TILL_HOME',
    run: async (ctx) => {
      const left = leftovers(ctx.home);
      return { ok: left.length === 0, detail: left.join(', ') || 'none' };
    },
  },
  {
    name: 'the schedule, health history and audit state read back (schedule show, metrics)',
    run: async (ctx) => {
      const a = await till(ctx.home, ['schedule', 'show', '--json']);
      const b = await till(ctx.home, ['metrics']);
      return { ok: a.code === 0 && b.code === 0, detail: `${a.stderr}${b.stderr}`.trim() || 'both exit 0' };
    },
  },
  {
    name: 'every deploy is in the deploy journal (its newest 20), with every host it targeted past pending',
    run: async (ctx) => {
      const journal = readJson<{ runs: Array<{ hosts: Record<string, { state: string }> }> }>(
        join(ctx.home, 'state', 'deploy-journal.json'),
      );
      const want = Math.min(ctx.recorded.deploys, 20);
      const states = new Map<string, number>();
      let short = 0;
      for (const run of journal.runs) {
        // A host that failed to stage is 'failed' with its reason; one that failed at the
        // switch stays 'staged' or 'switched' (what --resume finishes); none is left 'pending'.
        if (Object.keys(run.hosts).length !== 5) short += 1;
        for (const p of Object.values(run.hosts)) states.set(p.state, (states.get(p.state) ?? 0) + 1);
      }
      return {
        ok: journal.runs.length === want && short === 0 && !states.has('pending'),
        detail: `${ctx.recorded.deploys} deploys run, ${journal.runs.length} runs in the journal; host states: ${[...states].map(([k, n]) => `${k} ${n}`).join(', ')}${short ? `; ${short} runs without their 5 hosts` : ''}`,
      };
    },
  },
  {
    name: 'every till sync that ran is in the schedule history (besides the watch runs), or the history is at its bound of 50',
    run: async (ctx) => {
      const history = readJson<{ history: Array<{ trigger?: string }> }>(join(ctx.home, 'schedule.json')).history;
      const manual = history.filter((h) => h.trigger === 'manual').length;
      const full = history.length === 50;
      return {
        ok: manual === ctx.recorded.syncs || (full && manual <= ctx.recorded.syncs),
        detail: `${ctx.recorded.syncs} ran, ${manual} recorded as manual, ${history.length - manual} by the watch${full ? ' (history full)' : ''}`,
      };
    },
  },
  {
    name: "the health loop's last run is in the health history, every lab host's point",
    run: async (ctx) => {
      const history = readJson<{ hosts: Record<string, Array<{ at: string }>> }>(
        join(ctx.home, 'state', 'health-history.json'),
      );
      const lost = ctx.storm.names.filter((n) => {
        const at = ctx.lastHealth.get(n);
        return at === undefined || !(history.hosts[n] ?? []).some((p) => p.at === at);
      });
      return {
        ok: lost.length === 0,
        detail: lost.length ? `not recorded: ${lost.join(', ')}` : `${ctx.lastHealth.size} hosts`,
      };
    },
  },
  {
    name: 'every loop command that records has exactly one record (its argv, its exit code) in the operations journal, every line whole JSON',
    run: async (ctx) => {
      const problems = journalProblems(ctx.home, ctx.runs);
      return {
        ok: problems.length === 0,
        detail: problems.slice(0, 5).join('; ') || `${ctx.runs.length} loop commands (host health records none)`,
      };
    },
  },
  {
    name: 'every host answers host health (all up)',
    run: async (ctx) => {
      const r = await till(ctx.home, ['host', 'health', ...ctx.storm.names, ...LOAD], { timeoutMs: 120_000 });
      return { ok: r.code === 0, detail: r.stdout.trim().split('\n').pop() ?? '' };
    },
  },
  {
    name: 'a deploy to every host succeeds',
    run: async (ctx) => {
      writeFileSync(join(ctx.src, 'version.txt'), 'final\n');
      const r = await till(ctx.home, ['host', 'deploy', ...ctx.storm.names, '--source', ctx.src], {
        timeoutMs: 600_000,
      });
      return { ok: r.code === 0, detail: r.stdout.trim().split('\n').pop() ?? r.stderr.trim() };
    },
  },
  {
    name: 'till sync succeeds on every host',
    run: async (ctx) => {
      const r = await till(ctx.home, ['sync'], { timeoutMs: 600_000 });
      return { ok: r.code === 0, detail: r.stderr.trim().split('\n').pop() ?? '' };
    },
  },
];

/** A command that failed on a lock, lost one, or hit a bug: never acceptable, however loaded the machine. */
function badOutcome(r: TillRun): string | undefined {
  if (r.code === 70 || /internal error/.test(r.stderr)) return 'internal error';
  if (/could not lock|lost the lock/.test(r.stderr)) return 'lock';
  if (r.signal) return `killed by ${r.signal} (its time limit)`;
  return undefined;
}

async function runActor(actor: Actor, ctx: SoakContext, until: () => boolean, tally: Tally): Promise<void> {
  for (let i = 0; !until(); i++) {
    const started = Date.now();
    const r = await actor.step(ctx, i);
    ctx.runs.push(r);
    const ms = Date.now() - started;
    tally.runs += 1;
    tally.maxMs = Math.max(tally.maxMs, ms);
    const key = `exit ${r.code ?? r.signal}`;
    tally.byExit.set(key, (tally.byExit.get(key) ?? 0) + 1);
    const bad = badOutcome(r);
    if (bad) {
      tally.bad.push(`${bad}: ${r.stderr.trim().split('\n').slice(-2).join(' / ')}`);
      ctx.say(`FAIL ${actor.name}: ${bad}: ${r.stderr.trim().split('\n').slice(-2).join(' / ')}`);
    }
    await new Promise((res) => setTimeout(res, actor.pauseMs));
  }
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('the soak starts real sshd hosts (test/lab): run it as root');
  const t0 = Date.now();
  const say = (line: string) =>
    process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(5)} s] ${line}\n`);
  const deadline = t0 + opts.minutes * 60_000;
  // The guard: however the machine behaves, the soak ends.
  const guard = setTimeout(
    () => {
      say('FAIL the soak overran its time by 10 minutes: stopping');
      void cleanup().finally(() => process.exit(1));
    },
    opts.minutes * 60_000 + 10 * 60_000,
  );
  guard.unref();

  say(
    `soak: ${opts.minutes} min, ${opts.hosts} loopback hosts, health every ${opts.healthIntervalS} s, re-authentication every ${opts.reauthIntervalS} s`,
  );
  const storm = await startStorm({
    hosts: opts.hosts,
    healthIntervalS: opts.healthIntervalS,
    reauthIntervalS: opts.reauthIntervalS,
    log: say,
  });
  const src = mkdtempSync('/tmp/t-soak-src-');
  writeFileSync(join(src, 'app.txt'), 'soak\n');
  const ctx: SoakContext = {
    storm,
    home: storm.home,
    src,
    added: new Map(),
    ports: new Map(),
    removed: new Set(),
    recorded: { deploys: 0, syncs: 0 },
    runs: [],
    lastHealth: new Map(),
    say,
  };
  let cleaned = false;
  async function cleanup(): Promise<void> {
    if (cleaned) return;
    cleaned = true;
    await storm.cleanup();
    rmSync(src, { recursive: true, force: true });
  }
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.once(sig, () => {
      say(`${sig}: stopping`);
      void cleanup().finally(() => process.exit(130));
    });

  const checks: Check[] = storm.checks;
  const samples: ProcessFigures[] = [storm.start];
  const tallies = new Map<string, Tally>(
    ACTORS.map((a) => [a.name, { runs: 0, byExit: new Map(), maxMs: 0, bad: [] }]),
  );
  // Leave room for the last round (about two minutes) before the deadline.
  const stopping = () => Date.now() > deadline - 120_000;
  let syncsDue = 0;
  const syncTicker = setInterval(() => {
    if (stopping()) return;
    syncsDue += 1;
    void storm.syncDueNow().catch((e: unknown) => say(`could not make the sync due: ${String(e)}`));
  }, 30_000);
  const actors = ACTORS.map((a) => runActor(a, ctx, stopping, tallies.get(a.name)!));
  let round = 0;
  try {
    do {
      await storm.faultRound(round);
      samples.push(await storm.figures());
      const s = samples.at(-1)!;
      say(`daemon after round ${round}: ${s.rssKb} kB resident, ${s.fds} open fds`);
      round += 1;
    } while (!stopping());
  } catch (err) {
    checks.push({ what: 'the storm ran to its end', ok: false, detail: String(err) });
    say(`FAIL the storm stopped: ${String(err)}`);
    await storm.healAll();
  } finally {
    clearInterval(syncTicker);
  }
  say('time is up: waiting for the loops to finish their step');
  await Promise.all(actors);
  const end = await storm.figures();
  samples.push(end);
  const syncs = storm.watchSyncs();
  await storm.stop();

  for (const [name, t] of tallies) {
    const exits = [...t.byExit].map(([k, n]) => `${k}: ${n}`).join(', ');
    checks.push({
      what: `${name}: no command failed on a lock or with an internal error`,
      ok: t.bad.length === 0 && t.runs > 0,
      detail: `${t.runs} runs (${exits}), longest ${t.maxMs} ms${t.bad.length ? `; ${t.bad.slice(0, 3).join('; ')}` : ''}`,
    });
  }
  const unrun = storm.unrunDues();
  checks.push({
    what: 'every sync made due ran and was recorded (by the watch, or by the sync loop when it got there first)',
    ok: syncsDue > 0 && unrun.length === 0,
    detail: `${syncsDue} made due, ${syncs} run by the watch${unrun.length ? `; never run after ${unrun.join(', ')}` : ''}`,
  });
  const growthKb = end.rssKb - storm.start.rssKb;
  checks.push({
    what: "the daemon's memory and open fds stayed bounded",
    ok: growthKb < 64 * 1024 && end.fds <= storm.start.fds + 32,
    detail: `start ${storm.start.rssKb} kB / ${storm.start.fds} fds, end ${end.rssKb} kB / ${end.fds} fds, peak ${Math.max(...samples.map((s) => s.rssKb))} kB / ${Math.max(...samples.map((s) => s.fds))} fds over ${samples.length} samples`,
  });
  for (const c of FINAL_CHECKS) {
    const r = await c.run(ctx).catch((e: unknown) => ({ ok: false, detail: String(e) }));
    checks.push({ what: c.name, ok: r.ok, detail: r.detail });
    say(`${r.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${r.detail}`);
  }

  const fmt = (xs: number[]) => (xs.length ? `${Math.min(...xs)}-${Math.max(...xs)} ms (${xs.length})` : 'none');
  const lines = [
    '',
    `soak summary: ${round} fault rounds over ${((Date.now() - t0) / 60_000).toFixed(1)} min, ${opts.hosts} hosts`,
    ...(['killed', 'frozen', 'rekeyed', 'unauthorized'] as const).map(
      (k) => `  ${k.padEnd(12)} down after ${fmt(storm.downMs[k])}, up again after ${fmt(storm.upMs[k])}`,
    ),
    `  healthy hosts reported down under load (not faults): ${storm.falseDowns()}`,
    ...checks.map((c) => `${c.ok ? 'ok  ' : 'FAIL'} ${c.what}${c.detail ? `: ${c.detail}` : ''}`),
  ];
  const failed = checks.filter((c) => !c.ok).length;
  lines.push(failed === 0 ? `all ${checks.length} checks passed` : `${failed} of ${checks.length} checks FAILED`);
  process.stdout.write(`${lines.join('\n')}\n`);
  await cleanup();
  clearTimeout(guard);
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`soak: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
