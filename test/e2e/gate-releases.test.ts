/**
 * Issue 17's remote operations on real hosts restricted by `till host setup --restrict`:
 * release hooks run only where the owner allowed them (`--allow-hooks`), and are refused
 * elsewhere with nothing run and nothing changed; a restricted key cannot forge release
 * records, widen its policy to hooks, or follow a hook planted as a symlink out of its
 * release; the manual lock works through the gate.
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deployCheck, deployPrepare } from '../../src/protocol/deploy.js';
import { hostLock } from '../../src/protocol/hold.js';
import { deployRevert, rollback } from '../../src/protocol/rollback.js';
import { deploySwitch, type SwitchParams } from '../../src/protocol/switch.js';
import { commandLine, type Operation } from '../../src/protocol/wire.js';
import { startLab, type Lab, type LabHost } from '../lab/lab.js';
import { closeMasters, tempHome, till, tillOk } from '../lab/till.js';
import { ATTACK_NOW, attackId, attackSwitch, changes, outside } from './helpers-gate.js';
import { stolenKey, type StolenKey } from './helpers-remote.js';

let lab: Lab;
let home: string;
let work: string;
/** h0: restricted, hooks not allowed; h1: restricted with --allow-hooks. Both deploy to ~/app. */
let h0: LabHost;
let h1: LabHost;
let key0: StolenKey;
let key1: StolenKey;
const NOW = ATTACK_NOW;

