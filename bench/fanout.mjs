#!/usr/bin/env node
// Fan-out benchmark: till against parallel-ssh and `ansible -m raw` on the same lab
// hosts in the same run, plus start-up, memory, a 10,000-host database and the cost
// of a dead and a hanging host. Prints figures and ratios; asserts nothing.
//
//   npm run bench                       (as root: the lab creates users and sshd's; runs
//                                        this, then bench/deploy.mjs: bench/all.mjs)
//   BENCH_SIZES=20 BENCH_REPEAT=1 BENCH_COLD_REPEAT=1 BENCH_WARM_REPEAT=1 node bench/fanout.mjs   (quicker)
//   node bench/fanout.mjs --startup-only   (the start-up rows alone, no lab: ~1 min;
//                                           BENCH_STARTS rounds, default 31)
//
// With BENCH_SUMMARY=<file>, the rows of issue 19's table and the scale figures are
// also written there as JSON (bench/all.mjs prints them as one table).
//
// The lab helper is TypeScript (test/lab/lab.ts); it is bundled on the fly with
// esbuild so this stays a plain node script with no extra runner.
import { build } from 'esbuild';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { loadavg, cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

const STARTUP_ONLY = process.argv.includes('--startup-only');
const unknownArg = process.argv.slice(2).find((a) => a !== '--startup-only');
if (unknownArg !== undefined) {
  console.error(`bench: unknown argument ${unknownArg} (only --startup-only)`);
  process.exit(2);
}
const ROOT = resolve(new URL('..', import.meta.url).pathname);
// What a person runs: the launcher of the split CLI and its code cache (dist/cli/).
const TILL = join(ROOT, 'bin/till.cjs');
const SIZES = (process.env.BENCH_SIZES ?? '50,200').split(',').map(Number);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
const COLD_REPEAT = Number(process.env.BENCH_COLD_REPEAT ?? 7);
// Warm runs over masters take 0.3–2 s and move by ±15 % from one to the next on a 2-core
// machine (the hosts' sshd share its cores): pairs with pssh, the order alternating, and
// the ratio is the median of each pair's ratio.
const WARM_REPEAT = Number(process.env.BENCH_WARM_REPEAT ?? 11);
const BIG = Number(process.env.BENCH_BIG_DB ?? 10_000);
const STARTS = Number(process.env.BENCH_STARTS ?? 31);
// Ansible is slow (minutes at 200 hosts): compared up to this many hosts.
const ANSIBLE_MAX = Number(process.env.BENCH_ANSIBLE_MAX ?? 50);
const SUMMARY = process.env.BENCH_SUMMARY;
/** Issue 19's rows ({ what, till, base, baseline, target }) and the scale figures, for bench/all.mjs. */
const summary = { rows: [], scale: {} };
/** `ratio`, when given, is the row's own (the start-up rows: the median of per-round ratios), not till / base. */
const issueRow = (what, tillMs, baseMs, baseline, target, ratio) =>
  summary.rows.push({ what, till: tillMs, base: baseMs, baseline, target, ...(ratio === undefined ? {} : { ratio }) });

if (process.getuid?.() !== 0) {
  console.error('bench: needs root (the sshd lab creates users); run as root');
  process.exit(2);
}
if (!existsSync(join(ROOT, 'dist/till.mjs'))) {
  console.error('bench: dist/till.mjs is missing: run npm run build (npm run bench does)');
  process.exit(2);
}
const have = (bin) => {
  try {
    execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
const HAVE_PSSH = have('parallel-ssh');
const HAVE_ANSIBLE = have('ansible') && process.env.BENCH_ANSIBLE !== '0';
const HAVE_TIME = existsSync('/usr/bin/time');

const labFile = join(mkdtempSync(join(tmpdir(), 'till-bench-')), 'lab.mjs');
let startLab;
if (!STARTUP_ONLY) {
  await build({
    entryPoints: [join(ROOT, 'test/lab/lab.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    outfile: labFile,
    logLevel: 'warning',
  });
  ({ startLab } = await import(pathToFileURL(labFile).href));
}

/* ---------------------------------------------------------------- helpers */

/** Runs a command; resolves with wall time, exit code and output. */
function timed(cmd, args, env = {}) {
  return new Promise((res) => {
    const started = performance.now();
    const child = spawn(cmd, args, {
      env: { ...process.env, NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => res({ ms: performance.now() - started, code, out, err }));
  });
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`);
const ratio = (a, b) => `${(a / b).toFixed(2)}×`;
const rows = [];
const row = (what, value, note = '') => {
  rows.push([what, value, note]);
  console.error(`  ${what}: ${value}${note ? `  (${note})` : ''}`);
};
function check(r, what, expected = 0) {
  if (r.code !== expected)
    console.error(`  ! ${what} exited ${r.code}\n${(r.err || r.out).split('\n').slice(-8).join('\n')}`);
  return r;
}

/**
 * till's environment in every row: TILL_HOME, and no NODE_EXTRA_CA_CERTS. Where the
 * environment sets it (this machine's does, for its proxy), Node parses the whole CA file
 * before any code runs, ~60 ms a start that till, which makes no TLS connection, would pay
 * and no baseline here (pssh, Ansible, rsync) does; a user's shell does not set it. The
 * deploy rows always ran so (test/lab/till.ts passes a minimal environment).
 */
function tillEnv(home) {
  return { TILL_HOME: home, NODE_EXTRA_CA_CERTS: undefined };
}
async function till(home, args) {
  return timed(process.execPath, [TILL, ...args], tillEnv(home));
}
/**
 * A command under /usr/bin/time: wall time, the peak RSS of its own process, and the CPU
 * time (user + system) of it and every child it waited for (till's and pssh's ssh processes).
 */
let measuredFile;
async function measured(cmd, args, env = {}) {
  if (!HAVE_TIME) return { ...(await timed(cmd, args, env)), rssKiB: null, cpuMs: null };
  measuredFile ??= join(mkdtempSync(join(tmpdir(), 'till-bench-time-')), 'time.txt');
  const r = await timed('/usr/bin/time', ['-f', '%M %U %S', '-o', measuredFile, cmd, ...args], env);
  const [rss, user, sys] = readFileSync(measuredFile, 'utf8').trim().split('\n').pop().split(' ').map(Number);
  return { ...r, rssKiB: rss, cpuMs: (user + sys) * 1000 };
}
/** till under /usr/bin/time (measured). */
async function tillMeasured(home, args) {
  return measured(process.execPath, [TILL, ...args], tillEnv(home));
}

/** Lets the connections of the previous run wind down (sshd sessions exiting) before a cold run. */
function settle() {
  return new Promise((resolve) => setTimeout(resolve, 1000));
}

/** Ends every master under a control directory (cold runs start from none). */
async function closeMasters(controlDir) {
  let sockets = [];
  try {
    sockets = readdirSync(controlDir);
  } catch {
    return;
  }
  await Promise.all(sockets.map((s) => timed('ssh', ['-o', `ControlPath=${join(controlDir, s)}`, '-O', 'exit', 'x'])));
}

/** The ssh masters whose control sockets are under `dir` (ps: `ssh: <dir>/… [mux]`): how many and their RSS. */
function mastersUnder(dir) {
  let out = '';
  try {
    out = execFileSync('ps', ['-eo', 'rss=,args='], { encoding: 'utf8' });
  } catch {
    return { count: 0, rssKiB: 0 };
  }
  const lines = out.split('\n').filter((l) => l.includes(`ssh: ${dir}/`) && l.includes('[mux]'));
  return { count: lines.length, rssKiB: lines.reduce((n, l) => n + Number(l.trim().split(/\s+/)[0]), 0) };
}

/** A hosts-local.json written directly (10,000 `host add` calls would take an hour). */
function writeDb(home, hosts, groups = {}) {
  const db = { hosts: {}, groups, updated: String(Math.floor(Date.now() / 1000)) };
  const added = new Date().toISOString();
  for (const h of hosts) {
    db.hosts[h.name] = {
      user: h.user,
      host: h.address,
      port: h.port,
      status: h.status ?? 'untested',
      added,
      last_sync: null,
      tekton_path: '~/projects/github/Tekton',
      installations: [],
    };
  }
  writeFileSync(join(home, 'hosts-local.json'), `${JSON.stringify(db, null, 2)}\n`);
}

async function newHome() {
  const home = mkdtempSync('/tmp/t-');
  check(await till(home, ['host', 'init']), 'till host init');
  return home;
}

/** The session loops `watch --keep-warm` holds (ssh processes whose command names the loop): how many, their RSS. */
function sessionProcesses(dir) {
  let out = '';
  try {
    out = execFileSync('ps', ['-eo', 'rss=,args='], { encoding: 'utf8' });
  } catch {
    return { count: 0, rssKiB: 0 };
  }
  const lines = out.split('\n').filter((l) => l.includes(`-F ${dir}/ssh/config`) && l.includes('TILL_WARM_READY'));
  return { count: lines.length, rssKiB: lines.reduce((n, l) => n + Number(l.trim().split(/\s+/)[0]), 0) };
}

/**
 * Runs `measure` while `till watch --keep-warm` holds a session to each of the K hosts
 * (waits until a command on every host says it ran under a session's loop), then stops it.
 */
async function viaSessions(home, K, measure) {
  const file = join(home, 'schedule.json');
  const sched = JSON.parse(readFileSync(file, 'utf8'));
  sched.sync.next_run = new Date(Date.now() + 86_400_000).toISOString();
  writeFileSync(file, JSON.stringify(sched, null, 2));
  const daemon = timed(process.execPath, [TILL, 'watch', '--keep-warm'], tillEnv(home));
  const VIA = `tr '\\0' ' ' </proc/$PPID/cmdline | grep -c TILL_WARM_READY`;
  const deadline = Date.now() + 120_000 + K * 1000;
  let held = 0;
  try {
    while (Date.now() < deadline) {
      const r = await till(home, ['host', 'exec', '--all', '--json', '--', VIA]);
      try {
        held = JSON.parse(r.out).results.filter((x) => x.stdout.trim() === '1').length;
      } catch {
        held = 0;
      }
      if (held === K) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    if (held !== K) return { why: `only ${held} of ${K} sessions opened`, count: held, rssKiB: 0 };
    const procs = sessionProcesses(home);
    await measure();
    return procs;
  } finally {
    check(await till(home, ['watch', '--stop']), 'watch --stop');
    await daemon;
  }
}

/* ---------------------------------------------------------------- header */

console.error(
  `till fan-out benchmark: ${cpus().length} cores, load ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}, repeat ${REPEAT} (median; cold triples ${COLD_REPEAT}, warm pairs ${WARM_REPEAT})`,
);
if (!HAVE_PSSH) console.error('  parallel-ssh not found (Debian: apt-get install pssh): its rows are skipped');
if (!HAVE_ANSIBLE) console.error('  ansible not found (Debian: apt-get install ansible-core): its rows are skipped');

/* ---------------------------------------------------------------- start-up */

{
  console.error(`\nstart-up (${STARTS} rounds, interleaved; 5-host database)`);
  // Every row runs in each round, one after the other, so the load of the machine falls
  // on all of them alike; each row's ratio is the median over the rounds of its time
  // divided by `node -e 0`'s in the same round (a burst of load then moves both sides of
  // one pair, not one side's median). One untimed round first warms the page cache and
  // fills the code cache (a person's second command). `host exec` is timed up to its
  // first ssh: `ssh` on PATH is a bash script that appends $EPOCHREALTIME (a builtin: no
  // fork) to a file and exits.
  //
  // Both sides run without NODE_EXTRA_CA_CERTS: with it, Node parses every certificate of
  // the file as it starts (~65 ms for Debian's bundle, twice what the rest of `node -e 0`
  // takes here), which a till start pays exactly as `node -e 0` does, so it only hides
  // till's own cost in a larger baseline. A person's shell rarely sets it.
  // When the environment sets it, `host list` and `host exec` also run with it, against
  // `node -e 0` with it in the same round: the ratios the earlier runs measured.
  const caCerts = process.env.NODE_EXTRA_CA_CERTS;
  const plainEnv = (env = {}, withCa = false) => ({ ...env, NODE_EXTRA_CA_CERTS: withCa ? caCerts : undefined });
  const startHome = await newHome();
  writeDb(
    startHome,
    Array.from({ length: 5 }, (_, i) => ({ name: `s${i}`, user: 'deploy', address: `127.0.9.${i + 1}`, port: 22 })),
  );
  // A change through till seals the written database (as every database till wrote is).
  check(await till(startHome, ['host', 'group', 'create', 'g']), 'group create');
  const stub = mkdtempSync('/tmp/tb-ssh-');
  writeFileSync(join(stub, 'ssh'), '#!/bin/bash\nprintf "%s\\n" "$EPOCHREALTIME" >> "$TILL_BENCH_STAMP"\n', {
    mode: 0o755,
  });
  const stamp = join(stub, 'stamp');
  const toFirstSpawn = async (launcher, env = {}, withCa = false) => {
    rmSync(stamp, { force: true });
    const started = performance.timeOrigin + performance.now();
    check(
      await timed(
        process.execPath,
        [launcher, 'host', 'exec', '--all', '--', 'true'],
        plainEnv(
          { ...tillEnv(startHome), PATH: `${stub}:${process.env.PATH}`, TILL_BENCH_STAMP: stamp, ...env },
          withCa,
        ),
      ),
      'host exec (ssh stubbed)',
    );
    return Number(readFileSync(stamp, 'utf8').split('\n')[0]) * 1000 - started;
  };
  const listMs = async (launcher, env = {}, withCa = false) =>
    check(
      await timed(process.execPath, [launcher, 'host', 'list'], plainEnv({ ...tillEnv(startHome), ...env }, withCa)),
      'host list',
    ).ms;
  const BUNDLE = join(ROOT, 'dist/till.mjs');
  const measures = [
    ['node', async () => (await timed(process.execPath, ['-e', '0'], plainEnv())).ms],
    ['version', async () => (await timed(process.execPath, [TILL, '--version'], plainEnv())).ms],
    ['list', () => listMs(TILL)],
    ['list nocache', () => listMs(TILL, { TILL_NO_CODE_CACHE: '1' })],
    ['list bundle', () => listMs(BUNDLE)],
    ['exec', () => toFirstSpawn(TILL)],
    ['exec nocache', () => toFirstSpawn(TILL, { TILL_NO_CODE_CACHE: '1' })],
    ['exec bundle', () => toFirstSpawn(BUNDLE)],
  ];
  if (caCerts !== undefined)
    measures.push(
      ['node ca', async () => (await timed(process.execPath, ['-e', '0'], plainEnv({}, true))).ms],
      ['list ca', () => listMs(TILL, {}, true)],
      ['exec ca', () => toFirstSpawn(TILL, {}, true)],
    );
  const m = {};
  const vs = {};
  for (let i = -1; i < STARTS; i++) {
    const round = {};
    for (const [k, measure] of measures) round[k] = await measure();
    if (i < 0) continue; // the warm-up round
    for (const [k, ms] of Object.entries(round)) {
      (m[k] ??= []).push(ms);
      // Each against the `node -e 0` run with the same environment.
      (vs[k] ??= []).push(ms / (k.endsWith(' ca') && k !== 'node ca' ? round['node ca'] : round.node));
    }
  }
  rmSync(stub, { recursive: true, force: true });
  rmSync(startHome, { recursive: true, force: true });
  const med = Object.fromEntries(Object.entries(m).map(([k, v]) => [k, median(v)]));
  const medVs = Object.fromEntries(Object.entries(vs).map(([k, v]) => [k, median(v)]));
  const vsNode = (k, target) => `${medVs[k].toFixed(2)}× node -e 0${target ? `; target ≤ ${target}` : ''}`;
  row('node -e 0', fmt(med.node));
  row('till --version', fmt(med.version), vsNode('version', '1.3×'));
  row('till host list (5 hosts)', fmt(med.list), vsNode('list', '1.3×'));
  row('  the same, code cache off (TILL_NO_CODE_CACHE=1)', fmt(med['list nocache']), vsNode('list nocache'));
  row('  the same, one bundle (dist/till.mjs, as before)', fmt(med['list bundle']), vsNode('list bundle'));
  row('till host exec --all, start to first ssh (5 hosts)', fmt(med.exec), vsNode('exec', '1.3×'));
  row('  the same, code cache off (TILL_NO_CODE_CACHE=1)', fmt(med['exec nocache']), vsNode('exec nocache'));
  row('  the same, one bundle (dist/till.mjs, as before)', fmt(med['exec bundle']), vsNode('exec bundle'));
  if (caCerts !== undefined) {
    row(
      "node -e 0 with this environment's NODE_EXTRA_CA_CERTS (not a baseline above)",
      fmt(med['node ca']),
      vsNode('node ca'),
    );
    row('  till host list, both with it', fmt(med['list ca']), `${medVs['list ca'].toFixed(2)}× node -e 0 with it`);
    row(
      '  till host exec to first ssh, both with it',
      fmt(med['exec ca']),
      `${medVs['exec ca'].toFixed(2)}× node -e 0 with it`,
    );
  }
  issueRow('`till host list` (5 hosts)', med.list, med.node, '`node -e 0`', 1.3, medVs.list);
  issueRow('`till host exec` to its first ssh (5 hosts)', med.exec, med.node, '`node -e 0`', 1.3, medVs.exec);
}

if (STARTUP_ONLY) {
  rmSync(dirname(labFile), { recursive: true, force: true });
  printTable();
  process.exit(0);
}

/* ---------------------------------------------------------------- fan-out */

const home = await newHome();
const pub = readFileSync(join(home, 'ssh/till_federation_ed25519.pub'), 'utf8').trim();
const cfg = join(home, 'ssh/config');
const control = join(home, 'ssh/control');
const labs = [];
let lastLab;

try {
  for (const K of SIZES) {
    console.error(`\n${K} hosts`);
    const lab = await startLab(K, { authorizedKey: pub });
    labs.push(lab);
    lastLab = lab;
    const names = lab.hosts.map((_, i) => `h${i}`);
    // till-ready, so that `watch --keep-warm` holds them (the status changes nothing else here).
    writeDb(
      home,
      lab.hosts.map((h, i) => ({
        name: names[i],
        user: h.user,
        address: h.address,
        port: h.port,
        status: 'till-ready',
      })),
    );
    await closeMasters(control);
    // Regenerates ssh/config from the database, and fills known_hosts for pssh/ansible.
    check(await till(home, ['host', 'group', 'create', 'bench']), 'group create');
    check(await till(home, ['host', 'test', '--all']), 'till host test --all');

    const hostsFile = join(home, `pssh-${K}.txt`);
    writeFileSync(hostsFile, names.map((n) => `till-${n}`).join('\n') + '\n');
    const inventory = join(home, `ansible-${K}.ini`);
    writeFileSync(
      inventory,
      `[lab]\n${names.map((n) => `${n} ansible_host=till-${n}`).join('\n')}\n\n[all:vars]\nansible_ssh_common_args='-F ${cfg}'\n`,
    );
    const ansibleHome = mkdtempSync('/tmp/ab-');
    const ansibleEnv = {
      ANSIBLE_HOME: ansibleHome,
      ANSIBLE_LOCAL_TEMP: join(ansibleHome, 'tmp'),
      ANSIBLE_SSH_CONTROL_PATH_DIR: join(ansibleHome, 'cp'),
      ANSIBLE_HOST_KEY_CHECKING: 'False',
      ANSIBLE_RETRY_FILES_ENABLED: 'False',
      ANSIBLE_NOCOLOR: '1',
      ANSIBLE_DEPRECATION_WARNINGS: 'False',
    };
    const cpDir = join(ansibleHome, 'cp');

    const m = {};
    const add = (key, ms) => (m[key] ??= []).push(ms);
    // Per round (a cold triple, a warm pair): the ratio of till to its baseline in that round.
    const roundRatios = {};
    const addRatio = (key, tillMs, baseMs) => {
      if (tillMs !== undefined && baseMs !== undefined) (roundRatios[key] ??= []).push(tillMs / baseMs);
    };
    const roundRatio = (key) => (roundRatios[key] ? median(roundRatios[key]) : undefined);
    const fmtRatio = (key) => `${roundRatio(key).toFixed(2)}×`;
    // CPU time (user + system) of each side's whole process tree, warm runs.
    const cpu = {};
    let peakRss = 0;
    // Cold: till and pssh in pairs, the order alternating, each from no masters at all
    // and after the previous run's connections have wound down (COLD_REPEAT pairs: the
    // runs are short and CPU-bound, so the noise of a shared VM needs more than three).
    let round = {};
    const coldTill = async () => {
      const tc = check(await tillMeasured(home, ['host', 'exec', '--all', '--', 'true']), 'till cold');
      add('till cold', tc.ms);
      round.till = tc.ms;
      peakRss = Math.max(peakRss, tc.rssKiB ?? 0);
    };
    const coldPssh = async () =>
      add(
        'pssh cold',
        (round.pssh = check(
          await timed('parallel-ssh', [
            '-p',
            '32',
            '-h',
            hostsFile,
            '-x',
            `-F ${cfg} -o ControlMaster=no -o ControlPath=none`,
            'true',
          ]),
          'pssh cold',
        ).ms),
      );
    // The same pssh, but opening a master per host as till's cold run does (till's ssh/config
    // as it is: ControlMaster auto, ControlPersist): what till's own cost is, the masters aside.
    const coldPsshMasters = async () =>
      add(
        'pssh cold, masters',
        (round.psshMasters = check(
          await timed('parallel-ssh', ['-p', '32', '-h', hostsFile, '-x', `-F ${cfg}`, 'true']),
          'pssh cold, masters',
        ).ms),
      );
    for (let rep = 0; rep < COLD_REPEAT; rep++) {
      round = {};
      const order = [coldTill, coldPssh, coldPsshMasters];
      for (let i = 0; i < order.length; i++) {
        const run = order[(i + rep) % order.length];
        if (run !== coldTill && !HAVE_PSSH) continue;
        await closeMasters(control);
        await settle();
        await run();
      }
      addRatio('cold', round.till, round.pssh);
      addRatio('cold, masters', round.till, round.psshMasters);
    }
    // Warm: over the masters of a till run.
    await closeMasters(control);
    check(await till(home, ['host', 'exec', '--all', '--', 'true']), 'till (masters for the warm runs)');
    // Both sides under /usr/bin/time (the same extra exec each), which also gives their CPU.
    const warmTill = async () => {
      const tw = check(await tillMeasured(home, ['host', 'exec', '--all', '--', 'true']), 'till warm');
      add('till warm', tw.ms);
      if (tw.cpuMs !== null) (cpu.till ??= []).push(tw.cpuMs);
      peakRss = Math.max(peakRss, tw.rssKiB ?? 0);
      return tw.ms;
    };
    const warmPssh = async () => {
      const pw = check(
        await measured('parallel-ssh', ['-p', '32', '-h', hostsFile, '-x', `-F ${cfg}`, 'true']),
        'pssh warm',
      );
      add('pssh warm', pw.ms);
      if (pw.cpuMs !== null) (cpu.pssh ??= []).push(pw.cpuMs);
      return pw.ms;
    };
    for (let rep = 0; rep < WARM_REPEAT; rep++) {
      round = {};
      for (const run of rep % 2 === 0 ? [warmTill, warmPssh] : [warmPssh, warmTill]) {
        if (run === warmPssh && !HAVE_PSSH) continue;
        round[run === warmTill ? 'till' : 'pssh'] = await run();
      }
      addRatio('warm', round.till, round.pssh);
      // a bash loop of ssh & over the same live masters: the floor
      add(
        'ssh loop warm',
        check(
          await timed('bash', ['-c', `for h in $(cat ${hostsFile}); do ssh -F ${cfg} -T "$h" true & done; wait`]),
          'ssh loop',
        ).ms,
      );
    }
    for (let rep = 0; rep < REPEAT; rep++) {
      if (HAVE_ANSIBLE && K <= ANSIBLE_MAX) {
        for (const forks of [5, 50]) {
          await closeMasters(cpDir);
          add(
            `ansible -f ${forks} cold`,
            check(
              await timed(
                'ansible',
                ['lab', '-i', inventory, '-m', 'raw', '-a', 'true', '-f', String(forks)],
                ansibleEnv,
              ),
              `ansible -f ${forks} cold`,
            ).ms,
          );
          add(
            `ansible -f ${forks} warm`,
            check(
              await timed(
                'ansible',
                ['lab', '-i', inventory, '-m', 'raw', '-a', 'true', '-f', String(forks)],
                ansibleEnv,
              ),
              `ansible -f ${forks} warm`,
            ).ms,
          );
        }
      }
    }
    await closeMasters(cpDir);
    rmSync(ansibleHome, { recursive: true, force: true });
    // The masters the warm runs leave: one ssh process per host, each its own memory.
    const masters = mastersUnder(control);
    // Warm over `till watch --keep-warm`'s sessions: no ssh process per host per command.
    // Interleaved with pssh over the same masters, which gets its own figure for the ratio.
    const sessions = await viaSessions(home, K, async () => {
      for (let rep = 0; rep < WARM_REPEAT; rep++) {
        round = {};
        for (const run of rep % 2 === 0 ? ['till', 'pssh'] : ['pssh', 'till']) {
          if (run === 'till')
            add(
              'till sessions',
              (round.till = check(await till(home, ['host', 'exec', '--all', '--', 'true']), 'till via sessions').ms),
            );
          else if (HAVE_PSSH)
            add(
              'pssh warm (sessions run)',
              (round.pssh = check(
                await timed('parallel-ssh', ['-p', '32', '-h', hostsFile, '-x', `-F ${cfg}`, 'true']),
                'pssh warm',
              ).ms),
            );
        }
        addRatio('sessions', round.till, round.pssh);
      }
    });
    // `watch --stop` stopped the masters: the runs below start warm again.
    check(await till(home, ['host', 'exec', '--all', '--', 'true']), 'till (masters again)');
    const med = Object.fromEntries(Object.entries(m).map(([k, v]) => [k, median(v)]));
    row(
      `${K} till cold`,
      fmt(med['till cold']),
      HAVE_PSSH ? `${fmtRatio('cold')} pssh -p 32 cold (median of the rounds' ratios); target ≤ 1.0×` : '',
    );
    if (HAVE_PSSH) row(`${K} pssh -p 32 cold`, fmt(med['pssh cold']));
    if (HAVE_PSSH)
      row(
        `${K} pssh -p 32 cold, opening masters as till does`,
        fmt(med['pssh cold, masters']),
        `till cold is ${fmtRatio('cold, masters')}`,
      );
    if (HAVE_ANSIBLE && K <= ANSIBLE_MAX) {
      row(
        `${K} ansible -m raw cold (default forks 5)`,
        fmt(med['ansible -f 5 cold']),
        `till cold is ${ratio(med['till cold'], med['ansible -f 5 cold'])}`,
      );
      row(
        `${K} ansible -m raw cold -f 50`,
        fmt(med['ansible -f 50 cold']),
        `till cold is ${ratio(med['till cold'], med['ansible -f 50 cold'])}`,
      );
    }
    row(
      `${K} till warm`,
      fmt(med['till warm']),
      HAVE_PSSH ? `${fmtRatio('warm')} pssh warm (median of ${WARM_REPEAT} pairs' ratios); target ≤ 0.95×` : '',
    );
    if (HAVE_PSSH) row(`${K} pssh -p 32 warm (till's masters)`, fmt(med['pssh warm']));
    if (HAVE_PSSH && cpu.till && cpu.pssh)
      row(
        `${K} CPU of a warm run (user + system, the process and its ssh children)`,
        `till ${fmt(median(cpu.till))}, pssh ${fmt(median(cpu.pssh))}`,
        `till is ${ratio(median(cpu.till), median(cpu.pssh))}; the hosts' sshd not counted (the same for both)`,
      );
    if (med['till sessions'] !== undefined) {
      row(
        `${K} till warm, via watch --keep-warm sessions`,
        fmt(med['till sessions']),
        HAVE_PSSH
          ? `${fmtRatio('sessions')} pssh warm (${fmt(med['pssh warm (sessions run)'])}, interleaved); target ≤ 0.95×`
          : '',
      );
      row(
        `${K} sessions held by the daemon`,
        `${sessions.count}`,
        `ssh processes on the controller, RSS ${(sessions.rssKiB / 1024).toFixed(0)} MiB in all`,
      );
    } else row(`${K} till warm, via watch --keep-warm sessions`, 'not measured', sessions.why);
    row(
      `${K} ssh & loop warm (floor)`,
      fmt(med['ssh loop warm']),
      `till warm is ${ratio(med['till warm'], med['ssh loop warm'])}`,
    );
    if (HAVE_ANSIBLE && K <= ANSIBLE_MAX) {
      row(
        `${K} ansible -m raw warm (default forks 5)`,
        fmt(med['ansible -f 5 warm']),
        `till warm is ${ratio(med['till warm'], med['ansible -f 5 warm'])}`,
      );
      row(
        `${K} ansible -m raw warm -f 50`,
        fmt(med['ansible -f 50 warm']),
        `till warm is ${ratio(med['till warm'], med['ansible -f 50 warm'])}; target ≤ 0.2×`,
      );
    }
    if (HAVE_TIME) row(`${K} till peak RSS`, `${(peakRss / 1024).toFixed(0)} MiB`, 'node process, /usr/bin/time %M');
    row(
      `${K} masters left (ssh processes)`,
      `${masters.count}`,
      `RSS ${(masters.rssKiB / 1024).toFixed(0)} MiB in all, ${(masters.rssKiB / Math.max(1, masters.count) / 1024).toFixed(1)} MiB each`,
    );
    if (HAVE_PSSH) {
      issueRow(
        `${K} hosts cold, \`exec --all -- true\``,
        med['till cold'],
        med['pssh cold'],
        'pssh -p 32',
        1.0,
        roundRatio('cold'),
      );
      issueRow(
        `${K} hosts cold, both opening masters`,
        med['till cold'],
        med['pssh cold, masters'],
        "pssh -p 32 with till's ssh/config (ControlMaster auto)",
        1.0,
        roundRatio('cold, masters'),
      );
      issueRow(
        `${K} hosts warm (masters up)`,
        med['till warm'],
        med['pssh warm'],
        'pssh -p 32 over the same masters',
        0.95,
        roundRatio('warm'),
      );
      if (cpu.till && cpu.pssh)
        issueRow(
          `${K} hosts warm (masters up), CPU of the run`,
          median(cpu.till),
          median(cpu.pssh),
          'pssh -p 32, the same (user + system, with ssh children)',
          null,
        );
      if (med['till sessions'] !== undefined)
        issueRow(
          `${K} hosts warm, via \`watch --keep-warm\` sessions`,
          med['till sessions'],
          med['pssh warm (sessions run)'],
          'pssh -p 32 over the same masters',
          0.95,
          roundRatio('sessions'),
        );
    }
    summary.scale[K] = {
      coldMs: med['till cold'],
      warmMs: med['till warm'],
      psshColdMs: med['pssh cold'] ?? null,
      psshColdMastersMs: med['pssh cold, masters'] ?? null,
      psshWarmMs: med['pssh warm'] ?? null,
      peakRssKiB: peakRss,
      masters: masters.count,
      mastersRssKiB: masters.rssKiB,
    };
    if (K !== SIZES[SIZES.length - 1]) {
      await closeMasters(control);
      lab.stop();
      labs.pop();
    }
  }

  /* ---------------------------------------------------------------- dead and hanging hosts */

  const lab = lastLab;
  if (lab) {
    const K = lab.hosts.length;
    console.error(`\ndead and hanging hosts (${K} hosts, warm, --connect-timeout 2)`);
    const run = async (what, expected = 0) =>
      check(
        await till(home, ['host', 'exec', '--all', '--connect-timeout', '2', '--json', '--', 'true']),
        what,
        expected,
      );
    const base = [];
    for (let i = 0; i < 3; i++) base.push((await run('baseline')).ms);
    const baseMs = median(base);
    row('all up', fmt(baseMs));

    const dead = lab.hosts[1];
    dead.stop();
    const d = await run('dead host', 1);
    const dr = JSON.parse(d.out).results.find((r) => r.host === 'h1');
    row(
      'one dead host (refused)',
      fmt(d.ms),
      `+${fmt(d.ms - baseMs)}; ${dr.attempts} attempts; backoff 0.5 s + 1 s, jitter up to ×2 → bound 3 s`,
    );
    await dead.start();

    const hang = lab.hosts[2];
    await timed('ssh', ['-F', cfg, '-O', 'exit', 'till-h2']);
    hang.pause();
    const h = await run('hanging host', 1);
    const hr = JSON.parse(h.out).results.find((r) => r.host === 'h2');
    row(
      'one hanging host (SIGSTOP)',
      fmt(h.ms),
      `+${fmt(h.ms - baseMs)}; ${hr.attempts} attempts × 2 s connect timeout + backoff (≤ 3 s) → bound ${hr.attempts * 2 + 3} s`,
    );
    const h1 = check(
      await till(home, ['host', 'exec', '--all', '--connect-timeout', '2', '--retries', '1', '--json', '--', 'true']),
      'hanging, 1 attempt',
      1,
    );
    row('one hanging host, --retries 1', fmt(h1.ms), `+${fmt(h1.ms - baseMs)}; bound 2 s`);
    hang.resume();
  }

  /* ---------------------------------------------------------------- big database */

  if (lab) {
    console.error(`\ndatabase of ${BIG} hosts vs 10 hosts`);
    const real = lab.hosts[0];
    const homes = {};
    for (const size of [10, BIG]) {
      const h = await newHome();
      homes[size] = h;
      real.authorize(readFileSync(join(h, 'ssh/till_federation_ed25519.pub'), 'utf8'));
      const hosts = Array.from({ length: size - 1 }, (_, i) => ({
        name: `web-${i}`,
        user: 'deploy',
        address: `127.${100 + ((i >> 16) & 127)}.${(i >> 8) & 255}.${i & 255}`, // loopback: never contacted, and never anywhere else
        port: 22,
      }));
      hosts.push({ name: 'real-0', user: real.user, address: real.address, port: real.port });
      writeDb(h, hosts, { one: ['real-0'], big: hosts.slice(0, Math.min(size, 5000)).map((x) => x.name) });
      // One change through till regenerates ssh/config from the written database.
      check(await till(h, ['host', 'group', 'create', 'empty']), 'group create');
      check(await till(h, ['host', 'test', 'real-0']), 'test real-0');
    }
    const measure = async (size, args, n = 5) => {
      const xs = [];
      for (let i = 0; i < n; i++)
        xs.push(check(await till(homes[size], typeof args === 'function' ? args(i) : args), args.toString()).ms);
      return median(xs);
    };
    const compare = async (what, args, n) => {
      const small = await measure(10, args, n);
      const big = await measure(BIG, args, n);
      row(`${what}: 10 hosts`, fmt(small));
      row(`${what}: ${BIG} hosts`, fmt(big), `${ratio(big, small)}; limit 2× + 300 ms = ${fmt(2 * small + 300)}`);
      return big;
    };
    const bigList = await compare('host list --json', ['host', 'list', '--json']);
    await compare('host add', (i) => ['host', 'add', `new-${i}`, `deploy@127.250.0.${i + 1}`]);
    await compare('host test --group one (1 of N)', ['host', 'test', '--group', 'one']);
    const bigExec = await compare("host exec 'real-*' -- true (glob over N)", ['host', 'exec', 'real-*', '--', 'true']);
    const rss = async (args) => (await tillMeasured(homes[BIG], args)).rssKiB ?? 0;
    const listRss = await rss(['host', 'list', '--json']);
    const execRss = await rss(['host', 'exec', 'real-*', '--', 'true']);
    row(`host list --json: ${BIG} hosts, peak RSS`, `${(listRss / 1024).toFixed(0)} MiB`, 'node process');
    row(`host exec 'real-*': ${BIG} hosts, peak RSS`, `${(execRss / 1024).toFixed(0)} MiB`, 'node process');
    const cfgSize = (h) => readFileSync(join(h, 'ssh/config')).length;
    summary.scale.big = {
      hosts: BIG,
      listMs: bigList,
      execMs: bigExec,
      listRssKiB: listRss,
      execRssKiB: execRss,
      configBytes: cfgSize(homes[BIG]),
      dbBytes: readFileSync(join(homes[BIG], 'hosts-local.json')).length,
    };
    row(
      'ssh/config size',
      `${(cfgSize(homes[BIG]) / 1024).toFixed(0)} KiB for ${BIG} hosts`,
      `${(cfgSize(homes[10]) / 1024).toFixed(1)} KiB for 10`,
    );
    for (const h of Object.values(homes)) {
      await closeMasters(join(h, 'ssh/control'));
      rmSync(h, { recursive: true, force: true });
    }
  }
} finally {
  await closeMasters(control);
  for (const lab of labs) lab.stop();
  rmSync(home, { recursive: true, force: true });
  rmSync(dirname(labFile), { recursive: true, force: true });
  if (measuredFile) rmSync(dirname(measuredFile), { recursive: true, force: true });
}

/* ---------------------------------------------------------------- table */

if (SUMMARY) writeFileSync(SUMMARY, `${JSON.stringify(summary, null, 2)}\n`);

printTable();

function printTable() {
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  process.stdout.write(`\n${'what'.padEnd(w0)}  ${'figure'.padEnd(w1)}  note\n`);
  for (const [a, b, c] of rows) process.stdout.write(`${a.padEnd(w0)}  ${b.padEnd(w1)}  ${c}\n`);
}
