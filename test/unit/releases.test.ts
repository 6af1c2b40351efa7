/**
 * Releases as operators run them, as data and as scripts run by a real sh: the batch
 * plan and failure budget, the release record (old and new releases.log lines), and
 * the host side of hooks, the manual lock and a progressive run's way back.
 */
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { failLimit, formatAmount, parseAmount, planBatches } from '../../src/deploy/batches.js';
import { describeHold, parseHoldInfo, remoteLayout } from '../../src/deploy/layout.js';
import { listReleases, parseLogLine, type LogLine } from '../../src/deploy/releases.js';
import { parseDeployReport, deployPrepare } from '../../src/protocol/deploy.js';
import { HOOK_OUTPUT_MAX, parseHookField } from '../../src/protocol/hooks.js';
import { hostLock, hostUnlock } from '../../src/protocol/hold.js';
import { deployRevert, rollback } from '../../src/protocol/rollback.js';
import { deploySwitch, type SwitchParams } from '../../src/protocol/switch.js';
import { commandLine, type Operation } from '../../src/protocol/wire.js';

describe('batches and the failure budget', () => {
  const hosts = ['h0', 'h1', 'h2', 'h3', 'h4', 'h5'];

  it('plans canaries first, then batches of N or P% of the rest (rounded up), in target order', () => {
    expect(planBatches(hosts, 1, { count: 2 })).toEqual([['h0'], ['h1', 'h2'], ['h3', 'h4'], ['h5']]);
    expect(planBatches(hosts, 0, null)).toEqual([hosts]);
    expect(planBatches(hosts, 2, null)).toEqual([
      ['h0', 'h1'],
      ['h2', 'h3', 'h4', 'h5'],
    ]);
    expect(planBatches(hosts, 1, { percent: 50 })).toEqual([['h0'], ['h1', 'h2', 'h3'], ['h4', 'h5']]);
    expect(planBatches(hosts, 0, { percent: 1 })).toEqual(hosts.map((h) => [h]));
    expect(planBatches(hosts, 10, { count: 2 })).toEqual([hosts]);
    expect(planBatches([], 1, { count: 2 })).toEqual([]);
  });

  it('counts N failures, or P% of the targets rounded down', () => {
    expect(failLimit({ count: 0 }, 6)).toBe(0);
    expect(failLimit({ count: 3 }, 6)).toBe(3);
    expect(failLimit({ percent: 20 }, 6)).toBe(1);
    expect(failLimit({ percent: 50 }, 6)).toBe(3);
    expect(failLimit({ percent: 10 }, 6)).toBe(0);
    expect(failLimit({ percent: 100 }, 6)).toBe(6);
  });

  it('reads N and P% and refuses anything else with the option named', () => {
    expect(parseAmount('--batch-size', '2', 1)).toEqual({ count: 2 });
    expect(parseAmount('--batch-size', '25%', 1)).toEqual({ percent: 25 });
    expect(parseAmount('--max-fail', '0', 0)).toEqual({ count: 0 });
    expect(parseAmount('--max-fail', '0%', 0)).toEqual({ percent: 0 });
    expect(formatAmount({ percent: 25 })).toBe('25%');
    expect(formatAmount({ count: 3 })).toBe('3');
    for (const [v, re] of [
      ['0', /--batch-size takes at least 1, got 0/],
      ['0%', /--batch-size takes a percentage from 1% to 100%/],
      ['101%', /from 1% to 100%, got 101%/],
      ['-1', /a number of hosts or a percentage/],
      ['2.5', /a number of hosts or a percentage/],
      ['%', /a number of hosts or a percentage/],
      ['', /a number of hosts or a percentage/],
    ] as const)
      expect(() => parseAmount('--batch-size', v, 1), v).toThrow(re);
    expect(() => parseAmount('--max-fail', 'x', 0)).toThrow(/--max-fail takes a number of hosts or a percentage/);
  });
});

