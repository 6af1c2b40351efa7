import { execFileSync } from 'node:child_process';
import { linkSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  decide,
  decideOrRefuse,
  GATE_CONFIG_REFUSAL,
  loadPolicy,
  outwardLink,
  realpathDeepest,
  UNCHECKED_REFUSAL,
  type GatePolicy,
} from '../../src/gate/decide.js';
import { keyFileManaged } from '../../src/ops/managed-keys.js';
import { gateConfigFor, parsePublicKey } from '../../src/ops/restrict.js';
import { parseGateFile, wideningOf } from '../../src/protocol/args.js';
import { deployCheck, deployPrepare, deployState, deployUnlock } from '../../src/protocol/deploy.js';
import { hostLock, hostUnlock } from '../../src/protocol/hold.js';
import {
  cleanRemote,
  setupActivate,
  setupCheck,
  setupPrepare,
  sync,
  syncDryRun,
  test,
} from '../../src/protocol/host.js';
import { keyAdd, keyRemove, restrict } from '../../src/protocol/keys.js';
import { audit, doctor, health, healthLatency } from '../../src/protocol/probes.js';
import { shJoin } from '../../src/protocol/quote.js';
import { GATE_LINES, GATE_SCRIPTS, VERSIONS } from '../../src/protocol/registry.js';
import { rollback, type RollbackParams } from '../../src/protocol/rollback.js';
import { deploySwitch, type SwitchParams } from '../../src/protocol/switch.js';
import { commandLine, GATE_PROBE, remoteScript, type Operation } from '../../src/protocol/wire.js';
import { classifySsh } from '../../src/ssh/outcome.js';
import { syntheticResult } from '../../src/ssh/process.js';
import { ed25519Blob } from './keys.js';

/** The line a controller sends for `op` (its newest version, or the one at `at`). */
const send = <P>(op: Operation<P, unknown>, params: P, at = 0) => commandLine(op.versions[at]!, params);
/** The `test` line (test-v2, the newest, is a script). */
const TEST_COMMAND = test.versions.find((v) => v.name === 'test')!.text;
const AUDIT_COMMAND = audit.versions[0]!.text;
const CHECK_SCRIPT = setupCheck.versions[0]!.text;
const ACTIVATE_SCRIPT = setupActivate.versions[0]!.text;
const RESTRICT_SCRIPT = restrict.versions[0]!.text;
const KEY = parsePublicKey(`ssh-ed25519 ${ed25519Blob(1)} till-federation@me@box\n`);
const NOW = '2026-01-01T00:00:00.000Z';

