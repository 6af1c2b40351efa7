import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startLab, type Lab, type LabHost } from '../lab/lab.js';
import { closeMasters, TILL_BIN, tempHome, till, tillOk } from '../lab/till.js';

/** The lab host's own key fingerprint, as its administrator would read it. */
const hostFingerprint = (h: LabHost) =>
  execFileSync('ssh-keygen', ['-lf', `${h.dir}/host_ed25519.pub`], { encoding: 'utf8' }).split(' ')[1]!;
const knownHosts = (home: string) => readFileSync(`${home}/ssh/known_hosts`, 'utf8');

describe('host keys: changed key, forget, trust', () => {
  let home: string;
  let lab: Lab;
  beforeAll(async () => {
    ({ home } = tempHome());
    await tillOk(home, ['host', 'init']);
    lab = await startLab(2, { authorizedKey: readFileSync(`${home}/ssh/till_federation_ed25519.pub`, 'utf8') });
    await tillOk(home, ['host', 'add', 'web1', lab.hosts[0]!.spec]);
    await tillOk(home, ['host', 'add', 'web2', lab.hosts[1]!.spec]);
  });
  afterAll(async () => {
    lab?.stop();
    if (home) await closeMasters(home);
  });

  test('a changed host key stops every operation, naming the host and both fingerprints; forget lets the next contact accept it', async () => {
    const h = lab.hosts[0]!;
    await tillOk(home, ['host', 'test', 'web1']);
    const before = hostFingerprint(h);
    await h.changeHostKey();
    const after = hostFingerprint(h);
    expect(after).not.toBe(before);

    const r = await till(home, ['host', 'test', 'web1', '--json']);
    expect(r.code).toBe(1);
    const error: string = JSON.parse(r.stdout).results[0].error;
    expect(error).toContain('host key changed for host web1');
    expect(error).toContain(before);
    expect(error).toContain(after);
    expect(error).toContain('till host forget web1');
    // not retried: a changed key will not change back by itself
    expect(JSON.parse(r.stdout).results[0].attempts).toBe(1);
    const exec = await till(home, ['host', 'exec', 'web1', '--', 'touch', 'should-not-exist']);
    expect(exec.code).toBe(1);
    expect(exec.stdout + exec.stderr).toContain(after);
    expect(existsSync(`${h.home}/should-not-exist`)).toBe(false);

    const forget = await till(home, ['host', 'forget', 'web1']);
    expect(forget.code, forget.stderr).toBe(0);
    expect(knownHosts(home)).not.toContain(`[${h.address}]:${h.port}`);
    await tillOk(home, ['host', 'test', 'web1']);
    expect(knownHosts(home)).toContain(`[${h.address}]:${h.port}`);
  });

  test('forget asks on a terminal: "n" keeps the key, --yes does not ask', () => {
    const h = lab.hosts[0]!;
    const onTty = (args: string, input: string) =>
      spawnSync('script', ['-qec', `${process.execPath} ${TILL_BIN} ${args}`, '/dev/null'], {
        input,
        encoding: 'utf8',
        timeout: 60_000,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, TILL_HOME: home, NO_COLOR: '1', TERM: 'dumb' },
      });
    const kh = knownHosts(home);
    expect(kh).toContain(`[${h.address}]:${h.port}`);
    const no = onTty('host forget web1', 'n\n');
    expect(no.stdout).toContain('Forget the host key of web1?');
    expect(no.status).toBe(2);
    expect(knownHosts(home)).toBe(kh);
    const yes = onTty('host forget web1 --yes', '');
    expect(yes.status, yes.stdout).toBe(0);
    expect(yes.stdout).not.toContain('Forget the host key');
    expect(knownHosts(home)).not.toContain(`[${h.address}]:${h.port}`);
  });

  test('trust pins the right key before first contact, and refuses a wrong fingerprint without writing anything', async () => {
    const h = lab.hosts[1]!;
    const khBefore = knownHosts(home);
    expect(khBefore).not.toContain(`[${h.address}]:${h.port}`);
    const wrong = `SHA256:${'A'.repeat(43)}`;
    const bad = await till(home, ['host', 'trust', 'web2', '--fingerprint', wrong]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(hostFingerprint(h));
    expect(bad.stderr).toContain('nothing was written');
    expect(knownHosts(home)).toBe(khBefore);

    const bogus = await till(home, ['host', 'trust', 'web2', '--fingerprint', 'SHA256:$(touch /tmp/x)']);
    expect(bogus.code).toBe(2);

    const ok = await till(home, ['host', 'trust', 'web2', '--fingerprint', hostFingerprint(h), '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).pinned.fingerprint).toBe(hostFingerprint(h));
    const pinned = knownHosts(home)
      .split('\n')
      .filter((l) => l.startsWith(`[${h.address}]:${h.port} `));
    expect(pinned).toHaveLength(1);
    await tillOk(home, ['host', 'test', 'web2']);
    // the first contact found the pinned key: accept-new had nothing to add
    expect(
      knownHosts(home)
        .split('\n')
        .filter((l) => l.startsWith(`[${h.address}]:${h.port} `)),
    ).toEqual(pinned);

    // a reinstall: trust the new key directly, replacing the old entry
    await h.changeHostKey();
    expect((await till(home, ['host', 'test', 'web2'])).code).toBe(1);
    await tillOk(home, ['host', 'trust', 'web2', '--fingerprint', hostFingerprint(h)]);
    expect(
      knownHosts(home)
        .split('\n')
        .filter((l) => l.startsWith(`[${h.address}]:${h.port} `)),
    ).toHaveLength(1);
    await tillOk(home, ['host', 'test', 'web2']);
  });

  test('trust of a host that is down exits 1 and writes nothing', async () => {
    const kh = knownHosts(home);
    lab.hosts[1]!.stop();
    const r = await till(home, ['host', 'trust', 'web2', '--fingerprint', `SHA256:${'B'.repeat(43)}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('could not fetch the host keys of web2');
    expect(knownHosts(home)).toBe(kh);
    await lab.hosts[1]!.start();
  });
});
