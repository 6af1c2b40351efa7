import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLab, type Lab } from '../lab/lab.js';
import { closeMasters, tempHome, till, tillOk } from '../lab/till.js';

/** host doctor and host remove --clean-remote on a host whose key is restricted to `till gate`. */
describe('restricted host: doctor and remove --clean-remote through the gate', { timeout: 600_000 }, () => {
  let home: string;
  let lab: Lab;
  let scratch: string;
  const host = () => lab.hosts[0]!;
  const keysFile = () => join(host().home, '.ssh/authorized_keys');
  const gateLog = () => readFileSync(join(host().home, '.till/logs/gate.log'), 'utf8');
  const pub = () => readFileSync(`${home}/ssh/till_federation_ed25519.pub`, 'utf8').trim();
  const restrictedLine = () => `restrict,command="${host().home}/.till/bin/till gate" ${pub()}`;
  type Doctor = {
    host: string;
    ok: boolean;
    restricted: boolean | null;
    checks: Array<{ name: string; status: string; detail: string; fix: string | null }>;
  };
  const doctor = async () => {
    const r = await till(home, ['host', 'doctor', 'h0', '--json']);
    return { code: r.code, doc: JSON.parse(r.stdout) as Doctor };
  };
  const check = (doc: Doctor, name: string) => doc.checks.find((c) => c.name === name)!;
  /** ssh with till's key but none of its config. */
  const rawSsh = (command: string) => {
    const h = host();
    return spawnSync(
      'ssh',
      [
        '-i',
        `${home}/ssh/till_federation_ed25519`,
        '-F',
        '/dev/null',
        '-o',
        `UserKnownHostsFile=${home}/ssh/known_hosts`,
        '-o',
        'StrictHostKeyChecking=yes',
        '-o',
        'BatchMode=yes',
        '-o',
        'IdentitiesOnly=yes',
        '-p',
        String(h.port),
        `${h.user}@${h.address}`,
        command,
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 },
    );
  };

  beforeAll(async () => {
    home = tempHome().home;
    scratch = mkdtempSync('/tmp/t-gadm-');
    await tillOk(home, ['host', 'init']);
    lab = await startLab(1, { authorizedKey: readFileSync(`${home}/ssh/till_federation_ed25519.pub`, 'utf8') });
    await tillOk(home, ['host', 'add', 'h0', host().spec]);
    const r = await tillOk(home, ['host', 'setup', 'h0', '--restrict', '--json'], { timeoutMs: 240_000 });
    expect(JSON.parse(r.stdout).results[0]).toMatchObject({ ok: true, restricted: true });
  }, 300_000);

  afterAll(async () => {
    lab?.stop();
    await closeMasters(home);
    rmSync(scratch, { recursive: true, force: true });
  });

  it('doctor runs every check on a healthy restricted host, passes, and says the key is restricted', async () => {
    const logStart = gateLog().length;
    const { code, doc } = await doctor();
    expect(code).toBe(0);
    expect(doc).toMatchObject({ host: 'h0', ok: true, restricted: true });
    expect(doc.checks.map((c) => c.name)).toEqual(['key', 'dns', 'tcp', 'host-key', 'auth', 'till', 'disk']);
    for (const c of doc.checks) expect(c.status, `${c.name}: ${c.detail}`).toBe('pass');
    expect(check(doc, 'auth').detail).toBe(
      `logged in as ${host().user} with till's key, restricted to till gate (docs/gate.md)`,
    );
    expect(check(doc, 'till').detail).toMatch(/^till \d+\.\d+\.\d+\S* is installed/);
    expect(check(doc, 'disk').detail).toMatch(/free at /);
    expect(gateLog().slice(logStart)).toMatch(/allowed doctor from/);
    expect(gateLog().slice(logStart)).not.toMatch(/refused from/);

    const human = await till(home, ['host', 'doctor', 'h0']);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/pass\s+auth\s+logged in as \S+ with till's key, restricted to till gate/);
    expect(human.stdout).toContain('h0: no problems found (7 passed, 0 failed, 0 warnings, 0 skipped)');
  });

  it('doctor: a broken gate.json fails the till check; a key that lost its restriction is a warning', async () => {
    const gateJson = join(host().home, '.till/gate.json');
    const good = readFileSync(gateJson, 'utf8');
    host().shell(`printf '{ broken' > .till/gate.json`);
    try {
      const { code, doc } = await doctor();
      expect(code).toBe(1);
      expect(doc.restricted).toBe(true);
      expect(check(doc, 'till')).toMatchObject({
        status: 'fail',
        detail: expect.stringContaining('till gate on the host refuses every command: gate configuration:'),
      });
      expect(check(doc, 'till').fix).toContain('gate.json');
      expect(check(doc, 'disk').status).toBe('skip');
    } finally {
      host().shell(`printf '%s' '${good.trim()}' > .till/gate.json`);
    }

    // Someone rewrote till's line without the restriction; hosts-local.json still says restricted.
    writeFileSync(keysFile(), `${pub()}\n`);
    try {
      const { code, doc } = await doctor();
      expect(code).toBe(0);
      expect(doc.restricted).toBe(false);
      expect(check(doc, 'auth')).toMatchObject({ status: 'warn', detail: expect.stringContaining('NOT restricted') });
      expect(check(doc, 'auth').fix).toContain('till host setup h0 --restrict');
      expect(check(doc, 'till').status).toBe('pass');
    } finally {
      writeFileSync(keysFile(), `${restrictedLine()}\n`);
    }
    expect((await doctor()).doc).toMatchObject({ ok: true, restricted: true });
  });

  it('the gate allows clean-remote exactly, and nothing that removes anything else', () => {
    const canary = join(scratch, 'canary');
    for (const line of [
      'rm -rf -- "$HOME"/.ssh',
      `rm -rf -- "$HOME"/.till; touch ${canary}`,
      'rm -rf -- "$HOME"/.till/..',
      'rm -rf -- "$HOME"/.till ~',
      'rm -rf ~/.till',
    ]) {
      const r = rawSsh(line);
      expect(r.status, line).toBe(1);
      expect(r.stderr, line).toContain('till gate: refused:');
    }
    expect(existsSync(canary)).toBe(false);
    expect(existsSync(join(host().home, '.till/bin/till'))).toBe(true);
    expect(readFileSync(keysFile(), 'utf8')).toBe(`${restrictedLine()}\n`);
  });

  it("host remove --clean-remote removes ~/.till through the gate (the gate with it); the key's line stays and can run nothing", async () => {
    const r = await till(home, ['host', 'remove', 'h0', '--clean-remote']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      "h0: removed ~/.till, and with it till gate: till's restricted key line stays in ~/.ssh/authorized_keys but can run nothing now",
    );
    expect(r.stderr).toContain('removed h0');
    expect(existsSync(join(host().home, '.till'))).toBe(false);
    expect(readFileSync(keysFile(), 'utf8')).toBe(`${restrictedLine()}\n`);
    expect(JSON.parse((await tillOk(home, ['host', 'list', '--json'])).stdout).hosts).toEqual([]);
    // the forced command is gone: the key runs nothing at all
    const after = rawSsh('echo TILL_TEST_SUCCESS');
    expect(after.status).toBe(127);
    expect(after.stdout).toBe('');
  });
});
