// Deploy figures against plain rsync, measured in the same run on the same lab: a tree
// of the real Tekton's size (3,800 files, 30 MB) to 20 loopback sshd hosts; the
// redeploy rows go to 10 of them (a group), rollback to all 20.
//   npm run bench:deploy    (HOSTS=20 REDEPLOY_HOSTS=10 FILES=3800 SIZE_MB=30 REPEAT=5 to change)
// Issue 5 targets: first deploy within 1.2x of plain rsync's full copy; rollback of 20
// hosts under 1 s on the reference machine, whose no-change rsync took 0.32 s
// (so <= 3.1x of it). Issue 19: an unchanged redeploy within 1.5x of plain rsync's
// no-change run; a changed redeploy of a few files sends only those files' deltas.
// With BENCH_SUMMARY=<file>, issue 19's rows are also written there as JSON.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { bundle, deployLab, run, writeTree } from './deploy-lab.mjs';

const HOSTS = Number(process.env.HOSTS ?? 20);
const REDEPLOY_HOSTS = Math.min(HOSTS, Number(process.env.REDEPLOY_HOSTS ?? 10));
const FILES = Number(process.env.FILES ?? 3800);
const SIZE_MB = Number(process.env.SIZE_MB ?? 30);
// How many files the changed redeploy touches (one line appended to each).
const CHANGED = Number(process.env.CHANGED ?? 3);
// The cheap rows (no-change, unchanged redeploy, rollback, floors) are repeated, interleaved, median.
const REPEAT = Number(process.env.REPEAT ?? 5);

// The lab helper is TypeScript: bundle it once for this script.
const tmp = await bundle(['test/lab/lab.ts', 'test/lab/till.ts']);
const { startLab } = await import(join(tmp, 'test/lab/lab.mjs'));
const { tempHome, tillOk, closeMasters } = await import(join(tmp, 'test/lab/till.mjs'));

async function timed(label, fn) {
  const t = performance.now();
  await fn();
  const ms = performance.now() - t;
  console.log(`${label.padEnd(44)} ${(ms / 1000).toFixed(2)} s`);
  return ms;
}

