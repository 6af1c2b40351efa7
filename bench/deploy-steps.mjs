// Where an unchanged redeploy's time goes (issue 19 item 3): the whole `till host deploy`
// of an unchanged tree against its parts, each timed alone on the same lab and masters,
// interleaved, median of REPEAT:
//   - plain `rsync -a` with no change (the baseline), and the same as a dry run;
//   - one ssh session over the master (`true`): the floor of any round trip;
//   - `cp -al` of the live release on every host (what prepare did for a same-hash tree);
//   - till's own start (`till --version`) and its local hash of the tree.
// With BEFORE=<checkout of another commit, built>, that till's unchanged redeploy is
// timed too, interleaved (each of its runs makes a new release of the same tree, so
// the next run of this till finds the live release the same again).
// TRACE=<file> first straces one unchanged redeploy (when each process starts and ends);
// KEEP=1 keeps the lab up after the set-up for runs by hand (it prints TILL_HOME and the
// source; Ctrl-C goes on with the rows).
//   node bench/deploy-steps.mjs   (HOSTS=10 FILES=3800 SIZE_MB=30 REPEAT=5 BEFORE= TRACE= KEEP=)
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { bundle, deployLab, run, writeTree } from './deploy-lab.mjs';

const HOSTS = Number(process.env.HOSTS ?? 10);
const FILES = Number(process.env.FILES ?? 3800);
const SIZE_MB = Number(process.env.SIZE_MB ?? 30);
const REPEAT = Number(process.env.REPEAT ?? 5);

const tmp = await bundle(['test/lab/lab.ts', 'test/lab/till.ts', 'src/deploy/source.ts']);
const { startLab } = await import(join(tmp, 'test/lab/lab.mjs'));
const { tempHome, tillOk, closeMasters } = await import(join(tmp, 'test/lab/till.mjs'));
const { treeHash } = await import(join(tmp, 'src/deploy/source.mjs'));

const timed = async (fn) => {
  const t = performance.now();
  await fn();
  return performance.now() - t;
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const { home } = tempHome();
const src = mkdtempSync('/tmp/tb-src-');
let lab;
try {
  writeTree(src, FILES, SIZE_MB);
  lab = await deployLab({ startLab, tillOk }, home, HOSTS);
  const cfg = join(home, 'ssh', 'config');
  const ssh = (h, cmd) => run('ssh', ['-F', cfg, '-T', `till-b${h.index}`, cmd]);
  const all = (fn) => Promise.all(lab.hosts.map(fn));
  const opts = { timeoutMs: 600_000 };
  await all((h) => run('rsync', ['-a', '-e', `ssh -F ${cfg} -T`, `${src}/`, `till-b${h.index}:plain/`]));
  await tillOk(home, ['host', 'deploy', '--all', '--source', src], opts);
  console.log(
    `deploy steps: ${HOSTS} hosts, ${FILES} files, ${SIZE_MB} MB (load ${(await import('node:os')).loadavg()[0].toFixed(1)})`,
  );
  const rows = {
    'plain rsync -a, no change': () =>
      all((h) => run('rsync', ['-a', '-e', `ssh -F ${cfg} -T`, `${src}/`, `till-b${h.index}:plain/`])),
    'plain rsync -a -n -i, no change (a dry-run compare)': () =>
      all((h) => run('rsync', ['-a', '-n', '-i', '-e', `ssh -F ${cfg} -T`, `${src}/`, `till-b${h.index}:plain/`])),
    'till host deploy --all, unchanged': () => tillOk(home, ['host', 'deploy', '--all', '--source', src], opts),
    ...(process.env.BEFORE
      ? {
          [`till of ${process.env.BEFORE}, unchanged`]: () =>
            run(
              process.execPath,
              [join(process.env.BEFORE, 'bin/till.cjs'), 'host', 'deploy', '--all', '--source', src],
              {
                PATH: process.env.PATH,
                HOME: process.env.HOME,
                TILL_HOME: home,
                NO_COLOR: '1',
              },
            ),
        }
      : {}),
    'one ssh session (true) per host': () => all((h) => ssh(h, 'true')),
    'cp -al of the live release per host (+ its rm)': () =>
      all((h) =>
        ssh(
          h,
          'cd projects/github && cp -al Tekton.till/releases/"$(basename "$(readlink Tekton)")" cpal && rm -rf cpal',
        ),
      ),
    'till --version (start)': () => run(process.execPath, ['bin/till.cjs', '--version']),
    'local tree hash (in process)': async () => treeHash(src, ['logs', 'data']),
  };
  if (process.env.TRACE) {
    // One traced run: when each process starts and ends (strace's own cost is on these calls only).
    await run(
      'strace',
      [
        '--seccomp-bpf',
        '-f',
        '-tt',
        '-e',
        'trace=execve,exit_group',
        '-o',
        process.env.TRACE,
        process.execPath,
        'bin/till.cjs',
        'host',
        'deploy',
        '--all',
        '--source',
        src,
      ],
      { PATH: process.env.PATH, HOME: process.env.HOME, TILL_HOME: home, NO_COLOR: '1' },
    );
  }
  if (process.env.KEEP) {
    // Keeps the lab up for hand runs: TILL_HOME and the source are printed; Ctrl-C (or SIGTERM) ends it.
    console.log(`KEEP: TILL_HOME=${home} SRC=${src}`);
    await new Promise((r) => {
      process.once('SIGINT', r);
      process.once('SIGTERM', r);
    });
  }
  const m = Object.fromEntries(Object.keys(rows).map((k) => [k, []]));
  for (let i = 0; i < REPEAT; i++) for (const [k, fn] of Object.entries(rows)) m[k].push(await timed(fn));
  const base = median(m['plain rsync -a, no change']);
  for (const [k, xs] of Object.entries(m))
    console.log(
      `${k.padEnd(52)} ${(median(xs) / 1000).toFixed(3)} s  ${(median(xs) / base).toFixed(2)}x  (${xs.map((x) => (x / 1000).toFixed(2)).join(' ')})`,
    );
} finally {
  await closeMasters(home);
  lab?.stop();
  rmSync(src, { recursive: true, force: true });
  rmSync(tmp, { recursive: true, force: true });
}
