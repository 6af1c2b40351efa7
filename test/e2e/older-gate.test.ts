/**
 * A restricted host whose till, and so whose till gate, is older than the controller's:
 * doctor probes it and warns, the fleet views (host list, host show, status) flag it,
 * and host setup upgrades it through the gate, after which the flags are gone. The older
 * till is a real one: this source built with an older version, which sets the host up.
 */
import { chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLab, type Lab } from '../lab/lab.js';
import { closeMasters, tempHome, till, tillOk } from '../lab/till.js';
import { buildVariant, LOCAL_VERSION, tillVariant } from './helpers-remote.js';

// A pre-release is older than its release: the host runs the release candidate of this till.
const OLD = `${LOCAL_VERSION.split('-')[0]}-rc.1`;
const NOTE = `till gate older than this till (${LOCAL_VERSION}) on 1 restricted host: h0 (${OLD}); fixes to the gate reach a host only when it runs a newer till: till host setup h0`;

describe('a restricted host on an older till', { timeout: 600_000 }, () => {
  let home: string;
  let lab: Lab;
  let scratch: string;
  const json = async (args: string[]) => JSON.parse((await tillOk(home, [...args, '--json'])).stdout);
  const doctorTill = async (name: string) => {
    const r = await till(home, ['host', 'doctor', name, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    return { report, check: report.checks.find((c: { name: string }) => c.name === 'till') };
  };

  beforeAll(async () => {
    expect(LOCAL_VERSION).not.toContain('-');
    home = tempHome().home;
    scratch = mkdtempSync('/tmp/t-og-');
    await tillOk(home, ['host', 'init']);
    lab = await startLab(2, { authorizedKey: readFileSync(`${home}/ssh/till_federation_ed25519.pub`, 'utf8') });
    await tillOk(home, ['host', 'add', 'h0', lab.hosts[0]!.spec]);
    await tillOk(home, ['host', 'add', 'h1', lab.hosts[1]!.spec]);
    // The older till sets up both: h0 restricted to its gate, h1 not (its till is no trust boundary).
    const old = await buildVariant(OLD, scratch);
    for (const args of [['h0', '--restrict'], ['h1']]) {
      const r = await tillVariant(old, home, ['host', 'setup', ...args]);
      expect(r.code, r.stderr).toBe(0);
    }
    expect(lab.hosts[0]!.shell('~/.till/bin/till --version').trim()).toBe(OLD);
    // Health records the old version in the snapshot too, which a later setup outdates.
    await tillOk(home, ['host', 'health', 'h0', 'h1', '--load-max', '1000', '--disk-min', '0']);
  }, 300_000);

  afterAll(async () => {
    lab?.stop();
    await closeMasters(home);
    rmSync(scratch, { recursive: true, force: true });
  });

  it('host doctor probes the host through its gate and warns that the gate is older, with the fix', async () => {
    const text = await till(home, ['host', 'doctor', 'h0']);
    expect(text.code, text.stderr).toBe(0); // a warning, not a failure
    expect(text.stdout).toContain(
      `  warn  till      till ${OLD} is installed (~/.till/bin/till) and runs the host's till gate: it is older than this till (${LOCAL_VERSION})\n` +
        `                  fix: run: till host setup h0 (installs this till, ${LOCAL_VERSION}, through the gate; the key stays restricted; fixes to till gate reach the host only when it runs a newer till)\n`,
    );
    const { report, check } = await doctorTill('h0');
    expect(report).toMatchObject({ ok: true, restricted: true });
    expect(check.status).toBe('warn');
    // The unrestricted host runs the same older till: only its version is reported.
    const plain = await doctorTill('h1');
    expect(plain.check).toEqual({
      name: 'till',
      status: 'pass',
      detail: `till ${OLD} is installed (~/.till/bin/till)`,
      fix: null,
    });
  });

  it('host list, host show and status flag the restricted host, never the unrestricted one', async () => {
    const list = await tillOk(home, ['host', 'list']);
    expect(list.stdout.split('\n')[0]).toMatch(/^NAME +ADDRESS +STATUS +LAST TEST +LAST SYNC +GROUPS$/);
    expect(list.stdout).not.toContain('gate');
    expect(list.stderr.trimEnd().split('\n').at(-1)).toBe(NOTE);
    const hosts = (await json(['host', 'list'])).hosts;
    expect(hosts.map((h: { name: string; gate_outdated: boolean }) => [h.name, h.gate_outdated])).toEqual([
      ['h0', true],
      ['h1', false],
    ]);
    expect(hosts[0]).toMatchObject({ restricted: true, till_version: OLD });

    const show = (await tillOk(home, ['host', 'show', 'h0'])).stdout;
    expect(show).toContain(`\ntill version   ${OLD} (older than this till, ${LOCAL_VERSION})\n`);
    expect(show).toContain(
      "\nkey            restricted to till gate; the gate is the host's older till: fixes to it reach the host only when it runs a newer till (upgrade: till host setup h0)\n",
    );
    expect(await json(['host', 'show', 'h0'])).toMatchObject({ gate_outdated: true });
    const showPlain = (await tillOk(home, ['host', 'show', 'h1'])).stdout;
    expect(showPlain).toContain(`\ntill version   ${OLD}\n`);
    expect(showPlain).not.toMatch(/older|gate/);

    const status = (await tillOk(home, ['status'])).stdout;
    expect(status.trimEnd().split('\n').slice(-2)).toEqual(['', NOTE]);
    const view = await json(['status']);
    expect(view.version).toBe(LOCAL_VERSION);
    expect(view.hosts.map((h: { name: string; gateOutdated: boolean }) => [h.name, h.gateOutdated])).toEqual([
      ['h0', true],
      ['h1', false],
    ]);
    const page = join(scratch, 'status.html');
    await tillOk(home, ['status', '--html', page]);
    const html = readFileSync(page, 'utf8');
    expect(html).toContain(
      `<li class="gate-old"><span class="badge gate">old gate</span> <a href="#host-h0"><strong>h0</strong></a>`,
    );
    expect(html).toContain(`till ${OLD} · gate older than ${LOCAL_VERSION}`);
    expect(html.match(/· gate older than/g)).toHaveLength(1);
  });

  it('a gate.json with "upgrade": false refuses the upgrade, and the host stays flagged', async () => {
    const h0 = lab.hosts[0]!;
    const gateJson = join(h0.home, '.till/gate.json');
    const policy = readFileSync(gateJson, 'utf8');
    writeFileSync(gateJson, JSON.stringify({ ...JSON.parse(policy), upgrade: false }));
    chownSync(gateJson, h0.uid, h0.gid);
    try {
      const r = await till(home, ['host', 'setup', 'h0']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/refused by till gate on the host: .*"upgrade": false/);
      expect(h0.shell('~/.till/bin/till --version').trim()).toBe(OLD);
      expect((await tillOk(home, ['host', 'list'])).stderr.trimEnd().split('\n').at(-1)).toBe(NOTE);
    } finally {
      writeFileSync(gateJson, policy);
    }
  });

  it('host setup upgrades it through the gate, the key stays restricted and the flags go; again, it says nothing new', async () => {
    const up = await json(['host', 'setup', 'h0']);
    expect(up.results[0]).toMatchObject({
      ok: true,
      changed: true,
      previousVersion: OLD,
      tillVersion: LOCAL_VERSION,
    });
    const gateLog = readFileSync(join(lab.hosts[0]!.home, '.till/logs/gate.log'), 'utf8');
    expect(gateLog).toMatch(/ allowed setup-activate\S* from /);
    expect(readFileSync(join(lab.hosts[0]!.home, '.ssh/authorized_keys'), 'utf8')).toMatch(
      /^restrict,command="[^"]+\/\.till\/bin\/till gate" ssh-ed25519 /m,
    );
    expect(lab.hosts[0]!.shell('~/.till/bin/till --version').trim()).toBe(LOCAL_VERSION);

    const list = await tillOk(home, ['host', 'list']);
    expect(list.stderr).not.toContain('gate');
    expect((await json(['host', 'list'])).hosts[0]).toMatchObject({
      restricted: true,
      till_version: LOCAL_VERSION,
      gate_outdated: false,
    });
    expect((await tillOk(home, ['host', 'show', 'h0'])).stdout).not.toContain('older');
    expect((await tillOk(home, ['status'])).stdout).not.toContain('gate');
    // The health snapshot still says OLD; the version setup recorded since is the one shown.
    const row = (await json(['status'])).hosts[0];
    expect(row).toMatchObject({ tillVersion: LOCAL_VERSION, gateOutdated: false });
    expect(readFileSync(join(home, 'hosts-local.json'), 'utf8')).toContain(`"tillVersion": "${OLD}"`);
    expect((await tillOk(home, ['status', '--html', join(scratch, 'after.html')])).code).toBe(0);
    expect(readFileSync(join(scratch, 'after.html'), 'utf8')).not.toContain('gate older');

    const { check } = await doctorTill('h0');
    expect(check).toMatchObject({
      status: 'pass',
      detail: `till ${LOCAL_VERSION} is installed (~/.till/bin/till) and runs the host's till gate: the same version as this till`,
    });

    const again = await tillOk(home, ['host', 'setup', 'h0']);
    expect(again.stdout).toContain(`${LOCAL_VERSION} (unchanged)`);
    expect(`${again.stdout}${again.stderr}`).not.toMatch(/gate|older/);
  });
});