const { home } = tempHome();
const src = mkdtempSync('/tmp/tb-src-');
let lab;
try {
  writeTree(src, FILES, SIZE_MB);
  // Live masters for everyone (plain rsync below goes through the same config and masters).
  lab = await deployLab({ startLab, tillOk }, home, HOSTS);
  const few = lab.hosts.slice(0, REDEPLOY_HOSTS);
  await tillOk(home, ['host', 'group', 'create', 'few', ...few.map((h) => `b${h.index}`)]);
  // The others get a new release (untimed) before each rollback, so every host has one to go back to.
  const rest = lab.hosts.slice(REDEPLOY_HOSTS);
  if (rest.length > 0) await tillOk(home, ['host', 'group', 'create', 'rest', ...rest.map((h) => `b${h.index}`)]);
  const cfg = join(home, 'ssh', 'config');
  const plain = (hosts = lab.hosts) =>
    Promise.all(hosts.map((h) => run('rsync', ['-a', '-e', `ssh -F ${cfg} -T`, `${src}/`, `till-b${h.index}:plain/`])));

  console.log(
    `deploy bench: ${HOSTS} hosts, ${FILES} files, ${SIZE_MB} MB (load ${(await import('node:os')).loadavg()[0].toFixed(1)})`,
  );
  const rsyncFull = await timed('plain rsync -a, full copy, parallel', () => plain());
  const opts = { timeoutMs: 600_000 };
  const first = await timed('till host deploy --all (first)', () =>
    tillOk(home, ['host', 'deploy', '--all', '--source', src], opts),
  );
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const quiet = async (fn) => {
    const t = performance.now();
    await fn();
    return performance.now() - t;
  };
  const m = { same: [], again: [], rollback: [], ssh: [], start: [], changed: [], plainChanged: [] };
  let changedSent = 0;
  let changedRuns = 0;
  let changedBytes = 0;
  let copied = 0;
  let unchanged = 0;
  let sent = 0;
  let total = 0;
  for (let i = 0; i < REPEAT; i++) {
    // The previous round rolled the hosts back to the tree before its change: deploy the
    // source as it is (untimed), so the redeploy timed next is really of an unchanged tree.
    if (i > 0) await tillOk(home, ['host', 'deploy', '--group', 'few', '--source', src], opts);
    m.same.push(await quiet(() => plain(few)));
    m.again.push(
      await quiet(async () => {
        const doc = JSON.parse(
          (await tillOk(home, ['host', 'deploy', '--group', 'few', '--source', src, '--json'], opts)).stdout,
        );
        copied += doc.results.filter((r) => r.copiedFrom !== null).length;
        unchanged += doc.results.filter((r) => r.unchanged === true).length;
        sent += doc.results.reduce((n, r) => n + (r.literalBytes ?? 0), 0);
        total += doc.results.length;
      }),
    );
    // A few files changed (one line appended to each): till, then plain rsync, of the same change.
    changedBytes = 0;
    for (let f = 0; f < CHANGED; f++) {
      const file = join(src, `d${(i * CHANGED + f) % 40}`, `f${(i * CHANGED + f) % FILES}.txt`);
      const line = `changed in round ${i}\n`;
      writeFileSync(file, line, { flag: 'a' });
      changedBytes += readFileSync(file).length;
    }
    m.changed.push(
      await quiet(async () => {
        const doc = JSON.parse(
          (await tillOk(home, ['host', 'deploy', '--group', 'few', '--source', src, '--json'], opts)).stdout,
        );
        changedSent += doc.results.reduce((n, r) => n + (r.literalBytes ?? 0), 0);
        changedRuns += doc.results.length;
      }),
    );
    m.plainChanged.push(await quiet(() => plain(few)));
    if (rest.length > 0) await tillOk(home, ['host', 'deploy', '--group', 'rest', '--source', src], opts);
    m.rollback.push(await quiet(() => tillOk(home, ['host', 'rollback', '--all'], opts)));
    // The floor of any one-round-trip fleet command on this machine right now.
    m.ssh.push(
      await quiet(() => Promise.all(lab.hosts.map((h) => run('ssh', ['-F', cfg, '-T', `till-b${h.index}`, 'true'])))),
    );
    m.start.push(await quiet(() => run(process.execPath, ['bin/till.cjs', '--help'])));
  }
  const show = (label, xs) =>
    console.log(
      `${label.padEnd(44)} ${(median(xs) / 1000).toFixed(2)} s   (median of ${xs.length}: ${xs.map((x) => (x / 1000).toFixed(2)).join(' ')})`,
    );
  show(`plain rsync -a, no change, ${REDEPLOY_HOSTS} hosts`, m.same);
  show(`till host deploy, unchanged, ${REDEPLOY_HOSTS} hosts`, m.again);
  console.log(
    `  (left unchanged, the live release compared only, on ${unchanged} of ${total} host deploys; staged as a cp -al copy of it on ${copied}; file data sent: ${sent} bytes)`,
  );
  show(`plain rsync -a, ${CHANGED} files changed, ${REDEPLOY_HOSTS} hosts`, m.plainChanged);
  show(`till host deploy, ${CHANGED} files changed, ${REDEPLOY_HOSTS} hosts`, m.changed);
  console.log(
    `  (file data sent per host deploy: ${Math.round(changedSent / Math.max(1, changedRuns))} bytes; the ${CHANGED} changed files hold ${changedBytes} bytes, the tree ${SIZE_MB} MB)`,
  );
  show('till host rollback --all', m.rollback);
  show(`${HOSTS} x ssh true in parallel, live masters`, m.ssh);
  show('till --help (process start)', m.start);
  const rsyncSame = median(m.same);
  const again = median(m.again);
  const rollback = median(m.rollback);
  const sshFloor = median(m.ssh);
  const nodeFloor = median(m.start);
  const ratio = (a, b) => (a / b).toFixed(2);
  // As the fan-out rows: each round's till run over the rsync run of the same round, then
  // the median of those ratios (a burst of load then lands on both sides of one ratio,
  // not on one side's median only).
  const perRound = (xs, bases) => median(xs.map((x, i) => x / bases[i]));
  const againRatio = perRound(m.again, m.same);
  const changedRatio = perRound(m.changed, m.plainChanged);
  const rollbackRatio = perRound(m.rollback, m.same);
  console.log('');
  console.log(`first deploy / rsync full copy        ${ratio(first, rsyncFull)}x  (target <= 1.2x)`);
  console.log(
    `unchanged redeploy / rsync no-change  ${againRatio.toFixed(2)}x  (median of the rounds' ratios; of the medians ${ratio(again, rsyncSame)}x; target <= 1.5x; issue 5: <= 3x)`,
  );
  console.log(
    `changed redeploy / rsync of the change ${changedRatio.toFixed(2)}x  (median of the rounds' ratios; of the medians ${ratio(median(m.changed), median(m.plainChanged))}x)`,
  );
  console.log(
    `rollback of ${HOSTS} hosts                  ${(rollback / 1000).toFixed(2)} s  (target < 1 s on the reference machine; floor here: ssh ${(sshFloor / 1000).toFixed(2)} s + start ${(nodeFloor / 1000).toFixed(2)} s)`,
  );
  // The targets are measured against plain rsync in the same run; its reference
  // machine does the no-change rsync in 0.32 s, so "under 1 s there" is under 3.1x of it.
  console.log(
    `rollback / rsync no-change            ${rollbackRatio.toFixed(2)}x  (median of the rounds' ratios; target: under 1 s where the no-change rsync takes 0.32 s, i.e. <= ${(1 / 0.32).toFixed(1)}x)`,
  );
  if (process.env.BENCH_SUMMARY) {
    const rows = [
      {
        what: `Tekton-sized tree (${FILES} files) to ${REDEPLOY_HOSTS} hosts, unchanged redeploy`,
        till: again,
        base: rsyncSame,
        ratio: againRatio,
        baseline: 'plain rsync no-change',
        target: 1.5,
      },
      {
        what: `the same, ${CHANGED} files changed (${Math.round(changedSent / Math.max(1, changedRuns))} B of file data sent per host)`,
        till: median(m.changed),
        base: median(m.plainChanged),
        ratio: changedRatio,
        baseline: 'plain rsync of the same change',
        target: null,
      },
      {
        what: `rollback of ${HOSTS} hosts`,
        till: rollback,
        base: rsyncSame,
        ratio: rollbackRatio,
        baseline: 'plain rsync no-change',
        target: 1 / 0.32,
      },
    ];
    writeFileSync(process.env.BENCH_SUMMARY, `${JSON.stringify({ rows }, null, 2)}\n`);
  }
} finally {
  await closeMasters(home);
  lab?.stop();
  rmSync(src, { recursive: true, force: true });
  rmSync(tmp, { recursive: true, force: true });
}
