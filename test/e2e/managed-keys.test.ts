import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { test as testOp } from '../../src/protocol/host.js';
import { remoteScript } from '../../src/protocol/wire.js';
import { startLab, type Lab, type LabHost } from '../lab/lab.js';
import { closeMasters, hostResult, tempHome, till, tillOk } from '../lab/till.js';

/**
 * An authorized_keys managed elsewhere: a symlink to a file configuration management
 * owns, or a file with other hard links. till never renames a copy over it, over any key
 * (the gate checks nothing on an unrestricted host): `setup --restrict` and `rotate-key`
 * fail on such a host with a sentence that says what to edit by hand, and the link, its
 * file and the key that logs in stay as they were.
 *
 * h0 plain, h1 a symlink, h2 a hard link (unrestricted); h3 restricted, then made a symlink.
 */
const KEY = 'till_federation_ed25519';
const TEST_COMMAND = remoteScript(testOp.versions[0]!.text);
const WHY =
  '~/.ssh/authorized_keys on the host is a symlink or has other hard links (a file managed elsewhere): till does not rewrite it, since a copy would cut it loose and a revocation in the managed file would no longer reach this host';

/** ssh with exactly this key file, nothing from till's config. */
function rawSsh(h: LabHost, keyFile: string, command: string) {
  return spawnSync(
    'ssh',
    [
      ...['-F', '/dev/null', '-i', keyFile, '-o', 'IdentitiesOnly=yes', '-o', 'IdentityAgent=none'],
      ...['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes'],
      ...['-o', 'LogLevel=ERROR', '-p', String(h.port), '-l', h.user, '--', h.address, command],
    ],
    { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] },
  );
}
/** The key logs in unrestricted: a plain command runs. */
const runsCommands = (h: LabHost, keyFile: string) => {
  const r = rawSsh(h, keyFile, 'echo in');
  return r.status === 0 && r.stdout.trim() === 'in';
};
/** The key logs in through the gate: host test's line passes, anything else is refused. */
const passesGate = (h: LabHost, keyFile: string) => {
  const r = rawSsh(h, keyFile, TEST_COMMAND);
  return r.status === 0 && r.stdout.includes('TILL_TEST_SUCCESS') && rawSsh(h, keyFile, 'id').status === 1;
};

/** Makes ~/.ssh/authorized_keys a link (symbolic or hard) to ~/managed/ak, with the same content. */
function manage(h: LabHost, how: 'symlink' | 'hardlink'): void {
  h.shell(
    `mkdir -p managed && cp .ssh/authorized_keys managed/ak && rm .ssh/authorized_keys && ${
      how === 'symlink' ? 'ln -s ../managed/ak' : 'ln managed/ak'
    } .ssh/authorized_keys`,
  );
}
const managedKeys = (h: LabHost) => readFileSync(join(h.home, 'managed/ak'), 'utf8');
/** Still the same link to the same file, with this content, and no temp file beside it. */
function stillManaged(h: LabHost, how: 'symlink' | 'hardlink', content: string): void {
  const file = join(h.home, '.ssh/authorized_keys');
  if (how === 'symlink') expect(readlinkSync(file), h.user).toBe('../managed/ak');
  else expect(lstatSync(file).ino, h.user).toBe(lstatSync(join(h.home, 'managed/ak')).ino);
  expect(lstatSync(join(h.home, 'managed/ak')).nlink).toBe(how === 'symlink' ? 1 : 2);
  expect(managedKeys(h), h.user).toBe(content);
  expect(h.shell('ls -A .ssh').trim(), h.user).toBe('authorized_keys');
}

