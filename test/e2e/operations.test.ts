/**
 * Issue 18 as a person runs it, against three real lab hosts: the operations journal
 * (concurrent tills, a failed and an interrupted command, `till log`), drift
 * (`host diff` after a deploy, read-only), and `host copy` / `host fetch`.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shJoin } from '../../src/protocol/quote.js';
import { startLab, type Lab, type LabHost } from '../lab/lab.js';
import { makeTree, snapshot } from './helpers-files.js';
import { closeMasters, tempHome, till, TILL_BIN, tillOk } from '../lab/till.js';

let lab: Lab;
let home: string;
let work: string;

beforeAll(async () => {
  ({ home } = tempHome());
  await tillOk(home, ['host', 'init']);
  const key = readFileSync(join(home, 'ssh', 'till_federation_ed25519.pub'), 'utf8');
  lab = await startLab(3, { authorizedKey: key });
  for (const h of lab.hosts) await tillOk(home, ['host', 'add', `h${h.index}`, h.spec]);
  work = mkdtempSync('/tmp/t-ops-');
}, 120_000);

afterAll(async () => {
  await closeMasters(home);
  lab?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('host diff: drift after a deploy, read-only', () => {
  const src = () => join(work, 'src');
  const release = (h: LabHost) => join(h.home, 'projects/github/Tekton.till/releases', deployed);
  let deployed: string;

  beforeAll(async () => {
    makeTree(src(), {
      'README.md': 'v1\n',
      'lib/a.txt': 'A\n',
      'lib/b.txt': 'B\n',
      '.env.local': 'TEKTON_REGISTRY_NAME=app\n',
      'logs/local.log': 'never deployed\n',
      'skip.me': 'ignored\n',
      '.tillignore': 'skip.me\n',
    });
    const r = await tillOk(home, ['host', 'deploy', '--all', '--source', src(), '--json']);
    deployed = JSON.parse(r.stdout).release;
  }, 120_000);

  it('reports a file edited on one host and a file added on another (exit 1), the untouched host clean, and changes nothing', async () => {
    // By hand on the hosts: h0's live release edited, h1's given a new file. h2 keeps what
    // till wrote there itself (.env.local, the shared logs link), which must not count.
    lab.hosts[0]!.shell('printf "A edited\\n" > projects/github/Tekton/lib/a.txt');
    lab.hosts[1]!.shell('printf "x\\n" > projects/github/Tekton/extra.txt');
    lab.hosts[2]!.shell('printf "log line\\n" >> projects/github/Tekton/logs/app.log');
    const before = lab.hosts.map((h) => snapshot(release(h)));
    const links = lab.hosts.map((h) => h.shell('readlink projects/github/Tekton'));

    const r = await till(home, ['host', 'diff', '--all', '--source', src(), '--json']);
    expect(r.code, r.stderr).toBe(1);
    const doc = JSON.parse(r.stdout);
    const byHost = Object.fromEntries(doc.results.map((x: { host: string }) => [x.host, x]));
    expect(byHost.h0).toMatchObject({
      status: 'failed',
      differs: true,
      changed: ['lib/a.txt'],
      added: [],
      removed: [],
      release: deployed,
      recorded: deployed,
      liveIsRecorded: true,
      error: 'differs from the source: 1 changed',
    });
    expect(byHost.h1).toMatchObject({
      status: 'failed',
      differs: true,
      changed: [],
      added: ['extra.txt'],
      removed: [],
    });
    expect(byHost.h2).toMatchObject({ status: 'ok', differs: false, changed: [], added: [], removed: [], error: null });
    expect(doc.summary).toMatchObject({ total: 3, ok: 1, failed: 2 });

    // Nothing changed on any host: every inode, size, mtime and ctime of the releases, and even files' atimes.
    lab.hosts.forEach((h, i) => {
      expect(snapshot(release(h))).toEqual(before[i]);
      expect(h.shell('readlink projects/github/Tekton')).toBe(links[i]);
      expect(readdirSync(join(h.home, 'projects/github/Tekton.till/releases'))).toEqual([deployed]);
    });

    // The human report names the paths, per host, and the same exit code.
    const human = await till(home, ['host', 'diff', 'h0', 'h1', 'h2', '--source', src()]);
    expect(human.code).toBe(1);
    expect(human.stdout).toMatch(/== h0 \(\S+\): 1 changed\n {2}changed +lib\/a\.txt/);
    expect(human.stdout).toMatch(/== h1 \(\S+\): 1 added\n {2}added +extra\.txt/);
    expect(human.stdout).not.toMatch(/== h2/);

    // A file removed on a host; the clean host alone exits 0.
    lab.hosts[1]!.shell('rm projects/github/Tekton/lib/b.txt');
    const removed = JSON.parse((await till(home, ['host', 'diff', 'h1', '--source', src(), '--json'])).stdout);
    expect(removed.results[0]).toMatchObject({ added: ['extra.txt'], removed: ['lib/b.txt'] });
    expect((await till(home, ['host', 'diff', 'h2', '--source', src()])).code).toBe(0);
  }, 120_000);

  it("says when the live release is not the one till deployed last (switched by hand), from an installation's folder", async () => {
    const h2 = lab.hosts[2]!;
    // the same tree: a new release only with --force-release (else h2 is left unchanged)
    const again = await tillOk(home, ['host', 'deploy', 'h2', '--source', src(), '--json', '--force-release']);
    const newer: string = JSON.parse(again.stdout).release;
    expect(newer).not.toBe(deployed);
    // Someone points the live link back at the older release by hand.
    const link = h2.shell('readlink projects/github/Tekton').trim();
    h2.shell(
      `ln -sfn '${link.replace(newer, deployed)}' projects/github/Tekton.tmp && mv -T projects/github/Tekton.tmp projects/github/Tekton`,
    );
    await tillOk(home, ['installation', 'add', src(), '--name', 'tk']);
    try {
      const r = await till(home, ['host', 'diff', 'h2', '--installation', 'tk', '--json']);
      expect(r.code, r.stderr).toBe(1);
      expect(JSON.parse(r.stdout).results[0]).toMatchObject({
        status: 'failed',
        differs: true,
        changed: [],
        added: [],
        removed: [],
        release: deployed,
        recorded: newer,
        liveIsRecorded: false,
        error: `differs from the source: live release ${deployed} is not ${newer}`,
      });
      const human = await till(home, ['host', 'diff', 'h2', '--installation', 'tk']);
      expect(human.code).toBe(1);
      expect(human.stdout).toContain(`== h2 (${deployed}): live release ${deployed} is not ${newer}`);
    } finally {
      h2.shell(
        `ln -sfn '${link}' projects/github/Tekton.tmp && mv -T projects/github/Tekton.tmp projects/github/Tekton`,
      );
      await tillOk(home, ['installation', 'remove', 'tk']);
    }
    expect((await till(home, ['host', 'diff', 'h2', '--source', src()])).code).toBe(0);
  }, 120_000);

  it('host health reports drift only when asked (--drift): degraded, counts, metrics', async () => {
    // The load of a shared test machine must not decide the verdict here.
    const calm = ['--load-max', '1000', '--disk-min', '0', '--json'];
    const r = await till(home, ['host', 'health', 'h0', 'h1', 'h2', '--drift', '--source', src(), ...calm]);
    expect(r.code, r.stderr).toBe(1);
    const by = Object.fromEntries(
      JSON.parse(r.stdout).results.map((x: { host: string; health: unknown }) => [x.host, x.health]),
    );
    expect(by.h0).toMatchObject({
      degraded: true,
      reasons: ['drift: 1 changed'],
      drift: { changed: 1, added: 0, removed: 0, liveIsRecorded: true },
    });
    expect(by.h1).toMatchObject({ degraded: true, drift: { changed: 0, added: 1, removed: 1 } });
    expect(by.h2).toMatchObject({ degraded: false, reasons: [], drift: { changed: 0, added: 0, removed: 0 } });
    const metrics = (await tillOk(home, ['metrics'])).stdout;
    expect(metrics).toMatch(/^till_host_drift_files\{host="h0",kind="changed"\} 1$/m);
    expect(metrics).toMatch(/^till_host_drift_files\{host="h1",kind="removed"\} 1$/m);
    expect(metrics).toMatch(/^till_host_drift_files\{host="h2",kind="added"\} 0$/m);

    // Without --drift nothing is compared: no drift, no reason, and the metric goes with the snapshot.
    const plain = await till(home, ['host', 'health', 'h0', ...calm]);
    expect(plain.code, plain.stdout).toBe(0);
    const h0 = JSON.parse(plain.stdout).results[0].health;
    expect(h0.drift).toBeUndefined();
    expect(h0.reasons).toEqual([]);
    expect((await tillOk(home, ['metrics'])).stdout).not.toMatch(/till_host_drift_files\{host="h0"/);
    const lone = await till(home, ['host', 'health', 'h0', '--source', src()]);
    expect(lone.code).toBe(2);
    expect(lone.stderr).toMatch(/--source goes with --drift/);
  }, 120_000);

  it('refuses bad input before contacting a host', async () => {
    const none = await till(home, ['host', 'diff', 'h0', '--source', join(work, 'nope')]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/source .*nope does not exist/);
    const shared = await till(home, ['host', 'diff', 'h0', '--source', src(), '--shared', '../x']);
    expect(shared.code).toBe(2);
    expect((await till(home, ['host', 'diff', 'zz*', '--source', src()])).code).toBe(2);
  });
});

describe('host copy / host fetch', () => {
  const local = () => join(work, 'up');
  const homeOf = (i: number) => lab.hosts[i]!.home;

  beforeAll(() => {
    makeTree(local(), {
      'a b.txt': 'spaces\n',
      '-dash.txt': 'dash\n',
      'dir/nested/n.txt': 'nested\n',
    });
  });

  it('copies names with spaces and a leading dash to three hosts; remote names stay literal (no option, no shell)', async () => {
    const evil = 'in $(touch pwned1) ;touch pwned2 `touch pwned3`';
    const r = await till(
      home,
      [
        'host',
        'copy',
        '--all',
        '--json',
        '--',
        join(local(), 'a b.txt'),
        join(local(), '-dash.txt'),
        join(local(), 'dir'),
        `~/${evil}`,
      ],
      {},
    );
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.summary).toMatchObject({ total: 3, ok: 3 });
    for (const res of doc.results) expect(res).toMatchObject({ ok: true, files: 3 });
    for (const i of [0, 1, 2]) {
      const dir = join(homeOf(i), evil);
      expect(readFileSync(join(dir, 'a b.txt'), 'utf8')).toBe('spaces\n');
      expect(readFileSync(join(dir, '-dash.txt'), 'utf8')).toBe('dash\n');
      expect(readFileSync(join(dir, 'dir/nested/n.txt'), 'utf8')).toBe('nested\n');
      for (const p of ['pwned1', 'pwned2', 'pwned3']) expect(existsSync(join(homeOf(i), p)), p).toBe(false);
    }
    // A remote folder with a leading dash, given without --: relative to the home, never an option.
    process.chdir(local());
    try {
      const dash = await till(home, ['host', 'copy', 'h0', 'a b.txt', '-rdir'], {});
      // commander reads a word starting with "-" before -- as an option: a usage error, nothing copied.
      expect(dash.code).toBe(2);
      const ok = await till(home, ['host', 'copy', 'h0', '--', '-dash.txt', '-rdir']);
      expect(ok.code, ok.stderr).toBe(0);
    } finally {
      process.chdir('/');
    }
    expect(readFileSync(join(homeOf(0), '-rdir', '-dash.txt'), 'utf8')).toBe('dash\n');
  }, 120_000);

  it('--delete only when asked', async () => {
    lab.hosts[0]!.shell('mkdir -p mirror && echo old > mirror/stale.txt');
    await tillOk(home, ['host', 'copy', 'h0', join(local(), 'dir') + '/', '~/mirror']);
    expect(existsSync(join(homeOf(0), 'mirror/stale.txt'))).toBe(true);
    await tillOk(home, ['host', 'copy', 'h0', '--delete', join(local(), 'dir') + '/', '~/mirror']);
    expect(existsSync(join(homeOf(0), 'mirror/stale.txt'))).toBe(false);
    expect(readFileSync(join(homeOf(0), 'mirror/nested/n.txt'), 'utf8')).toBe('nested\n');
  }, 60_000);

  it('fetches from three hosts into one folder per host', async () => {
    for (const h of lab.hosts)
      h.shell(`mkdir -p "got it" && echo "from h${h.index}" > "got it/-id.txt" && echo x > "got it/\\$(touch pwned4)"`);
    const out = join(work, 'fetched');
    const r = await till(home, [
      'host',
      'fetch',
      '--all',
      '--json',
      '--',
      '~/got it/-id.txt',
      'got it/$(touch pwned4)',
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.summary).toMatchObject({ total: 3, ok: 3 });
    for (const h of lab.hosts) {
      expect(readFileSync(join(out, `h${h.index}`, '-id.txt'), 'utf8')).toBe(`from h${h.index}\n`);
      expect(readFileSync(join(out, `h${h.index}`, '$(touch pwned4)'), 'utf8')).toBe('x\n');
      expect(existsSync(join(h.home, 'pwned4'))).toBe(false);
      expect(doc.results.find((x: { host: string }) => x.host === `h${h.index}`)).toMatchObject({
        files: 2,
        dir: join(out, `h${h.index}`),
      });
    }
  }, 60_000);

  it('a hostile host cannot lead a fetch out of its folder: links that point out are not made', async () => {
    const victim = mkdtempSync('/tmp/t-victim-');
    lab.hosts[0]!.shell(
      `rm -rf trap && mkdir trap && echo in > trap/in.txt && ln -s ${victim} trap/abs && ln -s ../../.. trap/up && ln -s in.txt trap/ok`,
    );
    const out = join(work, 'hostile');
    const r = await till(home, ['host', 'fetch', 'h0', 'trap', out]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const got = join(out, 'h0', 'trap');
    expect(readFileSync(join(got, 'in.txt'), 'utf8')).toBe('in\n');
    // A link inside what is fetched stays; links out of it (absolute, or up) are skipped.
    expect(readlinkSync(join(got, 'ok'))).toBe('in.txt');
    for (const name of ['abs', 'up']) expect(existsSync(join(got, name)), name).toBe(false);
    // The host then sends a folder under that name: it lands in the fetch folder, not in the victim.
    lab.hosts[0]!.shell('rm trap/abs && mkdir trap/abs && echo pwned > trap/abs/x.txt');
    await tillOk(home, ['host', 'fetch', 'h0', 'trap', out]);
    expect(readFileSync(join(got, 'abs/x.txt'), 'utf8')).toBe('pwned\n');
    expect(readdirSync(victim)).toEqual([]);
    rmSync(victim, { recursive: true, force: true });
    lab.hosts[0]!.shell('rm -rf trap');
  }, 60_000);

  it('progress on a terminal: each transfer under way on the live line; without a terminal, none of it', async () => {
    const big = join(work, 'big');
    // Incompressible, so the transfer lasts long enough for progress records even over loopback.
    makeTree(big, {});
    for (let i = 0; i < 8; i += 1) writeFileSync(join(big, `r${i}.bin`), randomBytes(3 * 1024 * 1024));
    const onTerminal = (args: string[]) =>
      spawnSync('script', ['-qec', shJoin([process.execPath, TILL_BIN, ...args]), '/dev/null'], {
        encoding: 'utf8',
        timeout: 120_000,
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          TILL_HOME: home,
          NO_COLOR: '1',
          TERM: 'dumb',
          COLUMNS: '200',
        },
      });
    const up = onTerminal(['host', 'copy', 'h0', 'h1', '--', big, '~/progress']);
    expect(up.status, up.stdout).toBe(0);
    expect(up.stdout).toMatch(/\d\/2 done · [\d.]+m?s · h[01] \d{1,3}% [\d.]+ (B|KiB|MiB), \d+ files?/);
    expect(up.stdout).toMatch(/h0 +ok +.*8 +24 MiB/);
    const down = onTerminal(['host', 'fetch', 'h0', '~/progress/big', join(work, 'progress-back')]);
    expect(down.status, down.stdout).toBe(0);
    expect(down.stdout).toMatch(/0\/1 done · [\d.]+m?s · h0 \d{1,3}% [\d.]+ (B|KiB|MiB), \d+ files?/);
    // (Buffer.equals: toEqual walks 3 MB byte by byte for a minute.)
    expect(readFileSync(join(work, 'progress-back/h0/big/r7.bin')).equals(readFileSync(join(big, 'r7.bin')))).toBe(
      true,
    );
    // Not on a terminal: rsync is not even asked for progress; no \r, no percentages.
    writeFileSync(join(big, 'r0.bin'), randomBytes(3 * 1024 * 1024));
    const plain = await tillOk(home, ['host', 'copy', 'h0', big, '~/progress']);
    expect(plain.stdout + plain.stderr).not.toMatch(/\r|\d%/);
    for (const h of [lab.hosts[0]!, lab.hosts[1]!]) h.shell('rm -rf progress');
  }, 180_000);

  it('refuses bad paths before contacting anything', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['host', 'copy', 'h0', join(local(), 'nope.txt'), '/tmp'], /no such local file or folder/],
      [['host', 'copy', 'h0', join(local(), 'a b.txt')], /at least one path/],
      [['host', 'copy', 'h0', '--', join(local(), 'a b.txt'), 'x\ny'], /control character/],
      [['host', 'fetch', 'h0', '~root/.ssh/id', join(work, 'f')], /another user's home/],
      [['host', 'fetch', '--', 'a', join(work, 'f')], /no target given/],
      [['host', 'fetch', 'zz*', 'a', join(work, 'f')], /no host matches/],
    ];
    for (const [args, why] of cases) {
      const r = await till(home, args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(why);
    }
    expect(existsSync(join(work, 'f'))).toBe(false);
  });

  it('a host that is down is reported; the others are done', async () => {
    const down = lab.hosts[2]!;
    down.stop();
    try {
      const r = await till(home, [
        'host',
        'copy',
        '--all',
        '--retries',
        '1',
        '--json',
        join(local(), 'a b.txt'),
        '~/after-down',
      ]);
      expect(r.code).toBe(1);
      const doc = JSON.parse(r.stdout);
      expect(doc.summary).toMatchObject({ total: 3, ok: 2, unreachable: 1 });
      expect(doc.results.find((x: { host: string }) => x.host === 'h2')).toMatchObject({
        status: 'unreachable',
        error: expect.stringMatching(/refused|connect/i),
      });
      for (const i of [0, 1]) expect(readFileSync(join(homeOf(i), 'after-down/a b.txt'), 'utf8')).toBe('spaces\n');
      const f = await till(home, [
        'host',
        'fetch',
        '--all',
        '--retries',
        '1',
        '~/after-down/a b.txt',
        join(work, 'down'),
      ]);
      expect(f.code).toBe(1);
      expect(f.stdout).toMatch(/h2 +unreachable/);
      expect(existsSync(join(work, 'down/h0/a b.txt'))).toBe(true);
    } finally {
      await down.start();
    }
  }, 120_000);
});

describe('the operations journal', () => {
  const journal = () =>
    readFileSync(join(home, 'logs', 'operations.jsonl'), 'utf8')
      .split('\n')
      .filter((l) => l !== '');
  const records = () => journal().map((l) => JSON.parse(l) as Record<string, unknown> & { argv: string[] });

  it('several tills at once on one TILL_HOME: every record whole, none lost (records of 60 KB among them)', async () => {
    const before = journal().length;
    const big = (i: number) => `nomatch-${i}-${'x'.repeat(60_000)}`;
    const runs = [
      ...[0, 1, 2, 3].map((i) => till(home, ['host', 'exec', '--all', '--', 'echo', `run${i}`])),
      ...[0, 1, 2, 3].map((i) => till(home, ['host', 'group', 'create', `cg${i}`, 'h0'])),
      ...[0, 1, 2, 3].map((i) => till(home, ['host', 'exec', big(i), '--', 'true'])),
    ];
    const codes = (await Promise.all(runs)).map((r) => r.code);
    expect(codes).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2]);
    const lines = journal().slice(before);
    expect(lines).toHaveLength(12);
    const added = lines.map((l) => JSON.parse(l));
    for (let i = 0; i < 4; i += 1) {
      expect(added.filter((r) => r.argv.at(-1) === `run${i}`)).toEqual([
        expect.objectContaining({
          command: 'host exec',
          targets: ['h0', 'h1', 'h2'],
          exitCode: 0,
          results: expect.arrayContaining(
            ['h0', 'h1', 'h2'].map((host) => expect.objectContaining({ host, status: 'ok', exitCode: 0 })),
          ),
        }),
      ]);
      expect(added.filter((r) => r.command === 'host group create' && r.argv[3] === `cg${i}`)).toHaveLength(1);
      expect(added.filter((r) => r.argv[2] === big(i))).toEqual([
        expect.objectContaining({ exitCode: 2, error: expect.stringMatching(/no such host|no host matches/) }),
      ]);
    }
  }, 120_000);

  it('a failed command: its exit code, each host outcome, and no secret of its command line', async () => {
    const r = await till(home, ['host', 'exec', 'h0', 'h1', '--', 'PGPASSWORD=hunter2 sh -c "exit 3"']);
    expect(r.code).toBe(1);
    const rec = records().at(-1)!;
    expect(rec).toMatchObject({
      command: 'host exec',
      argv: ['host', 'exec', 'h0', 'h1', '--', 'PGPASSWORD=*** sh -c "exit 3"'],
      targets: ['h0', 'h1'],
      exitCode: 1,
      interrupted: null,
      version: expect.any(String),
      operator: expect.stringMatching(/^\S+@\S+$/),
    });
    expect(rec.results).toEqual([
      expect.objectContaining({ host: 'h0', status: 'failed', exitCode: 3 }),
      expect.objectContaining({ host: 'h1', status: 'failed', exitCode: 3 }),
    ]);
    expect(journal().join('\n')).not.toContain('hunter2');
  });

  it('an interrupted command is recorded: Ctrl-C of a fleet run, SIGTERM of one that has no handler of its own', async () => {
    const sent = (signal: NodeJS.Signals, ms: number) => (child: { kill: (s: NodeJS.Signals) => void }) =>
      setTimeout(() => child.kill(signal), ms);
    const fleet = await till(home, ['host', 'exec', '--all', '--', 'sleep 20'], { onSpawn: sent('SIGINT', 2_500) });
    expect(fleet.code, fleet.stdout + fleet.stderr).toBe(130);
    expect(records().at(-1)).toMatchObject({
      command: 'host exec',
      exitCode: 130,
      interrupted: 'SIGINT',
      targets: ['h0', 'h1', 'h2'],
      results: expect.arrayContaining([expect.objectContaining({ host: 'h0', error: 'cancelled' })]),
    });
    const ssh = await till(home, ['host', 'ssh', 'h0', '--', 'sleep 3'], { onSpawn: sent('SIGTERM', 1_500) });
    expect(ssh.code).toBe(130);
    expect(records().at(-1)).toMatchObject({
      command: 'host ssh',
      exitCode: 130,
      interrupted: 'SIGTERM',
      error: 'interrupted by SIGTERM',
      targets: ['h0'],
    });
  }, 60_000);

  it('till log: newest last, filtered; a corrupt line is reported and skipped', async () => {
    const all = JSON.parse((await tillOk(home, ['log', '--json'])).stdout);
    const times = all.operations.map((r: { time: string }) => Date.parse(r.time));
    expect(times).toEqual([...times].sort((a: number, b: number) => a - b));
    expect(all.operations.some((r: { command: string }) => r.command === 'host diff')).toBe(false);
    expect(all.operations.some((r: { command: string }) => r.command === 'host copy')).toBe(true);

    const ssh = JSON.parse((await tillOk(home, ['log', '--json', '--command', 'ssh', '--host', 'h0'])).stdout);
    expect(ssh.operations.map((r: { command: string }) => r.command)).toEqual(['host ssh']);
    const last2 = JSON.parse((await tillOk(home, ['log', '--json', '--command', 'host exec', '-n', '2'])).stdout);
    expect(last2.operations.map((r: { exitCode: number }) => r.exitCode)).toEqual([1, 130]);
    const none = JSON.parse((await tillOk(home, ['log', '--json', '--since', '2099-01-01'])).stdout);
    expect(none.operations).toEqual([]);
    const recent = JSON.parse((await tillOk(home, ['log', '--json', '--since', '1h'])).stdout);
    expect(recent.operations.length).toBe(all.operations.length);

    const { appendFileSync } = await import('node:fs');
    appendFileSync(join(home, 'logs', 'operations.jsonl'), '{"torn": \n');
    const table = await tillOk(home, ['log', '--host', 'h0', '-n', '3']);
    expect(table.stderr).toMatch(/warning: .*operations\.jsonl line \d+: not valid JSON; skipped/);
    expect(table.stdout.split('\n')[0]).toMatch(/^TIME +OPERATOR +COMMAND +TARGETS +RESULTS +EXIT +DURATION/);
    expect(table.stdout).toMatch(/till host ssh h0 -- 'sleep 3' +h0 +- +130 \(SIGTERM\)/);

    for (const [args, why] of [
      [['log', '--since', 'yesterday'], /--since takes an age/],
      [['log', '--host', 'bad name'], /not a valid|invalid/i],
      [['log', '-n', '0'], /-n takes a whole number/],
    ] as Array<[string[], RegExp]>) {
      const r = await till(home, args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(why);
    }
  }, 60_000);
});