describe('the release record', () => {
  it('parses a line of before the record (four fields) and one of nine', () => {
    expect(parseLogLine('20260101T000000Z-aaaaaa\tgood\t2026-01-01T00:00:00.000Z\t/src/app')).toEqual({
      id: '20260101T000000Z-aaaaaa',
      state: 'good',
      at: '2026-01-01T00:00:00.000Z',
      source: '/src/app',
      deployer: null,
      commit: null,
      dirty: null,
      message: null,
      hooks: null,
    });
    const line = [
      '20260102T000000Z-bbbbbb',
      'failed',
      '2026-01-02T00:00:00.000Z',
      '/src/app',
      'ann@laptop',
      '0123456789abcdef0123456789abcdef01234567',
      '1',
      '--help .. $(id)',
      'pre-switch=ok post-switch=3',
    ].join('\t');
    expect(parseLogLine(line)).toMatchObject({
      state: 'failed',
      deployer: 'ann@laptop',
      commit: '0123456789abcdef0123456789abcdef01234567',
      dirty: true,
      message: '--help .. $(id)',
      hooks: 'pre-switch=ok post-switch=3',
    });
    expect(parseHookField('pre-switch=ok post-switch=3 post-rollback=timeout x=refused')).toEqual([
      { hook: 'pre-switch', outcome: 'ok', exitCode: 0 },
      { hook: 'post-switch', outcome: 'failed', exitCode: 3 },
      { hook: 'post-rollback', outcome: 'timeout', exitCode: null },
      { hook: 'x', outcome: 'refused', exitCode: null },
    ]);
    expect(parseLogLine('x\tnot-a-state\tt\ts')).toBeUndefined();
  });

  it("a release says who deployed it from its deploy's lines; rollbacks add to its history, not to who deployed it", () => {
    const id = '20260101T000000Z-aaaaaa';
    const log = [
      `${id}\tstaged\tt1\t/src\tann@laptop\tabc1234\t0\tfix login\t`,
      `${id}\tgood\tt1\t/src\tann@laptop\tabc1234\t0\tfix login\tpre-switch=ok post-switch=ok`,
      `${id}\trolled-back\tt2\t\tbob@desk\t\t\tbad deploy\t`,
      `${id}\tgood\tt3\t\tcid@ci\t\t\tback again\tpost-rollback=1`,
    ]
      .map(parseLogLine)
      .filter((l): l is LogLine => l !== undefined);
    const hookOutputs = new Map([[`${id}.post-rollback`, ['restarting', 'failed: port in use']]]);
    const [r] = listReleases({ log, dirs: [id], current: id, hookOutputs });
    expect(r).toMatchObject({ deployer: 'ann@laptop', commit: 'abc1234', dirty: false, message: 'fix login' });
    expect(r!.history.map((h) => [h.state, h.by, h.message])).toEqual([
      ['staged', 'ann@laptop', 'fix login'],
      ['good', 'ann@laptop', 'fix login'],
      ['rolled-back', 'bob@desk', 'bad deploy'],
      ['good', 'cid@ci', 'back again'],
    ]);
    expect(r!.hooks).toEqual([
      { hook: 'pre-switch', outcome: 'ok', exitCode: 0, at: 't1', output: null },
      { hook: 'post-switch', outcome: 'ok', exitCode: 0, at: 't1', output: null },
      { hook: 'post-rollback', outcome: 'failed', exitCode: 1, at: 't3', output: 'restarting\nfailed: port in use' },
    ]);
  });

  it('reads the manual lock as the host wrote it', () => {
    const hold = parseHoldInfo(['by=ann@laptop', 'when=2026-01-01T00:00:00.000Z', 'from=127.0.0.1', 'message=a=b']);
    expect(hold).toEqual({ by: 'ann@laptop', when: '2026-01-01T00:00:00.000Z', from: '127.0.0.1', message: 'a=b' });
    expect(describeHold(hold)).toBe('ann@laptop (from 127.0.0.1) since 2026-01-01T00:00:00.000Z: "a=b"');
    expect(describeHold({})).toBe('someone since ?');
  });
});

