import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupCheck, test } from '../../src/protocol/host.js';
import { cshSafeLine, GATE_REFUSED, remoteScript } from '../../src/protocol/wire.js';
import { startLab, type Lab, type LabHost } from '../lab/lab.js';
import { closeMasters, hostResult, liveRelease, tempHome, till, tillOk } from '../lab/till.js';
import { LOCAL_VERSION } from './helpers-remote.js';

/**
 * Hosts whose login shell is tcsh (FreeBSD's root before 14, some sites' users). sshd
 * runs every command through it, and tcsh cannot take a newline inside quotes: it
 * complains ("Unmatched '''.") of the line that opens the quote and runs the lines after
 * it itself. till's multi-line scripts (setup's check, deploy's prepare, compare, switch,
 * rollback) then go in a one-line form (cshSafeLine). h0 is reached with an unrestricted
 * key; h1 through `till gate` (its forced command is one line, and the gate runs the
 * scripts with sh itself), which must see only the forms it knows.
 */
describe('a tcsh login shell', { timeout: 600_000 }, () => {
  let home: string;
  let lab: Lab;
  let work: string;
  const src = () => join(work, 'src');
  const deploy = async (extra: string[] = []) => {
    const r = await till(home, ['host', 'deploy', 'h0', 'h1', '--source', src(), '--json', ...extra], {
      timeoutMs: 120_000,
    });
    return { code: r.code, doc: JSON.parse(r.stdout), stderr: r.stderr };
  };
  /** Files tcsh could have made by running a line of a script itself: anything new in the home but till's own. */
  const stray = (h: LabHost) =>
    execFileSync('find', [h.home, '-mindepth', '1', '-maxdepth', '1', '-newer', join(work, 'stamp')], {
      encoding: 'utf8',
    })
      .split('\n')
      .filter((l) => l !== '' && !/\/(\.till|projects|\.ssh|\.cache)$/.test(l));

  beforeAll(async () => {
    expect(existsSync('/usr/bin/tcsh'), 'apt-get install tcsh').toBe(true);
    home = tempHome().home;
    work = mkdtempSync('/tmp/t-csh-');
    await tillOk(home, ['host', 'init']);
    const key = readFileSync(`${home}/ssh/till_federation_ed25519.pub`, 'utf8');
    lab = await startLab(2, { authorizedKey: key });
    for (const h of lab.hosts) await tillOk(home, ['host', 'add', `h${h.index}`, h.spec]);
    await tillOk(home, ['host', 'setup', 'h1', '--restrict'], { timeoutMs: 240_000 });
    for (const h of lab.hosts) execFileSync('/usr/sbin/usermod', ['-s', '/usr/bin/tcsh', h.user]);
    // A master authenticated before the change would still run the old shell.
    for (const s of readdirSync(join(home, 'ssh/control')))
      spawnSync('ssh', ['-o', `ControlPath=${join(home, 'ssh/control', s)}`, '-O', 'exit', 'x'], { stdio: 'ignore' });
    mkdirSync(join(src(), 'lib'), { recursive: true });
    writeFileSync(join(src(), 'README.md'), 'v1\n');
    writeFileSync(join(src(), 'lib/a.txt'), 'A\n');
    writeFileSync(join(work, 'stamp'), '');
  }, 400_000);

  afterAll(async () => {
    lab?.stop();
    await closeMasters(home);
    rmSync(work, { recursive: true, force: true });
  });

  it('runs commands in tcsh, as a person logged in would', async () => {
    const r = await tillOk(home, ['host', 'exec', 'h0', '--', 'echo $shell']);
    expect(r.stdout).toContain('/usr/bin/tcsh');
  });

  it('host setup installs till over the unrestricted key (its check is a multi-line script)', async () => {
    const r = await till(home, ['host', 'setup', 'h0', '--json'], { timeoutMs: 240_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).results[0]).toMatchObject({ ok: true, status: 'ok' });
    expect(lab.hosts[0]!.shell('test -x .till/bin/till && echo yes').trim()).toBe('yes');
    // Remembered for later runs (their first script goes in the one-line form at once); h1's gate never needed it.
    expect(readFileSync(join(home, 'state/csh-hosts'), 'utf8')).toBe('h0\n');
  });

  it('host test reports the installed till on both hosts, and learns which login shell is csh before any multi-line script', async () => {
    // As a TILL_HOME that never met h0: host test is its first contact.
    rmSync(join(home, 'state/csh-hosts'));
    const r = await till(home, ['host', 'test', 'h0', 'h1', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    for (const host of ['h0', 'h1'])
      expect(hostResult(doc, host)).toMatchObject({ ok: true, tillVersion: LOCAL_VERSION });
    const db = JSON.parse(readFileSync(join(home, 'hosts-local.json'), 'utf8'));
    for (const host of ['h0', 'h1'])
      expect(db.hosts[host]).toMatchObject({ status: 'till-ready', till_version: LOCAL_VERSION });
    // h0's next scripts go in the one-line form at once; h1's gate runs them with sh and is not listed.
    expect(readFileSync(join(home, 'state/csh-hosts'), 'utf8')).toBe('h0\n');
    for (const h of lab.hosts) expect(stray(h)).toEqual([]);
  });

  it('deploys, redeploys a change, leaves an unchanged host as it is, and rolls back, on both hosts', async () => {
    const [h0, h1] = lab.hosts as [LabHost, LabHost];
    const gateLog = () => readFileSync(join(h1.home, '.till/logs/gate.log'), 'utf8').split('\n');
    const gateBefore = gateLog().length;
    const first = await deploy();
    expect(first.code, first.stderr).toBe(0);
    for (const host of ['h0', 'h1']) expect(hostResult(first.doc, host)).toMatchObject({ ok: true, unchanged: false });
    const ids = [liveRelease(h0), liveRelease(h1)];
    for (const h of [h0, h1]) expect(h.shell('cat projects/github/Tekton/lib/a.txt')).toBe('A\n');

    writeFileSync(join(src(), 'lib/a.txt'), 'A2\n');
    const changed = await deploy();
    expect(changed.code, changed.stderr).toBe(0);
    for (const h of [h0, h1]) expect(h.shell('cat projects/github/Tekton/lib/a.txt')).toBe('A2\n');
    const afterChange = [liveRelease(h0), liveRelease(h1)];
    expect(afterChange).not.toEqual(ids);

    // By listing (deploy-compare-v2), then by a dry-run rsync (a .tillignore: deploy-compare-rsync on h0).
    const same = await deploy();
    expect(same.code, same.stderr).toBe(0);
    for (const host of ['h0', 'h1'])
      expect(hostResult(same.doc, host)).toMatchObject({ ok: true, unchanged: true, compared: 'listing' });
    writeFileSync(join(src(), '.tillignore'), '*.log\n');
    await tillOk(home, ['host', 'deploy', 'h0', 'h1', '--source', src()], { timeoutMs: 120_000 });
    const ignored = await deploy();
    expect(ignored.code, ignored.stderr).toBe(0);
    for (const host of ['h0', 'h1'])
      expect(hostResult(ignored.doc, host)).toMatchObject({ ok: true, unchanged: true, compared: 'rsync' });
    // The .tillignore is part of the source: that deploy made a release of its own.
    expect([liveRelease(h0), liveRelease(h1)]).not.toEqual(afterChange);

    const back = await till(home, ['host', 'rollback', 'h0', 'h1', '--json'], { timeoutMs: 120_000 });
    expect(back.code, back.stderr).toBe(0);
    for (const [i, h] of [h0, h1].entries()) {
      expect(liveRelease(h)).toBe(afterChange[i]);
      expect(h.shell('cat projects/github/Tekton/lib/a.txt')).toBe('A2\n');
      // No deploy lock left behind, and nothing tcsh made of a script's lines.
      expect(h.shell('test -e projects/github/Tekton.till/lock && echo locked || echo free').trim()).toBe('free');
      expect(stray(h)).toEqual([]);
    }
    // The gate saw only the texts it knows: nothing refused, and the runs went through it.
    const seen = gateLog().slice(gateBefore - 1);
    expect(seen.filter((l) => l.includes('refused'))).toEqual([]);
    expect(seen.filter((l) => /allowed deploy-(prepare|switch|compare)/.test(l)).length).toBeGreaterThanOrEqual(6);
  });

  it("the gate refuses the one-line form: it is no text of till's (nothing runs, the refusal is logged)", () => {
    const h1 = lab.hosts[1]!;
    const line = cshSafeLine(setupCheck.versions[0]!, undefined)!;
    const r = spawnSync('ssh', ['-F', join(home, 'ssh/config'), '-T', '--', 'till-h1', line], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(GATE_REFUSED);
    expect(r.stdout).not.toContain('TILL_SETUP_CHECK');
    expect(readFileSync(join(h1.home, '.till/logs/gate.log'), 'utf8').trimEnd().split('\n').pop()).toMatch(/refused/);
  });

  it('the gate runs test-v2 only as registered: an added argument, a line break or a command after it is refused and nothing runs', () => {
    const h1 = lab.hosts[1]!;
    const v2 = remoteScript(test.versions[0]!.text);
    const send = (line: string) =>
      spawnSync('ssh', ['-F', join(home, 'ssh/config'), '-T', '--', 'till-h1', line], { encoding: 'utf8' });
    const ok = send(v2);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('TILL_TEST_SUCCESS');
    expect(ok.stdout).not.toContain('TILL_LOGIN_CSH'); // the gate ran it with sh, TILL_GATE set
    for (const [line, why] of [
      [`${v2} 'x\ntouch pwned'`, /takes 0 arguments, got 1/],
      [`${v2} --version`, /takes 0 arguments, got 1/],
      [`${v2}; touch pwned`, /";" outside quotes/],
      [`${v2}\ntouch pwned`, /not a till command: control character 0x0a outside quotes/],
    ] as const) {
      const r = send(line);
      expect(r.status, line).toBe(1);
      expect(r.stderr).toMatch(why);
      expect(r.stdout).not.toContain('TILL_TEST_SUCCESS');
    }
    expect(existsSync(join(h1.home, 'pwned'))).toBe(false);
    const log = readFileSync(join(h1.home, '.till/logs/gate.log'), 'utf8').trimEnd().split('\n');
    expect(log.slice(-4).every((l) => l.includes('refused'))).toBe(true);
  });

  it('a restricted host wrongly remembered as csh: its gate refuses the one-line form, the plain line runs, the entry goes', async () => {
    const h1 = lab.hosts[1]!;
    writeFileSync(join(home, 'state/csh-hosts'), 'h0\nh1\n');
    const before = liveRelease(h1);
    writeFileSync(join(src(), 'lib/a.txt'), 'A3\n');
    const r = await deploy();
    expect(r.code, r.stderr).toBe(0);
    expect(liveRelease(h1)).not.toBe(before);
    expect(h1.shell('cat projects/github/Tekton/lib/a.txt')).toBe('A3\n');
    expect(readFileSync(join(home, 'state/csh-hosts'), 'utf8')).toBe('h0\n');
  });
});