describe('an authorized_keys managed elsewhere', { timeout: 600_000 }, () => {
  let home: string;
  let lab: Lab;
  const h = (i: number) => lab.hosts[i]!;
  const kinds = { 1: 'symlink', 2: 'hardlink' } as const;
  const before: Record<number, string> = {};

  beforeAll(async () => {
    ({ home } = tempHome());
    await tillOk(home, ['host', 'init']);
    lab = await startLab(4, { authorizedKey: readFileSync(`${home}/ssh/${KEY}.pub`, 'utf8') });
    for (const x of lab.hosts) await tillOk(home, ['host', 'add', `h${x.index}`, x.spec]);
    await tillOk(home, ['host', 'test', '--all']);
    manage(h(1), 'symlink');
    manage(h(2), 'hardlink');
    for (const i of [1, 2]) before[i] = managedKeys(h(i));
  });
  afterAll(async () => {
    lab?.stop();
    if (home) await closeMasters(home);
  });

  it('setup --restrict: the restrict step fails on the managed hosts, the key line and gate.json as they were, not recorded restricted', async () => {
    const r = await till(home, ['host', 'setup', 'h1', 'h2', 'h3', '--restrict', '--json'], { timeoutMs: 300_000 });
    expect(r.code, r.stderr).toBe(1);
    const doc = JSON.parse(r.stdout);
    expect(hostResult(doc, 'h3')).toMatchObject({ ok: true, restricted: true });
    for (const i of [1, 2] as const) {
      const gateJson = JSON.stringify({ deployRoots: ['~/projects/github/Tekton'] });
      expect(hostResult(doc, `h${i}`)).toMatchObject({
        ok: false,
        restricted: null,
        error: `could not restrict till's key: ${WHY}. Nothing changed, the key stays unrestricted: by hand, put restrict,command="<home>/.till/bin/till gate" before till's key in the managed file and write ~/.till/gate.json (${gateJson}), then run till host setup h${i} --restrict again (docs/gate.md)`,
        exitCode: 15,
      });
      stillManaged(h(i), kinds[i], before[i]!);
      expect(existsSync(join(h(i).home, '.till/gate.json'))).toBe(false);
      expect(runsCommands(h(i), `${home}/ssh/${KEY}`)).toBe(true);
    }
    const db = JSON.parse(readFileSync(`${home}/hosts-local.json`, 'utf8'));
    expect([1, 2, 3].map((i) => db.hosts[`h${i}`].restricted ?? false)).toEqual([false, false, true]);
    // The host's own view agrees: h1 is not reported restricted
    const show = JSON.parse((await tillOk(home, ['host', 'show', 'h1', '--json'])).stdout);
    expect(show.restricted ?? false).toBe(false);
  });

  it('rotate-key: the plain host rotates; the managed ones fail before anything changes and keep logging in with the old key', async () => {
    manage(h(3), 'symlink'); // restricted, now through a link
    before[3] = managedKeys(h(3));
    const oldPub = readFileSync(`${home}/ssh/${KEY}.pub`, 'utf8').trim();
    const r = await till(home, ['host', 'rotate-key', '--json']);
    expect(r.code, r.stderr).toBe(1);
    const newPub = readFileSync(`${home}/ssh/${KEY}.pub`, 'utf8').trim();
    expect(newPub).not.toBe(oldPub);
    expect(readFileSync(`${home}/ssh/${KEY}.old.pub`, 'utf8').trim()).toBe(oldPub);
    const doc = JSON.parse(r.stdout);
    expect(hostResult(doc, 'h0')).toMatchObject({ ok: true, key: 'new' });
    const error = (i: number, restricted: boolean) =>
      `${WHY}. Nothing changed, the host stays on the old key: ${
        restricted
          ? `add till's new key to the managed file by hand, as a copy of till's restricted line with the new key (${newPub})`
          : `add till's new key line to the managed file by hand (${newPub})`
      }, then run till host rotate-key h${i} again`;
    for (const i of [1, 2, 3]) {
      expect(hostResult(doc, `h${i}`)).toMatchObject({ ok: false, key: 'old', error: error(i, i === 3) });
      expect(hostResult(doc, `h${i}`).exitCode).toBe(15);
    }
    expect(r.stderr).toContain('still on the old key');
    expect(r.stderr).toMatch(/: h1, h2, h3;/);
    for (const i of [1, 2] as const) {
      stillManaged(h(i), kinds[i], before[i]!);
      expect(runsCommands(h(i), `${home}/ssh/${KEY}.old`)).toBe(true);
      expect(runsCommands(h(i), `${home}/ssh/${KEY}`)).toBe(false);
    }
    stillManaged(h(3), 'symlink', before[3]!);
    expect(passesGate(h(3), `${home}/ssh/${KEY}.old`)).toBe(true);
    // till still reaches them (with the old key it kept), and says they are on it
    await tillOk(home, ['host', 'test', 'h1', 'h2', 'h3']);
    const db = JSON.parse(readFileSync(`${home}/hosts-local.json`, 'utf8'));
    expect(db.hosts.h3.restricted).toBe(true);
    expect(db.hosts.h1.restricted ?? false).toBe(false);
  });

  it('after the owner adds the new line to the managed file by hand, a re-run moves the host and says to remove the old line there', async () => {
    const newPub = readFileSync(`${home}/ssh/${KEY}.pub`, 'utf8').trim();
    const oldBlob = readFileSync(`${home}/ssh/${KEY}.old.pub`, 'utf8').trim().split(' ')[1]!;
    h(1).shell(`printf '%s\\n' '${newPub}' >> managed/ak`);
    const content = managedKeys(h(1));
    const r = await till(home, ['host', 'rotate-key', 'h1', '--json']);
    expect(r.code, r.stderr).toBe(1);
    expect(hostResult(JSON.parse(r.stdout), 'h1')).toMatchObject({
      ok: false,
      key: 'new',
      error: `moved to the new key, but ${WHY}. Remove till's old key line (the one with ${oldBlob}) from the managed file by hand: the old key stays authorized until then`,
    });
    stillManaged(h(1), 'symlink', content);
    expect(runsCommands(h(1), `${home}/ssh/${KEY}`)).toBe(true);
    await tillOk(home, ['host', 'test', 'h1']);
  });

  it('setup --restrict after the owner restricted the line in the managed file by hand: the file is left alone, the host recorded restricted', async () => {
    const pub = readFileSync(`${home}/ssh/${KEY}.pub`, 'utf8').trim();
    const gateJson = JSON.stringify({ deployRoots: ['~/projects/github/Tekton'] });
    h(1).shell(
      `sed -i 's|^${pub}$|restrict,command="${h(1).home}/.till/bin/till gate" ${pub}|' managed/ak && printf '%s\\n' '${gateJson}' > .till/gate.json`,
    );
    const content = managedKeys(h(1));
    expect(content).toContain(`restrict,command="${h(1).home}/.till/bin/till gate" ${pub}\n`);
    // (over a new connection, through the gate: the master authenticated before the edit is closed)
    spawnSync('ssh', ['-F', `${home}/ssh/config`, '-O', 'exit', 'till-h1'], { stdio: 'ignore' });
    const r = await till(home, ['host', 'setup', 'h1', '--restrict', '--json'], { timeoutMs: 300_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(hostResult(JSON.parse(r.stdout), 'h1')).toMatchObject({ ok: true, restricted: true });
    stillManaged(h(1), 'symlink', content);
    expect(readFileSync(join(h(1).home, '.till/logs/gate.log'), 'utf8')).toMatch(/allowed restrict-v3 from/);
    expect(passesGate(h(1), `${home}/ssh/${KEY}`)).toBe(true);
    const db = JSON.parse(readFileSync(`${home}/hosts-local.json`, 'utf8'));
    expect(db.hosts.h1.restricted).toBe(true);
  });
});