describe('the host side, run by a real sh', () => {
  let dir = '';
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = '';
  });
  const A = '20260101T000000Z-aaaaaa';
  const Bid = '20260102T000000Z-bbbbbb';
  const NOW = '2026-01-02T00:00:00.000Z';

  /** P -> A live, B staged as <id>.partial with `files`, the deploy lock held by run r1. */
  function host(files: Record<string, string | { link: string } | { mode: number; text: string }> = {}) {
    dir = mkdtempSync('/tmp/tu-');
    const P = join(dir, 'Tekton');
    const base = `${P}.till`;
    mkdirSync(join(base, 'releases', A), { recursive: true });
    const R = join(base, 'releases', `${Bid}.partial`);
    mkdirSync(R, { recursive: true });
    for (const [rel, f] of Object.entries(files)) {
      mkdirSync(join(R, rel, '..'), { recursive: true });
      if (typeof f === 'string') writeFileSync(join(R, rel), f, { mode: 0o755 });
      else if ('link' in f) symlinkSync(f.link, join(R, rel));
      else writeFileSync(join(R, rel), f.text, { mode: f.mode });
    }
    mkdirSync(join(base, 'lock'));
    writeFileSync(join(base, 'lock', 'info'), 'run=r1\n');
    writeFileSync(join(base, 'releases.log'), `${A}\tgood\tt\ts\n`);
    symlinkSync(`Tekton.till/releases/${A}`, P);
    return { P, B: base, l: remoteLayout(P) };
  }

  const run = <P, R>(op: Operation<P, R>, params: P) => {
    const r = spawnSync('/bin/sh', ['-c', commandLine(op.versions[0]!, params)], {
      encoding: 'utf8',
      env: { ...process.env, SSH_CONNECTION: '10.9.8.7 50000 127.0.0.1 22' },
      timeout: 30_000,
    });
    return { ...r, markers: parseDeployReport(r.stdout).markers, value: op.parse(r.stdout) };
  };
  const sw = (l: ReturnType<typeof remoteLayout>, over: Partial<SwitchParams> = {}): SwitchParams => ({
    path: l.path,
    id: Bid,
    previous: A,
    check: '',
    prune: [],
    run: 'r1',
    now: NOW,
    source: '/src/app',
    installation: '',
    shared: [],
    env: 'X=1\n',
    record: { host: 'web-1', deployer: 'ann@laptop', commit: 'abc1234', dirty: '1', message: 'why not' },
    hooks: { run: true, timeoutSec: 30 },
    keepLock: false,
    ...over,
  });
  const log = (B: string) => readFileSync(join(B, 'releases.log'), 'utf8').trim().split('\n');
  const HOOK_ENV =
    'echo "$TILL_HOST $TILL_RELEASE ${TILL_PREVIOUS_RELEASE:-none} $TILL_TEKTON_PATH $TILL_DEPLOYER $(pwd)"';

  it('runs pre-switch and post-switch in the release, with their environment, and records them', () => {
    const { P, B, l } = host({
      '.till/hooks/pre-switch': `#!/bin/sh\n${HOOK_ENV}\ntest -L "$TILL_TEKTON_PATH" && readlink "$TILL_TEKTON_PATH"\n`,
      '.till/hooks/post-switch': `#!/bin/sh\nreadlink "$TILL_TEKTON_PATH" > "$TILL_TEKTON_PATH.till/post-switch-saw"\necho switched >&2\n`,
    });
    const r = run(deploySwitch, sw(l));
    expect(r.status).toBe(0);
    expect(r.value).toMatchObject({ switched: true, done: true });
    const real = join(B, 'releases', Bid);
    const [pre, post] = deploySwitch.parse(r.stdout).hooks;
    expect(pre).toMatchObject({ hook: 'pre-switch', outcome: 'ok', exitCode: 0, cut: false });
    // before the switch: P still on A
    expect(pre!.output).toBe(`web-1 ${Bid} ${A} ${P} ann@laptop ${real}\nTekton.till/releases/${A}`);
    expect(post).toMatchObject({ hook: 'post-switch', outcome: 'ok', output: 'switched' });
    expect(readFileSync(join(B, 'post-switch-saw'), 'utf8')).toBe(`Tekton.till/releases/${Bid}\n`);
    expect(readFileSync(join(B, 'hook-output', `${Bid}.post-switch`), 'utf8')).toBe('switched\n');
    expect(log(B).slice(1)).toEqual([
      `${Bid}\tstaged\t${NOW}\t/src/app\tann@laptop\tabc1234\t1\twhy not\t`,
      `${Bid}\tgood\t${NOW}\t/src/app\tann@laptop\tabc1234\t1\twhy not\tpre-switch=ok post-switch=ok`,
    ]);
    expect(existsSync(join(B, 'lock'))).toBe(false);
  });

  it('a failing pre-switch leaves the host where it was; a failing post-switch switches back and runs post-rollback', () => {
    let h = host({ '.till/hooks/pre-switch': '#!/bin/sh\necho no >&2\nexit 3\n' });
    let r = run(deploySwitch, sw(h.l));
    expect(r.value).toMatchObject({ switched: false, hookFailed: 'pre-switch' });
    expect(readlinkSync(h.P)).toBe(`Tekton.till/releases/${A}`);
    expect(log(h.B).at(-1)).toMatch(new RegExp(`^${Bid}\tfailed\t.*\tpre-switch=3$`));
    expect(existsSync(join(h.B, 'lock'))).toBe(false);
    rmSync(dir, { recursive: true, force: true });

    h = host({ '.till/hooks/post-switch': '#!/bin/sh\nexit 4\n' });
    // the release switched back to has a post-rollback hook: it runs there, told what it left
    mkdirSync(join(h.B, 'releases', A, '.till/hooks'), { recursive: true });
    writeFileSync(join(h.B, 'releases', A, '.till/hooks/post-rollback'), `#!/bin/sh\n${HOOK_ENV}\n`, { mode: 0o755 });
    r = run(deploySwitch, sw(h.l, { check: 'true' }));
    expect(r.value).toMatchObject({ switched: true, hookFailed: 'post-switch', done: false });
    expect(readlinkSync(h.P)).toBe(`Tekton.till/releases/${A}`);
    const back = deploySwitch.parse(r.stdout).hooks.find((x) => x.hook === 'post-rollback')!;
    expect(back.output).toBe(`web-1 ${A} ${Bid} ${h.P} ann@laptop ${join(h.B, 'releases', A)}`);
    expect(log(h.B).slice(-2)).toEqual([
      `${Bid}\tfailed\t${NOW}\t/src/app\tann@laptop\tabc1234\t1\twhy not\tpost-switch=4`,
      `${A}\tgood\t${NOW}\t\tann@laptop\t\t\twhy not\tpost-rollback=ok`,
    ]);
  });

  it('never follows a hook that is a symlink or lies behind one, nor runs one that is not executable', () => {
    const outside = mkdtempSync('/tmp/tu-out-');
    try {
      writeFileSync(join(outside, 'evil'), `#!/bin/sh\ntouch ${outside}/ran\n`, { mode: 0o755 });
      mkdirSync(join(outside, 'hooks'));
      writeFileSync(join(outside, 'hooks', 'pre-switch'), `#!/bin/sh\ntouch ${outside}/ran\n`, { mode: 0o755 });
      for (const [files, why] of [
        [{ '.till/hooks/pre-switch': { link: `${outside}/evil` } }, /symlink/],
        [{ '.till/hooks/pre-switch': { link: '/bin/sh' } }, /symlink/],
        [{ '.till/hooks': { link: `${outside}/hooks` } }, /symlink/],
        [{ '.till': { link: outside } }, /symlink/],
        [{ '.till/hooks/pre-switch': { mode: 0o644, text: '#!/bin/sh\ntrue\n' } }, /not executable/],
        [{ '.till/hooks/pre-switch/x': 'a directory' }, /not a regular file/],
      ] as const) {
        const h = host(files as Record<string, { link: string }>);
        const r = run(deploySwitch, sw(h.l));
        const hook = deploySwitch.parse(r.stdout).hooks[0];
        expect(hook, JSON.stringify(files)).toMatchObject({ hook: 'pre-switch', outcome: 'refused' });
        expect(hook!.why).toMatch(why);
        expect(readlinkSync(h.P)).toBe(`Tekton.till/releases/${A}`);
        expect(existsSync(join(outside, 'ran'))).toBe(false);
        rmSync(dir, { recursive: true, force: true });
      }
      // a symlink on the way to a hook that does not exist is no hook at all
      const h = host({ '.till': { link: join(outside, 'nothing-here') } });
      expect(run(deploySwitch, sw(h.l)).value).toMatchObject({ switched: true, done: true });
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('cuts a hook at its timeout, keeps only the first 16 KiB of its output, and skips hooks when told to', () => {
    let h = host({ '.till/hooks/pre-switch': '#!/bin/sh\necho started\nsleep 30\n' });
    const started = Date.now();
    let r = run(deploySwitch, sw(h.l, { hooks: { run: true, timeoutSec: 1 } }));
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(deploySwitch.parse(r.stdout).hooks[0]).toMatchObject({ outcome: 'timeout', output: 'started' });
    expect(log(h.B).at(-1)).toMatch(/\tpre-switch=timeout$/);
    expect(readlinkSync(h.P)).toBe(`Tekton.till/releases/${A}`);
    rmSync(dir, { recursive: true, force: true });

    h = host({ '.till/hooks/post-switch': '#!/bin/sh\nhead -c 200000 /dev/zero | tr "\\0" x\n' });
    r = run(deploySwitch, sw(h.l));
    const post = deploySwitch.parse(r.stdout).hooks[0]!;
    expect(post).toMatchObject({ outcome: 'ok', cut: true });
    expect(post.output.length).toBe(HOOK_OUTPUT_MAX);
    expect(statSync(join(h.B, 'hook-output', `${Bid}.post-switch`)).size).toBe(HOOK_OUTPUT_MAX);
    rmSync(dir, { recursive: true, force: true });

    h = host({ '.till/hooks/pre-switch': `#!/bin/sh\ntouch "$TILL_TEKTON_PATH.till/ran"\n` });
    r = run(deploySwitch, sw(h.l, { hooks: { run: false, timeoutSec: 30 } }));
    expect(r.value).toMatchObject({ switched: true, done: true, hooks: [{ hook: 'pre-switch', outcome: 'skipped' }] });
    expect(existsSync(join(h.B, 'ran'))).toBe(false);
    expect(log(h.B).at(-1)).toMatch(/\tpre-switch=skipped$/);
  });

  it('keeps the deploy lock when asked, and deploy-revert goes back under it, recording who and why', () => {
    const h = host({ '.till/hooks/post-switch': '#!/bin/sh\ntrue\n' });
    mkdirSync(join(h.B, 'releases', A, '.till/hooks'), { recursive: true });
    writeFileSync(join(h.B, 'releases', A, '.till/hooks/post-rollback'), '#!/bin/sh\necho back in "$(pwd)"\n', {
      mode: 0o755,
    });
    expect(run(deploySwitch, sw(h.l, { keepLock: true })).value).toMatchObject({ done: true });
    expect(readFileSync(join(h.B, 'lock', 'info'), 'utf8')).toBe('run=r1\n');
    const revert = (over: Partial<Parameters<(typeof deployRevert.versions)[0]['encode']>[0]> = {}) =>
      run(deployRevert, {
        path: h.l.path,
        id: Bid,
        previous: A,
        run: 'r1',
        now: NOW,
        record: { host: 'web-1', deployer: 'ann@laptop', message: 'canary failed' },
        hooks: { run: true, timeoutSec: 30 },
        ...over,
      });
    // not under someone else's lock
    expect(revert({ run: 'other' }).stderr).toMatch(/the deploy lock is no longer ours/);
    const r = revert();
    expect(r.value).toMatchObject({ reverted: true, notCurrent: false, hookFailed: false });
    expect(readlinkSync(h.P)).toBe(`Tekton.till/releases/${A}`);
    expect(log(h.B).slice(-2)).toEqual([
      `${Bid}\trolled-back\t${NOW}\t\tann@laptop\t\t\tcanary failed\t`,
      `${A}\tgood\t${NOW}\t\tann@laptop\t\t\tcanary failed\tpost-rollback=ok`,
    ]);
    // a second revert finds the release no longer live: it leaves the host alone
    expect(revert().value).toMatchObject({ reverted: false, notCurrent: true });
    expect(readlinkSync(h.P)).toBe(`Tekton.till/releases/${A}`);
  });

  it('the manual lock: placed once, refused by prepare, switch and rollback, never broken by --force-unlock, removed by unlock', () => {
    const h = host();
    const lock = (message: string, by = 'ann@laptop') => run(hostLock, { path: h.l.path, by, when: NOW, message });
    const placed = lock('db migration');
    expect(placed.value).toMatchObject({
      placed: true,
      info: ['by=ann@laptop', `when=${NOW}`, 'from=10.9.8.7', 'message=db migration'],
    });
    // a second lock changes nothing and says whose it is
    expect(lock('mine now', 'bob@desk').value).toMatchObject({ placed: false, info: placed.value.info });
    const prep = run(deployPrepare, {
      path: h.l.path,
      id: Bid,
      lockInfo: 'who=bob\nwhen=now\nwhat=deploy\npid=1\nrun=r2\n',
      run: 'r2',
      forceUnlock: true,
      shared: [],
      adoptId: '20260101T000000Z-adopted',
      now: NOW,
      contentHash: '',
    });
    expect(prep.status).toBe(24);
    expect(parseDeployReport(prep.stdout).hold).toEqual(placed.value.info);
    // --force-unlock broke nothing: the deploy lock is still run r1's, the manual lock still there
    expect(readFileSync(join(h.B, 'lock', 'info'), 'utf8')).toBe('run=r1\n');
    const s = run(deploySwitch, sw(h.l));
    expect(s.status).toBe(24);
    expect(s.value).toMatchObject({ switched: false, held: placed.value.info });
    rmSync(join(h.B, 'lock'), { recursive: true });
    const rb = run(rollback, {
      path: h.l.path,
      to: '',
      lockInfo: 'who=bob\nwhen=now\nwhat=rollback\npid=1\nrun=r3\n',
      now: NOW,
      record: { host: 'web-1', deployer: 'bob@desk', message: '' },
      hooks: { run: false, timeoutSec: 30 },
    });
    expect(rb.status).toBe(24);
    expect(rb.value).toMatchObject({ held: placed.value.info, done: false });
    expect(readlinkSync(h.P)).toBe(`Tekton.till/releases/${A}`);
    expect(existsSync(join(h.B, 'lock'))).toBe(false);
    const un = run(hostUnlock, { path: h.l.path });
    expect(un.value).toMatchObject({ removed: true, info: placed.value.info });
    expect(existsSync(join(h.B, 'hold'))).toBe(false);
    expect(run(hostUnlock, { path: h.l.path }).value).toMatchObject({ removed: false, info: [] });
  });
});