const scratch = realpathSync(mkdtempSync('/tmp/t-unit-gate-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const home = join(scratch, 'home');
mkdirSync(join(home, '.till/lib'), { recursive: true });
mkdirSync(join(home, '.ssh'), { recursive: true });
mkdirSync(join(home, 'Tekton.till/releases/r1'), { recursive: true });
// A symlink planted inside the releases folder that leads to ~/.ssh.
symlinkSync(join(home, '.ssh'), join(home, 'Tekton.till/releases/evil'));
symlinkSync('/nonexistent/target', join(home, 'Tekton.till/releases/dangling'));

const policy: GatePolicy = {
  home,
  deployRoots: [join(home, 'Tekton')],
  upgrade: true,
  checks: [],
  realpath: realpathDeepest,
  outwardLink,
};
const kind = (line: string | undefined, p: GatePolicy = policy) => decide(line, p).kind;
const reason = (line: string, p: GatePolicy = policy) => {
  const d = decide(line, p);
  return d.kind === 'refuse' ? d.reason : `allowed as ${d.kind}`;
};

describe('decide: what a restricted key may run', () => {
  const id = '20260101T000000Z-aaaaaa';
  const lockInfo = 'who=me@box\nwhen=now\nwhat=deploy\npid=1\nrun=r1\n';
  const prep = {
    path: '~/Tekton',
    id,
    lockInfo,
    run: 'r1',
    forceUnlock: true,
    shared: ['logs', 'data'],
    adoptId: '20260101T000000Z-adopted',
    now: NOW,
    contentHash: 'aaaaaa',
  };
  const sw: SwitchParams = {
    path: '~/Tekton',
    id,
    previous: '',
    check: '',
    prune: [],
    run: 'r1',
    now: NOW,
    source: 's',
    installation: '',
    shared: ['logs'],
    env: 'A=1\n',
    record: { host: 'h0', deployer: 'ann@laptop', commit: '', dirty: '', message: '' },
    hooks: { run: false, timeoutSec: 300 },
    keepLock: false,
  };
  const rb: RollbackParams = {
    path: '~/Tekton',
    to: '',
    lockInfo,
    now: NOW,
    record: { host: 'h0', deployer: 'ann@laptop', message: '' },
    hooks: { run: false, timeoutSec: 300 },
  };

  it('a shared path never passes through a link (or a file) in <root>.till/shared: mkdir -p would follow it', () => {
    const shared = join(home, 'Tekton.till/shared');
    mkdirSync(join(shared, 'data/a'), { recursive: true });
    writeFileSync(join(shared, 'data/file'), '');
    symlinkSync(join(scratch, 'owner-logs'), join(shared, 'logs'));
    symlinkSync(join(home, '.ssh'), join(shared, 'data/a/ssh'));
    try {
      for (const ok of [['logs'], ['data'], ['data/a/new/deeper'], ['data/a/ssh'], ['fresh/x/y'], ['data', 'logs']])
        expect(kind(send(deploySwitch, { ...sw, shared: ok })), ok.join(' ')).toBe('script');
      // one sentence whatever stopped it (a link, a file): which part, and what it is, only in the log
      for (const [bad, detail] of [
        [['logs/x'], `${shared}/logs is a symlink`],
        [['data/a/ssh/made'], `${shared}/data/a/ssh is a symlink`],
        [['data/file/x'], `${shared}/data/file is not a folder`],
        [['data', 'logs/x/y'], `${shared}/logs is a symlink`],
      ] as const)
        expect(decide(send(deploySwitch, { ...sw, shared: [...bad] }), policy), bad.join(' ')).toEqual({
          kind: 'refuse',
          reason: `script deploy-switch-v5: shared path ${bad[bad.length - 1]} cannot be made inside ${shared}: something on its way there is not a plain folder (a link the owner made there is used only as a whole shared path)`,
          detail,
        });
    } finally {
      rmSync(shared, { recursive: true, force: true });
    }
  });

  it('allows every line till sends, exactly', () => {
    for (const op of [audit, sync, syncDryRun, healthLatency, cleanRemote])
      expect(kind(send(op, undefined)), op.name).toBe('exact');
    expect(decide(TEST_COMMAND, policy)).toMatchObject({ kind: 'exact', name: 'test' });
    expect(GATE_LINES.size).toBe(6);
    // host test sends test-v2 first: a script of no arguments
    expect(decide(send(test, undefined), policy)).toMatchObject({ kind: 'script', name: 'test-v2', args: [] });
    expect(reason(`${send(test, undefined)} x`)).toMatch(/test-v2 takes 0 arguments, got 1/);
    expect(reason(`${send(test, undefined)}; touch /tmp/canary`)).toMatch(/";" outside quotes/);
    // what every till has sent for host remove --clean-remote
    expect(decide('rm -rf -- "$HOME"/.till', policy)).toMatchObject({ kind: 'exact', name: 'clean-remote' });
    expect(decide(send(doctor, { tektonPath: '~/Tekton' }), policy)).toMatchObject({
      kind: 'script',
      name: 'doctor',
      args: ['~/Tekton'],
    });
    // A probe looks only at a deploy root: any other path would say whether it exists.
    expect(reason(send(doctor, { tektonPath: '~/projects/x' }))).toMatch(
      /~\/projects\/x is not a deploy root of ~\/.till\/gate.json/,
    );
    expect(decide(send(setupCheck, undefined), policy)).toMatchObject({
      kind: 'script',
      name: 'setup-check',
      args: [],
    });
    expect(decide(send(setupPrepare, undefined), policy)).toMatchObject({ kind: 'script', name: 'setup-prepare' });
    expect(
      decide(send(setupActivate, { version: '1.2.3', node: "/opt/no'de; rm -rf ~/bin/node" }), policy),
    ).toMatchObject({
      kind: 'script',
      script: ACTIVATE_SCRIPT,
      args: ['1.2.3', "/opt/no'de; rm -rf ~/bin/node"],
    });
    const gateJson = JSON.stringify(gateConfigFor({ tekton_path: '~/Tekton' }));
    expect(decide(send(restrict, { key: KEY, gateJson }), policy)).toMatchObject({
      kind: 'script',
      name: 'restrict-v3',
    });
    expect(decide('rsync --server -te.LsfxCIvu . .till/lib/till-0.1.0.mjs', policy)).toEqual({
      kind: 'rsync',
      name: `rsync to ${home}/.till/lib/till-0.1.0.mjs`,
      argv: ['--server', '-te.LsfxCIvu', '.', `${home}/.till/lib/till-0.1.0.mjs`],
    });
    expect(
      decide(
        'rsync --server -logDtprze.iLsfxCIvu --log-format=%i --delete --link-dest ../r1 . ~/Tekton.till/releases/r2/',
        policy,
      ),
    ).toEqual({
      kind: 'rsync',
      name: `rsync to ${home}/Tekton.till/releases/r2/`,
      argv: [
        '--server',
        '-logDtprze.iLsfxCIvu',
        '--log-format=%i',
        '--delete',
        `--link-dest=${home}/Tekton.till/releases/r1`,
        '.',
        `${home}/Tekton.till/releases/r2/`,
      ],
      // an upload into a deploy root: the gate holds that root's lock while rsync runs
      root: join(home, 'Tekton'),
      release: join(home, 'Tekton.till/releases/r2'),
    });
  });

  it('accepts what real rsync clients send for deploy-like transfers', () => {
    // Captured from rsync 3.5 with -az --delete --delay-updates --link-dest --itemize-changes --stats --partial --chmod…, and -a --mkpath -n -c -H --numeric-ids --timeout --bwlimit --max-delete.
    expect(
      kind(
        'rsync --server -lOogDtprze.iLsfxCIvu --log-format=%i --delete --stats --delay-updates --link-dest ../r1 . ~/Tekton.till/releases/r2/',
      ),
    ).toBe('rsync');
    expect(
      kind(
        'rsync --server -nlHogDtprce.iLsfxCIvu --compress-level=3 --timeout=30 --bwlimit=1000 --max-delete=10 --numeric-ids --mkpath . ~/Tekton.till/releases/r2/',
      ),
    ).toBe('rsync');
  });

  it('allows health and deploy scripts for a deploy root only, and a --check only when gate.json lists it', () => {
    expect(decide(send(health, { tektonPath: '~/Tekton' }), policy)).toMatchObject({
      kind: 'script',
      name: 'health-v2',
      args: ['~/Tekton'],
    });
    expect(decide(send(deployState, { path: '~/Tekton' }), policy)).toMatchObject({
      kind: 'script',
      name: 'deploy-state-v2',
      root: join(home, 'Tekton'),
    });
    expect(decide(send(deployPrepare, prep), policy)).toMatchObject({
      kind: 'script',
      name: 'deploy-prepare-v5',
      args: expect.arrayContaining(['aaaaaa']),
    });
    // A plain folder at the root is never adopted through the gate, by any prepare version;
    // a link (a deployed root) or nothing there is prepared as before.
    mkdirSync(join(home, 'Tekton'));
    try {
      for (const [at, v] of deployPrepare.versions.entries())
        if (v.retired === undefined)
          expect(reason(send(deployPrepare, prep, at)), v.name).toBe(
            `script ${v.name}: ${join(home, 'Tekton')} is a folder till did not deploy (not a link to a release): the gate does not adopt it. On the host, move it aside (mv ${join(home, 'Tekton')} ${join(home, 'Tekton')}.pre-till) and deploy again, or deploy to it once with an unrestricted key before restricting it (docs/gate.md)`,
          );
      expect(kind(send(deployState, { path: '~/Tekton' }))).toBe('script');
    } finally {
      rmSync(join(home, 'Tekton'), { recursive: true });
    }
    symlinkSync('Tekton.till/releases/r1', join(home, 'Tekton'));
    try {
      expect(kind(send(deployPrepare, prep))).toBe('script');
    } finally {
      rmSync(join(home, 'Tekton'));
    }
    expect(reason(send(deployPrepare, { ...prep, contentHash: '../x' }))).toMatch(
      /"..\/x" is not a content hash \(6 hex digits, or empty\)/,
    );
    expect(decide(send(deploySwitch, sw), policy)).toMatchObject({ kind: 'script', name: 'deploy-switch-v5' });
    expect(decide(send(deployUnlock, { path: '~/Tekton', run: 'r1' }), policy)).toMatchObject({
      kind: 'script',
      name: 'deploy-unlock',
    });
    expect(decide(send(rollback, rb), policy)).toMatchObject({ kind: 'script', name: 'rollback-v4' });
    // not a deploy root of gate.json
    expect(reason(send(deployState, { path: '~/Other' }))).toMatch(/not a deploy root/);
    expect(reason(send(deployUnlock, { path: `${home}/Other`, run: 'r1' }))).toMatch(/not a deploy root/);
    // ~/.ssh and ~/.till are never one, however spelled
    expect(reason(send(deployState, { path: '~/.ssh' }))).toMatch(/it is ~\/\.ssh or lies inside it/);
    expect(reason(send(deployState, { path: `${home}/.till/bin` }))).toMatch(/it is ~\/\.till or lies inside it/);
    // values that would lead out of the releases folder
    expect(reason(send(deploySwitch, { ...sw, prune: ['../../.ssh'] }))).toMatch(/is not a release id/);
    expect(reason(send(deploySwitch, { ...sw, previous: '../x' }))).toMatch(/"..\/x" is not a release id/);
    expect(reason(send(deploySwitch, { ...sw, shared: ['../x'] }))).toMatch(/shared path/);
    expect(reason(send(rollback, { ...rb, to: '../../.ssh' }))).toMatch(/not a release id/);
    // --check is a command: listed in gate.json "checks" or refused
    expect(reason(send(deploySwitch, { ...sw, check: 'true' }))).toMatch(
      /the check "true" is not listed in ~\/.till\/gate.json "checks"/,
    );
    expect(decide(send(deploySwitch, { ...sw, check: 'true' }), { ...policy, checks: ['true'] })).toMatchObject({
      kind: 'script',
      name: 'deploy-switch-v5',
    });
    // ... and the same words before anything else happens (deploy-check)
    expect(reason(send(deployCheck, { path: '~/Tekton', check: 'true', hooks: false }))).toBe(
      'script deploy-check-v2: the check "true" is not listed in ~/.till/gate.json "checks"',
    );
    expect(
      decide(send(deployCheck, { path: '~/Tekton', check: 'true', hooks: false }), { ...policy, checks: ['true'] }),
    ).toMatchObject({ kind: 'script', name: 'deploy-check-v2', args: ['~/Tekton', 'true', '0'] });
    expect(reason(send(deployCheck, { path: '~/Other', check: 'true', hooks: false }))).toMatch(/not a deploy root/);
  });

  it('types every argument of the release record, the hooks and the manual lock (issue 17)', () => {
    const rec = (over: Partial<SwitchParams['record']>) => ({ ...sw, record: { ...sw.record, ...over } });
    const hooks = { hooks: { run: true, timeoutSec: 30 } };
    // hooks run only where gate.json says so
    expect(reason(send(deploySwitch, { ...sw, ...hooks }))).toMatch(/release hooks are not allowed on this host/);
    expect(decide(send(deploySwitch, { ...sw, ...hooks }), { ...policy, hooks: true })).toMatchObject({
      kind: 'script',
      name: 'deploy-switch-v5',
    });
    expect(reason(send(rollback, { ...rb, ...hooks }))).toMatch(/release hooks are not allowed/);
    expect(reason(send(deployCheck, { path: '~/Tekton', check: '', hooks: true }))).toMatch(/hooks are not allowed/);
    for (const [over, re] of [
      [{ message: 'a\nb' }, /message "a\\nb" contains a control character/],
      [{ message: 'a\tb' }, /message .* contains a control character/],
      [{ message: 'a\x1b[31mb' }, /control character/],
      [{ message: 'm'.repeat(1025) }, /message longer than 1024 characters/],
      [{ deployer: 'a\nb' }, /deployer .* contains a control character/],
      [{ deployer: 'd'.repeat(257) }, /deployer longer than 256 characters/],
      [{ commit: 'abc123' }, /is not a git commit id/],
      [{ commit: 'abc1234 ' }, /is not a git commit id/],
      [{ commit: 'ABCDEF0' }, /is not a git commit id/],
      [{ dirty: '2' }, /is not 0, 1 or empty/],
      [{ host: '--help' }, /is not a host name/],
      [{ host: '' }, /is not a host name/],
      [{ host: 'a/b' }, /is not a host name/],
    ] as const)
      expect(reason(send(deploySwitch, rec(over as Partial<SwitchParams['record']>))), JSON.stringify(over)).toMatch(
        re,
      );
    for (const t of [0, 86_401, 1.5, -1])
      expect(reason(send(deploySwitch, { ...sw, hooks: { run: false, timeoutSec: t } }))).toMatch(
        /is not a whole number of seconds from 1 to 86400/,
      );
    // free text is free: an option, a path, a command substitution are one verbatim argument
    for (const message of ['--help', '..', '-rf /', '$(id)', "';'", '"', ''])
      expect(decide(send(deploySwitch, rec({ message, deployer: '-x' })), policy)).toMatchObject({ kind: 'script' });
    const lock = { path: '~/Tekton', by: 'ann@laptop', when: NOW, message: 'why' };
    expect(decide(send(hostLock, lock), policy)).toMatchObject({ kind: 'script', name: 'host-lock' });
    expect(reason(send(hostLock, { ...lock, by: 'a\nfrom=x' }))).toMatch(/deployer .* contains a control character/);
    expect(reason(send(hostLock, { ...lock, message: 'a\nmessage=b' }))).toMatch(/control character/);
    expect(reason(send(hostLock, { ...lock, when: 'now' }))).toMatch(/ISO-8601/);
    expect(reason(send(hostUnlock, { path: '~/Other' }))).toMatch(/not a deploy root/);
  });

  it('gate.json "hooks" is a boolean, off by default, and turning it on is a widening', () => {
    expect(parseGateFile({ deployRoots: ['~/T'] }, home).hooks).toBe(false);
    expect(parseGateFile({ deployRoots: ['~/T'], hooks: true }, home).hooks).toBe(true);
    expect(() => parseGateFile({ hooks: 'yes' }, home)).toThrow(/hooks: not true or false/);
    const current = { deployRoots: [join(home, 'Tekton')], checks: [], upgrade: true };
    expect(wideningOf(current, parseGateFile({ deployRoots: ['~/Tekton'], hooks: true }, home))).toBe(
      'it turns "hooks" on',
    );
    expect(wideningOf({ ...current, hooks: true }, parseGateFile({ deployRoots: ['~/Tekton'] }, home))).toBeUndefined();
    expect(gateConfigFor({ tekton_path: '~/T' }, [], { hooks: true })).toEqual({ deployRoots: ['~/T'], hooks: true });
    expect(gateConfigFor({ tekton_path: '~/T' })).toEqual({ deployRoots: ['~/T'] });
  });

  it('checks every argument of every script by its type: releases.log cannot be forged, nor the lock info', () => {
    const forged = `${NOW}\tgood\tx\n20990101T000000Z-evil00\tgood\t${NOW}`;
    expect(reason(send(deploySwitch, { ...sw, now: forged }))).toMatch(/is not an ISO-8601 UTC time/);
    expect(reason(send(deploySwitch, { ...sw, source: 'a\tb' }))).toMatch(/contains a control character/);
    expect(reason(send(deploySwitch, { ...sw, source: 'a\nb' }))).toMatch(/contains a control character/);
    expect(reason(send(deploySwitch, { ...sw, installation: '--help' }))).toMatch(/is not an installation name/);
    expect(reason(send(deploySwitch, { ...sw, env: 'A=\x1b[31m' }))).toMatch(/control character/);
    expect(reason(send(deployPrepare, { ...prep, now: 'n' }))).toMatch(/not an ISO-8601 UTC time/);
    expect(reason(send(deployPrepare, { ...prep, lockInfo: 'who=x\nrun=TILL_LOCKED\n' }))).toMatch(/lock info/);
    const v3 = deployPrepare.versions[0]!;
    expect(
      reason(
        remoteScript(
          v3.text,
          v3.encode(prep).map((a, n) => (n === 4 ? '2' : a)),
        ),
      ),
    ).toMatch(/0 or 1/);
    expect(reason(send(rollback, { ...rb, to: '', now: `${NOW}\n` }))).toMatch(/ISO-8601/);
    // the key type goes into the authorized_keys line restrict writes: a closed set, no newline
    const gateJson = JSON.stringify({ deployRoots: ['~/Tekton'] });
    const evil = `ssh-ed25519 ${KEY.blob}\nssh-ed25519 AAAAattacker`;
    expect(reason(send(restrict, { key: { ...KEY, type: evil }, gateJson }))).toMatch(/key type .* is not one of/);
    expect(reason(send(restrict, { key: { ...KEY, type: 'ssh-rsa' }, gateJson }))).toMatch(
      /the key blob is not a ssh-rsa key/,
    );
    expect(reason(send(restrict, { key: { ...KEY, comment: 'a\nb' }, gateJson }))).toMatch(/key comment/);
    // every registered script declares a type for each of its arguments
    for (const { version } of VERSIONS) expect(version.args.every((t) => typeof t.problem === 'function')).toBe(true);
  });

  it('refuses a retired version, naming why, and every version a gate never runs', () => {
    const v3 = deploySwitch.versions.find((v) => v.name === 'deploy-switch-v3')!;
    expect(reason(commandLine(v3, sw))).toBe(
      `script deploy-switch-v3 is no longer allowed (${v3.retired}): upgrade till on the controller`,
    );
    for (const { version } of VERSIONS.filter((x) => x.version.ungated !== undefined))
      expect(GATE_SCRIPTS.has(version.text)).toBe(false);
  });

  it('lets restrict through the gate keep or narrow gate.json, never widen it', () => {
    const restrictLine = (gate: object) => send(restrict, { key: KEY, gateJson: JSON.stringify(gate) });
    const strict: GatePolicy = {
      ...policy,
      deployRoots: [join(home, 'Tekton'), '/srv/app'],
      checks: ['bin/health'],
      upgrade: false,
    };
    // the same policy (a re-run of setup --restrict), written ~/ or absolute, or a narrower one
    expect(
      decide(restrictLine({ deployRoots: ['~/Tekton', '/srv/app/'], checks: ['bin/health'], upgrade: false }), strict),
    ).toMatchObject({ kind: 'script', name: 'restrict-v3' });
    expect(decide(restrictLine({ deployRoots: ['/srv/app'], upgrade: false }), strict)).toMatchObject({
      kind: 'script',
      name: 'restrict-v3',
    });
    // anything wider is refused, with what it would add
    expect(reason(restrictLine({ deployRoots: ['~/Tekton', '~/Other'], upgrade: false }), strict)).toMatch(
      /widens the host's policy \(it adds the deploy root .*\/Other\)/,
    );
    // and a gate.json with ~/.ssh as a deploy root is not one a gate takes at all
    expect(reason(restrictLine({ deployRoots: ['~/Tekton', '~/.ssh'], upgrade: false }), strict)).toMatch(
      /deployRoots\.1: ~\/\.ssh: it is ~\/\.ssh or lies inside it/,
    );
    expect(
      reason(restrictLine({ deployRoots: ['~/Tekton'], checks: ['cat /etc/shadow'], upgrade: false }), strict),
    ).toMatch(/it adds the check "cat \/etc\/shadow"/);
    expect(reason(restrictLine({ deployRoots: ['~/Tekton'] }), strict)).toMatch(/it turns "upgrade" back on/);
    expect(reason(restrictLine({ deployRoots: ['../x'] }), strict)).toMatch(
      /gate\.json: deployRoots\.0: not a safe remote path/,
    );
    expect(reason(remoteScript(RESTRICT_SCRIPT, [KEY.type, KEY.blob, KEY.comment, '{not json']), strict)).toMatch(
      /gate\.json: /,
    );
  });

  it('registers texts that are distinct', () => {
    const texts = VERSIONS.map(({ version }) => version.text);
    expect(new Set(texts).size).toBe(texts.length);
    expect(GATE_SCRIPTS.get(RESTRICT_SCRIPT)?.name).toBe('restrict-v3');
  });

  it('refuses clean-remote variants that would remove anything else', () => {
    for (const line of [
      'rm -rf -- "$HOME"/.ssh',
      'rm -rf -- "$HOME"/.till/..',
      'rm -rf -- "$HOME"/.till ~',
      'rm -rf -- "$HOME"/.till; id',
      'rm -rf -- ~/.till',
      'rm -rf -- "$HOME"/.till ',
    ]) {
      expect(kind(line), line).toBe('refuse');
    }
    expect(reason(remoteScript('rm -rf -- "$HOME"/.till'))).toBe("a script that is not one of till's own");
  });

  it('refuses an interactive login and anything that is not till', () => {
    expect(reason(undefined as unknown as string)).toMatch(/interactive logins are not allowed/);
    expect(reason('')).toMatch(/interactive logins/);
    expect(reason('cat /etc/passwd')).toMatch(/"cat" is not one of till's operations/);
    expect(reason('id')).toMatch(/not one of till's operations/);
    expect(reason('bash')).toMatch(/not one of till's operations/);
    expect(reason('x'.repeat(300_000))).toMatch(/longer than/);
    // setup --restrict's proof that the gate is in front: refused, never registered
    expect(reason(GATE_PROBE)).toMatch(/"true" is not one of till's operations/);
  });

  it('refuses injections through the allowed forms', () => {
    const canary = '; touch /tmp/canary';
    for (const line of [TEST_COMMAND, AUDIT_COMMAND, sync.versions[0]!.text]) {
      expect(kind(`${line}${canary}`)).toBe('refuse');
      expect(kind(`${line} `)).toBe('refuse');
      expect(kind(`${line}\ntouch /tmp/canary`)).toBe('refuse');
    }
    // A script differing by one character, or with one argument more or less.
    const tweaked = CHECK_SCRIPT.replace('command -v rsync', 'command -v rsynd');
    expect(reason(remoteScript(tweaked))).toMatch(/not one of till's own/);
    expect(reason(`${remoteScript(CHECK_SCRIPT)} extra`)).toMatch(/takes 0 arguments, got 1/);
    expect(reason(remoteScript(ACTIVATE_SCRIPT, ['1.0.0']))).toMatch(/takes 2 arguments, got 1/);
    expect(reason(`${remoteScript(CHECK_SCRIPT)}${canary}`)).toMatch(/";" outside quotes/);
    expect(reason(`${remoteScript(CHECK_SCRIPT)} && touch /tmp/canary`)).toMatch(/"&" outside quotes/);
    expect(reason(`${remoteScript(ACTIVATE_SCRIPT, ['1.0.0', '/usr/bin/node'])} $(touch /tmp/canary)`)).toMatch(
      /"\$" outside quotes/,
    );
    expect(reason(`sh -c ${shJoin([CHECK_SCRIPT])} bash`)).toMatch(/not sent as sh -c SCRIPT till ARGS/);
    expect(reason(`sh -c ${shJoin([CHECK_SCRIPT])}`)).toMatch(/not sent as/);
    expect(reason(`sh -x ${shJoin([CHECK_SCRIPT])} till`)).toMatch(/not sent as/);
    expect(reason(`sh -c 'touch /tmp/canary' till`)).toMatch(/not one of till's own/);
    expect(reason(`${remoteScript(ACTIVATE_SCRIPT, ['1.0.0'])} ~/node`)).toMatch(/unquoted ~/);
  });

  it('refuses rsync downloads, dangerous options and destinations outside the roots', () => {
    const bundle = '. .till/lib/till-0.1.0.mjs';
    const cases: Array<[string, RegExp]> = [
      [`rsync --server --sender -te.LsfxCIvu ${bundle}`, /downloads \(rsync --sender\)/],
      [`rsync --server -te.LsfxCIvu --sender ${bundle}`, /downloads/],
      [`rsync --server -te.LsfxCIvu --rsync-path=sh ${bundle}`, /--rsync-path is not allowed/],
      [`rsync --server -te.LsfxCIvu -e sh ${bundle}`, /rsync -e is not allowed/],
      [`rsync --server -tse.LsfxCIvu ${bundle}`, /-s is not allowed/],
      [`rsync --server -tLe.LsfxCIvu ${bundle}`, /-L is not allowed/],
      [`rsync --server -rte.LsfxCIvu ${bundle}`, /-r is not allowed for the till bundle/],
      [`rsync --server -te.LsfxCIvu --delete ${bundle}`, /--delete is not allowed for the till bundle/],
      [`rsync --server -te.LsfxCIvu --remove-source-files ${bundle}`, /--remove-source-files is not allowed/],
      [`rsync --server -te.LsfxCIvu --log-file=/tmp/x ${bundle}`, /--log-file is not allowed/],
      [`rsync --server -te.LsfxCIvu --only-write-batch=x ${bundle}`, /not allowed/],
      [`rsync --server -te.LsfxCIvu --temp-dir=/tmp ${bundle}`, /not allowed/],
      [`rsync --server -te.LsfxCIvu ${bundle} second`, /exactly one destination/],
      ['rsync --server -te.LsfxCIvu .till/lib/x', /without its "\." argument/],
      ['rsync --server -te.LsfxCIvu . .ssh/authorized_keys', /outside till's folders/],
      ['rsync --server -te.LsfxCIvu . /etc/passwd', /outside till's folders/],
      ['rsync --server -te.LsfxCIvu . .till/bin/till', /outside till's folders/],
      ['rsync --server -te.LsfxCIvu . .till/gate.json', /outside till's folders/],
      ['rsync --server -te.LsfxCIvu . .till/lib/evil.js', /outside till's folders/],
      ['rsync --server -te.LsfxCIvu . .till/lib/../../.ssh/authorized_keys', /not a plain path/],
      ['rsync --server -te.LsfxCIvu . ~root/.till/lib/till-1.mjs', /not a plain path/],
      ['rsync --server -rlte.LsfxCIvu . ~/Tekton.till/releases/evil/authorized_keys', /does not lie inside/],
      ['rsync --server -rlte.LsfxCIvu . ~/Tekton.till/releases/dangling/x', /dangling\/x does not lie inside/],
      ['rsync --server -rlte.LsfxCIvu . ~/Tekton.till/releases/dangling/', /dangling\/ does not lie inside/],
      ['rsync --server -rlte.LsfxCIvu . ~/Tekton.till/releases/', /outside till's folders/],
      ['rsync --server -rlte.LsfxCIvu . ~/Tekton/x', /outside till's folders/],
      ['rsync --server -rlte.LsfxCIvu . ~/Other.till/releases/r1', /outside till's folders/],
      ['rsync --server -rlte.LsfxCIvu --link-dest=/ . ~/Tekton.till/releases/r2', /--link-dest "\/" is outside/],
      [
        'rsync --server -rlte.LsfxCIvu --link-dest ../../.. . ~/Tekton.till/releases/r2',
        /--link-dest "..\/..\/.." is outside/,
      ],
      [
        'rsync --server -rlte.LsfxCIvu --link-dest ../evil . ~/Tekton.till/releases/r2',
        /--link-dest .* does not lie inside/,
      ],
      ['rsync --server -rlKte.LsfxCIvu . ~/Tekton.till/releases/r2', /-K is not allowed/],
      [
        'rsync --server -rlte.LsfxCIvu --files-from=/etc/passwd . ~/Tekton.till/releases/r2',
        /--files-from is not allowed/,
      ],
      ['rsync --server -rlte.LsfxCIvu --timeout=5;id . ~/Tekton.till/releases/r2', /outside quotes/],
      ["rsync --server -rlte.LsfxCIvu '--timeout=5 x' . ~/Tekton.till/releases/r2", /--timeout value/],
      ['rsync --daemon --server . x', /not an rsync server command/],
      ['rsync -e sh . x', /not an rsync server command/],
      ['/usr/bin/rsync --server -te.LsfxCIvu . .till/lib/till-1.mjs', /not one of till's operations/],
    ];
    for (const [line, why] of cases) expect(reason(line), line).toMatch(why);
    expect(reason('rsync --server -te.LsfxCIvu . .till/lib/till-1.mjs', { ...policy, upgrade: false })).toMatch(
      /"upgrade": false/,
    );
    expect(reason(remoteScript(ACTIVATE_SCRIPT, ['1', '/n']), { ...policy, upgrade: false })).toMatch(
      /"upgrade": false/,
    );
    expect(reason('rsync --server -rlte.LsfxCIvu . ~/Tekton.till/releases/r2', { ...policy, deployRoots: [] })).toMatch(
      /outside till's folders/,
    );
  });

  it('allows one read: a dry-run listing of a release (host diff), nothing that writes, follows a link or leaves it', () => {
    const read = (opts: string, path = '~/Tekton.till/releases/r1/') => `rsync --server --sender ${opts} . ${path}`;
    // What the client of `till host diff` sends, as a relative and as an absolute path.
    const allowed = decide(read('-nlrce.iLsfxCIvu --open-noatime'), policy);
    expect(allowed).toEqual({
      kind: 'rsync',
      name: `rsync read of ${home}/Tekton.till/releases/r1/`,
      argv: ['--server', '--sender', '-nlrce.iLsfxCIvu', '--open-noatime', '.', `${home}/Tekton.till/releases/r1/`],
      root: join(home, 'Tekton'),
    });
    expect(kind(read('-nlrce.iLsfxCIvu', 'Tekton.till/releases/r1/'))).toBe('rsync');
    expect(kind(read('-lrce.iLsfxCIvu --dry-run'))).toBe('rsync');
    expect(kind(read('-nlrce.iLsfxCIvu --checksum-choice=xxh128', `${home}/Tekton.till/releases/r1/sub`))).toBe(
      'rsync',
    );
    const cases: Array<[string, RegExp]> = [
      // Not a dry run: the sender would send content.
      [read('-lrce.iLsfxCIvu'), /must be a dry run \(-n\)/],
      [read('-lrce.iLsfxCIvu --open-noatime'), /must be a dry run/],
      [read('-lrce.iLsfxCIvu --dry-run=0'), /--dry-run value "0" is not allowed|--dry-run is not allowed/],
      // Outside a release: the live folder, the home, ~/.ssh, till's own files, other roots.
      [read('-nlrce.iLsfxCIvu', '~/Tekton/'), /the one read is a dry-run listing of a release/],
      [read('-nlrce.iLsfxCIvu', '~/.ssh/'), /not .*\.ssh/],
      [read('-nlrce.iLsfxCIvu', '~/'), /listing of a release/],
      [read('-nlrce.iLsfxCIvu', '.till/lib/till-0.1.0.mjs'), /listing of a release/],
      [read('-nlrce.iLsfxCIvu', '~/Tekton.till/releases/'), /listing of a release/],
      [read('-nlrce.iLsfxCIvu', '~/Tekton.till/shared/'), /listing of a release/],
      [read('-nlrce.iLsfxCIvu', '/etc/'), /listing of a release/],
      [read('-nlrce.iLsfxCIvu', '~/Tekton.till/releases/r1/../../../.ssh'), /not a plain path/],
      [read('-nlrce.iLsfxCIvu', '~root/Tekton.till/releases/r1'), /not a plain path/],
      // A release name planted as a symlink, or dangling.
      [read('-nlrce.iLsfxCIvu', '~/Tekton.till/releases/evil/'), /does not lie inside/],
      [read('-nlrce.iLsfxCIvu', '~/Tekton.till/releases/evil'), /does not lie inside/],
      [read('-nlrce.iLsfxCIvu', '~/Tekton.till/releases/dangling/'), /dangling\/ does not lie inside/],
      // Options that follow links, write, or hide arguments from this check.
      [read('-nLrce.iLsfxCIvu'), /-L is not allowed/],
      [read('-nkrce.iLsfxCIvu'), /-k is not allowed/],
      [read('-nKrce.iLsfxCIvu'), /-K is not allowed/],
      [read('-nsrce.iLsfxCIvu'), /-s is not allowed/],
      [read('-nRrce.iLsfxCIvu'), /-R is not allowed/],
      [read('-nrce.iLsfxCIvu --copy-links'), /--copy-links is not allowed/],
      [read('-nrce.iLsfxCIvu --copy-unsafe-links'), /not allowed/],
      [read('-nrce.iLsfxCIvu --remove-source-files'), /--remove-source-files is not allowed/],
      [read('-nrce.iLsfxCIvu --log-file=/tmp/x'), /--log-file is not allowed/],
      [read('-nrce.iLsfxCIvu --files-from=/etc/passwd'), /--files-from is not allowed/],
      [read('-nrce.iLsfxCIvu --write-batch=x'), /not allowed/],
      [read('-nrce.iLsfxCIvu --rsync-path=sh'), /not allowed/],
      [read('-nrce.iLsfxCIvu -e sh'), /-e is not allowed/],
      [read('-nrce.iLsfxCIvu --delete'), /--delete is not allowed in a read/],
      [read('-nrce.iLsfxCIvu -nr'), /two rsync flag clusters/],
      [`rsync --server --sender -nlrce.iLsfxCIvu . ~/Tekton.till/releases/r1 ~/.ssh`, /exactly one source/],
      [`rsync --server --sender --sender -nlrce.iLsfxCIvu . ~/Tekton.till/releases/r1`, /--sender given twice/],
    ];
    for (const [line, why] of cases) expect(reason(line), line).toMatch(why);
    expect(reason(read('-nlrce.iLsfxCIvu'), { ...policy, deployRoots: [] })).toMatch(/listing of a release/);
  });

  it('turns a gate refusal into a clear message on the controller', () => {
    const failure = classifySsh({
      command: 'ssh',
      args: [],
      exitCode: 1,
      signal: null,
      stdout: '',
      stderr: 'till gate: refused: "id" is not one of till\'s operations\n',
      durationMs: 1,
      timedOut: false,
      cancelled: false,
    });
    expect(failure?.message).toBe('refused by till gate on the host: "id" is not one of till\'s operations');
    expect(failure?.connection).toBe(false);
  });
});

describe('decide: authorized_keys managed elsewhere', () => {
  const file = join(home, '.ssh/authorized_keys');
  const managed = join(scratch, 'managed_keys');
  const gateJson = JSON.stringify(gateConfigFor({ tekton_path: '~/Tekton' }));
  /** The versions that rewrite the file whatever it is (an older controller sends them): the gate checks for them. */
  const lines = () => [
    send(keyAdd, KEY, 1),
    send(keyRemove, { keep: ed25519Blob(1), drop: ed25519Blob(2) }, 1),
    send(restrict, { key: KEY, gateJson }, 1),
  ];
  /** Their successors check the file themselves, when they would rewrite it (test/unit/restricted-keys.test.ts). */
  const successors = () => [
    send(keyAdd, KEY),
    send(keyRemove, { keep: ed25519Blob(1), drop: ed25519Blob(2) }),
    send(restrict, { key: KEY, gateJson }),
  ];
  afterAll(() => rmSync(file, { force: true }));

  it('a symlinked or hard-linked authorized_keys is never rewritten through the gate: the link would be cut loose', () => {
    writeFileSync(managed, `ssh-ed25519 ${ed25519Blob(3)} owner\n`);
    symlinkSync(managed, file);
    // one sentence for a symlink and for other hard links: which one it is, only in the log
    const managedElsewhere = (line: string) =>
      expect(reason(line)).toMatch(
        new RegExp(
          `^script (key-add|key-remove|restrict-v2): ${file} is a file managed elsewhere \\(a symlink, or a file with other hard links\\): rewriting it would cut it loose from that file; `,
        ),
      );
    for (const line of lines()) managedElsewhere(line);
    expect(successors().map((l) => decide(l, policy))).toMatchObject([
      { kind: 'script', name: 'key-add-v2' },
      { kind: 'script', name: 'key-remove-v2' },
      { kind: 'script', name: 'restrict-v3' },
    ]);
    expect(decide(lines()[0]!, policy)).toMatchObject({ detail: 'it is a symlink' });
    // the controller knows this refusal (a gate of the last round, after it refused the new version as unknown)
    for (const line of lines())
      expect(keyFileManaged(syntheticResult({ exitCode: 1, stderr: `till gate: refused: ${reason(line)}\n` }))).toBe(
        true,
      );
    expect(keyFileManaged(syntheticResult({ exitCode: 15 }))).toBe(true);
    expect(keyFileManaged(syntheticResult({ exitCode: 1, stderr: 'till gate: refused: script key-add: x\n' }))).toBe(
      false,
    );
    rmSync(file);
    linkSync(managed, file);
    for (const line of lines()) managedElsewhere(line);
    expect(decide(lines()[0]!, policy)).toMatchObject({ detail: 'it has 2 hard links' });
    expect(reason(lines()[0]!)).toMatch(/change till's key line on this host by hand \(the old key stays authorized/);
    expect(reason(lines()[2]!)).toMatch(/edit ~\/.till\/gate.json and till's key line on this host by hand/);
    rmSync(file);
    // a plain file (or none yet): the scripts run, as before
    writeFileSync(file, `ssh-ed25519 ${ed25519Blob(3)} owner\n`);
    for (const line of lines()) expect(kind(line)).toBe('script');
    rmSync(file);
    for (const line of lines()) expect(kind(line)).toBe('script');
  });
});

describe('gate.json', () => {
  it('expands ~/ roots, defaults to no roots, and refuses a broken or unsafe file', async () => {
    const { writeFileSync } = await import('node:fs');
    const h = mkdtempSync(join(scratch, 'p-'));
    expect(loadPolicy(h)).toMatchObject({ home: h, deployRoots: [], upgrade: true, checks: [] });
    mkdirSync(join(h, '.till'));
    writeFileSync(join(h, '.till/gate.json'), JSON.stringify({ deployRoots: ['~/T', '/srv/app'], upgrade: false }));
    expect(loadPolicy(h)).toMatchObject({ deployRoots: [join(h, 'T'), '/srv/app'], upgrade: false });
    writeFileSync(join(h, '.till/gate.json'), '{ not json');
    expect(() => loadPolicy(h)).toThrow(/gate\.json/);
    writeFileSync(join(h, '.till/gate.json'), JSON.stringify({ deployRoots: ['~/../etc'] }));
    expect(() => loadPolicy(h)).toThrow(/deployRoots\.0: not a safe remote path/);
    writeFileSync(join(h, '.till/gate.json'), JSON.stringify({ deployRoots: 'x' }));
    expect(() => loadPolicy(h)).toThrow(/deployRoots/);
  });

  it("a broken gate.json's error quotes it: that goes to the log; the key is told one sentence, the same for every cause", () => {
    const h = mkdtempSync(join(scratch, 'p-'));
    mkdirSync(join(h, '.till'));
    const file = join(h, '.till/gate.json');
    const causes: [string, () => void][] = [
      ['not JSON', () => writeFileSync(file, 'owner-secret-4711 {')],
      [
        'a bad field',
        () =>
          writeFileSync(file, JSON.stringify({ deployRoots: ['/srv/owner-secret-4711', '/srv/owner-secret-4711/x'] })),
      ],
      ['a folder', () => (rmSync(file, { force: true }), mkdirSync(file))],
    ];
    for (const [cause, make] of causes) {
      make();
      expect(() => loadPolicy(h), cause).toThrow(cause === 'a folder' ? /EISDIR/ : /owner-secret-4711/);
      rmSync(file, { recursive: true, force: true });
    }
    // what the key is told names no content, and keeps the prefix `till host doctor` recognises
    expect(GATE_CONFIG_REFUSAL).toBe(
      'gate configuration: ~/.till/gate.json cannot be used; its owner finds why in ~/.till/logs/gate.log',
    );
  });
});

describe('decide: an error met while checking', () => {
  it('is a refusal of the command in one sentence; the errno text and the path are for the log', () => {
    const loop = () => {
      throw new Error(`ELOOP: too many symbolic links encountered, realpath '${home}/owner-secret/x'`);
    };
    // the --link-dest walk (under the lock), and a real path looked up between two looks that changed
    const line = `rsync --server -r --link-dest=../r1 . ${home}/Tekton.till/releases/r2`;
    expect(decide(line, policy).kind).toBe('rsync');
    expect(() => decide(line, { ...policy, outwardLink: loop })).toThrow(/ELOOP/);
    expect(decideOrRefuse(line, { ...policy, outwardLink: loop })).toEqual({
      kind: 'refuse',
      reason: 'the command could not be checked on this host; its owner finds why in ~/.till/logs/gate.log',
      detail: `ELOOP: too many symbolic links encountered, realpath '${home}/owner-secret/x'`,
    });
    let looks = 0;
    const racing = (p: string) => {
      looks += 1;
      return looks > 4 ? loop() : realpathDeepest(p);
    };
    expect(decideOrRefuse(line, { ...policy, realpath: racing })).toMatchObject({
      kind: 'refuse',
      reason: UNCHECKED_REFUSAL,
      detail: expect.stringContaining('ELOOP'),
    });
    expect(decideOrRefuse(line, policy).kind).toBe('rsync');
  });
});

describe('decide: the edges', () => {
  it('names the deploy root only for scripts that take one, written as gate.json has it', () => {
    expect(decide(send(doctor, { tektonPath: '~/Tekton' }), policy)).not.toHaveProperty('root');
    expect(decide(send(setupActivate, { version: '1', node: '/n' }), policy)).not.toHaveProperty('root');
    expect(decide(send(deployState, { path: '~/Tekton' }), policy)).toMatchObject({ root: join(home, 'Tekton') });
    expect(decide(send(deployState, { path: `${home}/Tekton` }), policy)).toMatchObject({
      root: join(home, 'Tekton'),
    });
    // A trailing slash would pass the comparison and make the script's `$P.till` `~/Tekton/.till`,
    // inside the live release (which an upload fills): refused, however many.
    for (const path of ['~/Tekton/', '~/Tekton//', `${home}/Tekton/`, `${home}//Tekton`])
      expect(reason(send(deployState, { path })), path).toMatch(/write it without a trailing \/, \/\/ or \. segment/);
    expect(decide('rsync --server -t . .till/lib/till-1.mjs', policy)).toStrictEqual({
      kind: 'rsync',
      name: `rsync to ${home}/.till/lib/till-1.mjs`,
      argv: ['--server', '-t', '.', `${home}/.till/lib/till-1.mjs`],
    });
  });

  it('reads a command of up to 256 KiB, and refuses one byte more unread', () => {
    const at = (n: number) => `x${'y'.repeat(n - 1)}`;
    // read whole, named by its first 80 characters (a reason is logged and shown)
    expect(reason(at(256 * 1024))).toBe(`"${at(80)}…" is not one of till's operations`);
    expect(reason(at(80))).toBe(`"${at(80)}" is not one of till's operations`);
    expect(reason(at(256 * 1024 + 1))).toBe('command longer than 262144 bytes');
    expect(reason(`é${'y'.repeat(256 * 1024 - 1)}`)).toBe('command longer than 262144 bytes'); // bytes, not characters
  });

  it('refuses sh alone, and sh with too few words', () => {
    for (const line of ['sh', 'sh -c', `sh -c ${shJoin([CHECK_SCRIPT])}`])
      expect(reason(line), line).toBe('a shell command that is not sent as sh -c SCRIPT till ARGS');
    expect(reason('sh;id')).toBe('not a till command: ";" outside quotes at column 3');
  });

  it('outwardLink: the first symlink to a folder outside the allowed ones, walking without following', () => {
    const t = join(scratch, 'outward');
    const rel = join(t, 'app.till/releases');
    const shared = join(t, 'app.till/shared');
    mkdirSync(join(rel, 'r1/deep/er'), { recursive: true });
    mkdirSync(join(rel, 'r0'), { recursive: true });
    mkdirSync(join(shared, 'logs'), { recursive: true });
    mkdirSync(join(t, 'secret'), { recursive: true });
    writeFileSync(join(t, 'secret/file'), 'x');
    const within = [rel, shared];
    // harmless: into another release, into shared (as till links a shared path), to a file
    // outside (rsync's lookup does not follow a last component), dangling, a loop
    symlinkSync('../../r0', join(rel, 'r1/deep/sibling'));
    symlinkSync('../../shared/logs', join(rel, 'r1/logs'));
    symlinkSync(join(t, 'secret/file'), join(rel, 'r1/file-out'));
    symlinkSync(join(t, 'nowhere'), join(rel, 'r1/dangling'));
    symlinkSync('loop', join(rel, 'r1/loop'));
    expect(outwardLink(join(rel, 'r1'), within)).toBeUndefined();
    expect(outwardLink(`${join(rel, 'r1')}/`, within)).toBeUndefined();
    // a folder outside, however deep, absolute or relative, or through another link
    symlinkSync('../../../../../secret', join(rel, 'r1/deep/er/out'));
    expect(outwardLink(join(rel, 'r1'), within)).toBe(`${join(rel, 'r1/deep/er/out')} -> ${join(t, 'secret')}`);
    rmSync(join(rel, 'r1/deep/er/out'));
    symlinkSync(join(rel, 'r1/deep/hop'), join(rel, 'r1/via'));
    symlinkSync(t, join(rel, 'r1/deep/hop'));
    expect(outwardLink(join(rel, 'r1'), within)).toMatch(new RegExp(`/r1/(via|deep/hop) -> ${t}$`));
    // the deploy root's folder itself is outside (its .till holds the lock and the log)
    rmSync(join(rel, 'r1/via'));
    rmSync(join(rel, 'r1/deep/hop'));
    symlinkSync('../..', join(rel, 'r1/up'));
    expect(outwardLink(join(rel, 'r1'), within)).toBe(`${join(rel, 'r1/up')} -> ${join(t, 'app.till')}`);
    // a tree that is not there: it cannot be listed, so it is not used
    expect(outwardLink(join(rel, 'gone'), within)).toBe(`${join(rel, 'gone')} (ENOENT)`);
    rmSync(join(rel, 'r1/up'));
    expect(outwardLink(join(rel, 'r1'), within)).toBeUndefined();
    // through a link into another release (or the releases folder), what lies there counts:
    // rsync's lookup of `s/x/authorized_keys` passes through both links
    symlinkSync(join(t, 'secret'), join(rel, 'r0/x'));
    symlinkSync('../../r0', join(rel, 'r1/deep/s'));
    expect(outwardLink(join(rel, 'r1'), within)).toBe(`${join(rel, 'r0/x')} -> ${join(t, 'secret')}`);
    rmSync(join(rel, 'r1/deep/s'));
    symlinkSync('..', join(rel, 'r1/all'));
    expect(outwardLink(join(rel, 'r1'), within)).toBe(`${join(rel, 'r0/x')} -> ${join(t, 'secret')}`);
    rmSync(join(rel, 'r0/x'));
    // loops through links into the tree end (each real folder is looked through once)
    symlinkSync('../r1', join(rel, 'r1/deep/back'));
    expect(outwardLink(join(rel, 'r1'), within)).toBeUndefined();
  });

  it('realpathDeepest: missing components appended in order, a file on the way or a loop is an error', async () => {
    const { symlinkSync: link, writeFileSync } = await import('node:fs');
    expect(realpathDeepest(join(scratch, 'no/such/dir'))).toBe(join(scratch, 'no/such/dir'));
    expect(realpathDeepest(join(home, 'Tekton.till/releases/evil/x/y'))).toBe(join(home, '.ssh/x/y'));
    writeFileSync(join(scratch, 'file'), '');
    expect(() => realpathDeepest(join(scratch, 'file/x'))).toThrow(/ENOTDIR/);
    link(join(scratch, 'loop'), join(scratch, 'loop'));
    expect(() => realpathDeepest(join(scratch, 'loop/x'))).toThrow(/ELOOP/);
    expect(() => realpathDeepest(join(home, 'Tekton.till/releases/dangling/x'))).toThrow(
      `${join(home, 'Tekton.till/releases/dangling')} is a dangling symlink`,
    );
  });
});

describe('the restrict script (run by a real sh)', () => {
  const key = KEY;
  const run = (h: string, args: string[], env: Record<string, string> = {}) => {
    try {
      return {
        code: 0,
        out: execFileSync('/bin/sh', ['-c', RESTRICT_SCRIPT, 'till', ...args], {
          env: { HOME: h, PATH: '/usr/bin:/bin', ...env },
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
        }),
      };
    } catch (err) {
      const e = err as { status: number; stderr: string };
      return { code: e.status, out: e.stderr };
    }
  };
  const args = [key.type, key.blob, key.comment, JSON.stringify({ deployRoots: ['~/T'] })];

  it("rewrites only till's line, once, idempotently, and writes gate.json", async () => {
    const { readFileSync, writeFileSync } = await import('node:fs');
    const h = mkdtempSync(join(scratch, 'r-'));
    mkdirSync(join(h, '.ssh'));
    const other = `ssh-ed25519 ${ed25519Blob(2)} me@laptop`;
    writeFileSync(
      join(h, '.ssh/authorized_keys'),
      `${other}\nssh-ed25519 ${key.blob} old-comment\n# comment\nfrom="1.2.3.4" ssh-ed25519 ${key.blob} dup\n`,
    );
    expect(run(h, args)).toMatchObject({ code: 3, out: expect.stringMatching(/till is not set up on this host/) });
    mkdirSync(join(h, '.till/bin'), { recursive: true });
    writeFileSync(join(h, '.till/bin/till'), '#!/bin/sh\n', { mode: 0o755 });
    expect(run(h, args).code).toBe(0);
    const expected = `${other}\nrestrict,command="${h}/.till/bin/till gate" ssh-ed25519 ${key.blob} till-federation@me@box\n# comment\n`;
    expect(readFileSync(join(h, '.ssh/authorized_keys'), 'utf8')).toBe(expected);
    expect(JSON.parse(readFileSync(join(h, '.till/gate.json'), 'utf8'))).toEqual({ deployRoots: ['~/T'] });
    expect(run(h, args).code).toBe(0);
    expect(readFileSync(join(h, '.ssh/authorized_keys'), 'utf8')).toBe(expected);
    // Hostile values are refused before anything is written.
    expect(run(h, [key.type, 'AAA$(id)', '', '{}']).code).toBe(2);
    expect(run(h, ['rm', key.blob, '', '{}']).code).toBe(2);
    expect(run(h, [key.type, key.blob, 'a b', '{}']).code).toBe(2);
    expect(run(h, [key.type, key.blob, '', '{}\n{}']).code).toBe(2);
    expect(run(h, [key.type, 'AAAAnotthere', '', '{}'])).toMatchObject({
      code: 3,
      out: expect.stringMatching(/till's key is not in/),
    });
    expect(readFileSync(join(h, '.ssh/authorized_keys'), 'utf8')).toBe(expected);
    // through the gate (TILL_GATE=1) only a line already in till's restricted form is rewritten
    const gated = { TILL_GATE: '1' };
    const op = other.split(' ');
    expect(run(h, [op[0]!, op[1]!, '', JSON.stringify({ deployRoots: ['~/T'] })], gated)).toMatchObject({
      code: 3,
      out: expect.stringMatching(/through till gate only that line is rewritten/),
    });
    expect(readFileSync(join(h, '.ssh/authorized_keys'), 'utf8')).toBe(expected);
    expect(run(h, args, gated).code).toBe(0);
    expect(readFileSync(join(h, '.ssh/authorized_keys'), 'utf8')).toBe(expected);
  });
});