function tree(name: string, files: Record<string, string>, links: Record<string, string> = {}): string {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  for (const [rel, body] of Object.entries(files)) {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), body);
    if (rel.includes('.till/hooks/')) chmodSync(join(dir, rel), 0o755);
  }
  for (const [rel, target] of Object.entries(links)) {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    symlinkSync(target, join(dir, rel));
  }
  return dir;
}
const keys = (h: LabHost) => readFileSync(join(h.home, '.ssh/authorized_keys'), 'utf8');
const gateJson = (h: LabHost) => JSON.parse(readFileSync(join(h.home, '.till/gate.json'), 'utf8'));
const gateLog = (h: LabHost) => readFileSync(join(h.home, '.till/logs/gate.log'), 'utf8');
const releasesLog = (h: LabHost) => {
  try {
    return readFileSync(join(h.home, 'app.till/releases.log'), 'utf8');
  } catch {
    return '';
  }
};
const live = (h: LabHost) =>
  h
    .shell('readlink app || true')
    .trim()
    .replace(/^app\.till\/releases\//, '');
const send = <P>(key: StolenKey, op: Operation<P, unknown>, params: P, version = 0) =>
  key.ssh(commandLine(op.versions[version]!, params));

beforeAll(async () => {
  ({ home } = tempHome());
  await tillOk(home, ['host', 'init']);
  lab = await startLab(2, { authorizedKey: readFileSync(join(home, 'ssh/till_federation_ed25519.pub'), 'utf8') });
  [h0, h1] = [lab.hosts[0]!, lab.hosts[1]!];
  for (const h of lab.hosts) await tillOk(home, ['host', 'add', `h${h.index}`, h.spec, '--tekton-path', '~/app']);
  await tillOk(home, ['host', 'setup', 'h0', '--restrict'], { timeoutMs: 180_000 });
  await tillOk(home, ['host', 'setup', 'h1', '--restrict', '--allow-hooks'], { timeoutMs: 180_000 });
  key0 = stolenKey(home, h0);
  key1 = stolenKey(home, h1);
  work = mkdtempSync('/tmp/t-gr-');
}, 300_000);

afterAll(async () => {
  await closeMasters(home);
  lab?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('hooks, records and the manual lock through till gate', { timeout: 180_000 }, () => {
  it('setup --restrict --allow-hooks writes "hooks": true for that host only; turning it on through the gate is refused', async () => {
    expect(gateJson(h1)).toEqual({ deployRoots: ['~/app'], hooks: true });
    expect(gateJson(h0)).toEqual({ deployRoots: ['~/app'] });
    const show = async (n: string) => JSON.parse((await tillOk(home, ['host', 'show', n, '--json'])).stdout);
    expect((await show('h1')).gate_hooks).toBe(true);
    expect((await show('h0')).gate_hooks).toBeUndefined();
    // the key of a host restricted without hooks cannot grant itself hooks
    const before = readFileSync(join(h0.home, '.till/gate.json'), 'utf8');
    const r = await till(home, ['host', 'setup', 'h0', '--restrict', '--allow-hooks'], { timeoutMs: 180_000 });
    expect(r.code).toBe(1);
    expect(r.stderr + r.stdout).toMatch(/widens the host's policy \(it turns "hooks" on\)/);
    expect(readFileSync(join(h0.home, '.till/gate.json'), 'utf8')).toBe(before);
    expect((await show('h0')).gate_hooks).toBeUndefined();
    // and --allow-hooks means nothing without --restrict
    const bad = await till(home, ['host', 'setup', 'h0', '--allow-hooks']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--allow-hooks is part of a restricted key's policy: give it with --restrict/);
  });

  it('a release with hooks on a host that does not allow them: refused before anything happens, nothing run or changed; --no-hooks deploys and rolls back there', async () => {
    const before = outside(h0);
    const keysBefore = keys(h0);
    const src = tree('hooked', {
      'index.html': 'v1\n',
      '.till/hooks/pre-switch': '#!/bin/sh\ntouch "$HOME/hook-ran"\n',
      '.till/hooks/post-rollback': '#!/bin/sh\ntouch "$HOME/hook-ran"\n',
    });
    const r = await till(home, ['host', 'deploy', 'h0', '--source', src, '--json']);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout);
    expect(doc.results[0].error).toBe(
      'refused by till gate on the host: script deploy-check-v2: release hooks are not allowed on this host (~/.till/gate.json does not say "hooks": true; its owner allows them with till host setup --restrict --allow-hooks)',
    );
    expect(existsSync(join(h0.home, 'app.till'))).toBe(false);
    expect(existsSync(join(h0.home, 'hook-ran'))).toBe(false);
    expect(keys(h0)).toBe(keysBefore);
    expect(changes(before, outside(h0))).toEqual([]);
    // --no-hooks deploys it there, the hook reported skipped and not run
    const ok = await tillOk(home, ['host', 'deploy', 'h0', '--source', src, '--no-hooks', '--json']);
    expect(JSON.parse(ok.stdout).results[0].hooks).toEqual([
      expect.objectContaining({ hook: 'pre-switch', outcome: 'skipped' }),
    ]);
    expect(gateLog(h0)).toMatch(/allowed deploy-switch-v5 from/);
    // a rollback to it needs no --no-hooks: till knows the host runs no hooks, and says so
    await tillOk(home, ['host', 'deploy', 'h0', '--source', tree('plain', { 'index.html': 'p\n' })]);
    const rb = JSON.parse((await tillOk(home, ['host', 'rollback', 'h0', '--json'])).stdout);
    expect(rb.results[0].hooks).toEqual([expect.objectContaining({ hook: 'post-rollback', outcome: 'skipped' })]);
    expect(existsSync(join(h0.home, 'hook-ran'))).toBe(false);
  });

  it('where allowed, hooks run through the gate on deploy and rollback, with their outcome in the record', async () => {
    const hook = (name: string) => `#!/bin/sh\necho "$TILL_RELEASE" > "$TILL_TEKTON_PATH.till/${name}-ran"\n`;
    const one = tree('one', {
      'index.html': '1\n',
      '.till/hooks/post-switch': hook('post-switch'),
      '.till/hooks/post-rollback': hook('post-rollback'),
    });
    const first = JSON.parse((await tillOk(home, ['host', 'deploy', 'h1', '--source', one, '--json'])).stdout).release;
    expect(readFileSync(join(h1.home, 'app.till/post-switch-ran'), 'utf8')).toBe(`${first}\n`);
    const two = tree('two', { 'index.html': '2\n' });
    await tillOk(home, ['host', 'deploy', 'h1', '--source', two, '-m', 'second']);
    const rb = JSON.parse((await tillOk(home, ['host', 'rollback', 'h1', '--json', '-m', 'back to one'])).stdout);
    expect(rb.results[0]).toMatchObject({ to: first, hooks: [{ hook: 'post-rollback', outcome: 'ok' }] });
    expect(readFileSync(join(h1.home, 'app.till/post-rollback-ran'), 'utf8')).toBe(`${first}\n`);
    expect(live(h1)).toBe(first);
    const rel = JSON.parse((await tillOk(home, ['host', 'releases', 'h1', '--json'])).stdout);
    const r1 = rel.releases.find((x: { id: string }) => x.id === first);
    expect(r1.hooks).toEqual([
      expect.objectContaining({ hook: 'post-switch', outcome: 'ok', output: '' }),
      expect.objectContaining({ hook: 'post-rollback', outcome: 'ok', output: '' }),
    ]);
    expect(r1.history.at(-1)).toMatchObject({ state: 'good', message: 'back to one' });
    expect(gateLog(h1)).toMatch(/allowed rollback-v4 from/);
  });

  describe('with a stolen restricted key', () => {
    const id = attackId;
    const prep = (key: StolenKey, n: number) =>
      send(key, deployPrepare, {
        path: '~/app',
        id: id(n),
        lockInfo: 'who=attacker\nwhen=now\nwhat=attack\npid=1\nrun=atk\n',
        run: 'atk',
        forceUnlock: true,
        shared: [],
        adoptId: '20250101T000000Z-adopted',
        now: NOW,
        contentHash: '',
      });
    const sw = attackSwitch;
    const rec = (over: Partial<SwitchParams['record']>) => ({ record: { ...sw(0).record, ...over } });

    // Representative refusals on a real host; every type's whole table: test/unit/gate.test.ts.
    it('cannot run hooks where gate.json does not allow them, nor forge a release record line, nor a lock', () => {
      const before = outside(h0);
      const keysBefore = keys(h0);
      const logBefore = releasesLog(h0);
      const hooks = { hooks: { run: true, timeoutSec: 30 } };
      const refused: Array<[ReturnType<typeof send>, RegExp]> = [
        [send(key0, deploySwitch, sw(1, hooks)), /release hooks are not allowed on this host/],
        [send(key0, deployCheck, { path: '~/app', check: '', hooks: true }), /release hooks are not allowed/],
        [
          send(key0, rollback, {
            path: '~/app',
            to: '',
            lockInfo: 'who=a\nwhen=b\nwhat=c\npid=1\nrun=r\n',
            now: NOW,
            record: { host: 'h0', deployer: 'attacker', message: '' },
            ...hooks,
          }),
          /release hooks are not allowed/,
        ],
        [
          send(key0, deployRevert, {
            path: '~/app',
            id: id(1),
            previous: '',
            run: 'atk',
            now: NOW,
            record: { host: 'h0', deployer: 'attacker', message: '' },
            ...hooks,
          }),
          /release hooks are not allowed/,
        ],
        // a record line is one line of fields: no newline, no tab in any of them
        [
          send(key0, deploySwitch, sw(1, rec({ message: `x\n${id(9)}\tgood\t${NOW}\tforged` }))),
          /message "x\\n.*" contains a control character/,
        ],
        [
          send(key0, deploySwitch, sw(1, rec({ deployer: 'root@prod\tx' }))),
          /deployer .* contains a control character/,
        ],
        [send(key0, deploySwitch, sw(1, rec({ commit: 'abc1234; id' }))), /is not a git commit id/],
        [send(key0, deploySwitch, sw(1, rec({ host: '--help' }))), /is not a host name/],
        [send(key0, deploySwitch, sw(1, { hooks: { run: false, timeoutSec: 0 } })), /from 1 to 86400/],
        [send(key0, hostLock, { path: '~/app', by: 'x\nfrom=10.0.0.1', when: NOW, message: 'm' }), /control character/],
        [
          send(key0, hostLock, { path: '~/app', by: 'x', when: NOW, message: 'a\nmessage=forged' }),
          /control character/,
        ],
      ];
      for (const [res, re] of refused) {
        expect(res.status, res.stderr).toBe(1);
        expect(res.stderr).toMatch(/^till gate: refused: script /);
        expect(res.stderr).toMatch(re);
      }
      expect(releasesLog(h0)).toBe(logBefore);
      expect(existsSync(join(h0.home, 'app.till/hold'))).toBe(false);
      expect(keys(h0)).toBe(keysBefore);
      expect(changes(before, outside(h0))).toEqual([]);
    });

    it('free text that looks like an option, a path or a command is recorded as one field, verbatim, and runs nothing', async () => {
      const hostile = `--help .. -rf / $(touch ~/pwned) \`id\` ';' "x"`;
      expect(prep(key0, 2).status).toBe(0);
      const up = key0.rsync([
        '-rl',
        `${tree('plain', { 'index.html': 'p\n' })}/`,
        `HOST:app.till/releases/${id(2)}.partial/`,
      ]);
      expect(up.status, up.stderr).toBe(0);
      const res = send(key0, deploySwitch, sw(2, rec({ message: hostile, deployer: '-rf', commit: 'abcdef0' })));
      expect(res.status, res.stderr).toBe(0);
      const last = releasesLog(h0)
        .split('\n')
        .filter((l) => l !== '')
        .at(-1)!
        .split('\t');
      expect(last).toEqual([id(2), 'good', NOW, 'attacker', '-rf', 'abcdef0', '', hostile, '']);
      expect(existsSync(join(h0.home, 'pwned'))).toBe(false);
      // the controller shows it as it is
      const rel = JSON.parse((await tillOk(home, ['host', 'releases', 'h0', '--json'])).stdout);
      expect(rel.releases.find((r: { id: string }) => r.id === id(2))).toMatchObject({
        deployer: '-rf',
        message: hostile,
      });
    });

    it('where hooks are allowed, a hook planted as a symlink out of its release is refused, not followed', () => {
      const before = outside(h1);
      // an executable in another release, and a pre-switch that leads to it or to /bin/sh
      expect(prep(key1, 3).status).toBe(0);
      const payload = '#!/bin/sh\ntouch "$HOME/pwned"\n';
      const evil = tree('evil', { 'x/pre-switch': payload, 'x/hooks/pre-switch': payload });
      chmodSync(join(evil, 'x/pre-switch'), 0o755);
      chmodSync(join(evil, 'x/hooks/pre-switch'), 0o755);
      expect(key1.rsync(['-rl', `${evil}/`, `HOST:app.till/releases/${id(3)}.partial/`]).status).toBe(0);
      expect(send(key1, deploySwitch, sw(3, rec({ host: 'h1' }))).status).toBe(0);
      for (const [n, links] of [
        [4, { '.till/hooks/post-switch': '/bin/sh' }],
        [5, { '.till/hooks/pre-switch': `../../../${id(3)}/x/pre-switch` }],
        [6, { '.till': `../${id(3)}/x` }],
      ] as const) {
        const current = live(h1);
        expect(prep(key1, n).status).toBe(0);
        const t = tree(`link-${n}`, { 'index.html': `${n}\n` }, links);
        expect(key1.rsync(['-rl', `${t}/`, `HOST:app.till/releases/${id(n)}.partial/`]).status).toBe(0);
        const res = send(
          key1,
          deploySwitch,
          sw(n, { ...rec({ host: 'h1' }), previous: current, hooks: { run: true, timeoutSec: 30 } }),
        );
        expect(res.status, res.stderr).toBe(0);
        const report = deploySwitch.parse(res.stdout);
        const hook = n === 4 ? 'post-switch' : 'pre-switch';
        // a refused post-switch switches back, as a failed one does: the host runs what it ran before
        expect(report, JSON.stringify(links)).toMatchObject({ switched: n === 4, hookFailed: hook });
        expect(report.hooks[0]).toMatchObject({ hook, outcome: 'refused' });
        expect(report.hooks[0]!.why).toMatch(/symlink/);
        expect(live(h1)).toBe(current);
        expect(existsSync(join(h1.home, 'pwned'))).toBe(false);
      }
      expect(changes(before, outside(h1))).toEqual([]);
    });
  });

  it('the manual lock through the gate: a deploy and a rollback are refused naming it; unlock lifts it', async () => {
    const lock = await tillOk(home, ['host', 'lock', 'h0', '-m', 'disk swap', '--json']);
    expect(JSON.parse(lock.stdout).results[0].manualLock).toMatchObject({ message: 'disk swap', from: '127.0.0.1' });
    const d = await till(home, ['host', 'deploy', 'h0', '--source', join(work, 'plain')]);
    expect(d.code).toBe(1);
    expect(d.stdout).toMatch(
      /locked by \S+ \(from 127\.0\.0\.1\) since \S+: "disk swap"; when it is safe: till host unlock h0/,
    );
    const rb = await till(home, ['host', 'rollback', 'h0']);
    expect(rb.code).toBe(1);
    expect(rb.stdout).toMatch(/"disk swap"/);
    await tillOk(home, ['host', 'unlock', 'h0']);
    await tillOk(home, ['host', 'deploy', 'h0', '--source', join(work, 'plain')]);
    expect(gateLog(h0)).toMatch(/allowed host-lock from[\s\S]*allowed host-unlock from/);
  });
});
