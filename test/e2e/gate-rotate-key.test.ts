import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { test } from '../../src/protocol/host.js';
import { keyAdd, keyRemove } from '../../src/protocol/keys.js';
import { remoteScript } from '../../src/protocol/wire.js';
import { startLab, type Lab, type LabHost } from '../lab/lab.js';
import { closeMasters, killWhen, tempHome, till, tillOk } from '../lab/till.js';

/**
 * `till host rotate-key` on hosts whose key is restricted to `till gate`: the new key
 * is added through the gate in the restricted form only, the old one removed only
 * from till's own lines, the host stays restricted, and no interruption locks till out.
 */
const KEY = 'till_federation_ed25519';
/** What host test sends first (test-v2, a script). */
const TEST_COMMAND = remoteScript(test.versions[0]!.text);
const RESTRICTED_KEY_ADD_SCRIPT = keyAdd.versions[0]!.text;
const RESTRICTED_KEY_REMOVE_SCRIPT = keyRemove.versions[0]!.text;
const blobOf = (pubFile: string) => readFileSync(pubFile, 'utf8').trim().split(' ')[1]!;
const authorizedKeys = (h: LabHost) => readFileSync(`${h.home}/.ssh/authorized_keys`, 'utf8');
const linesWith = (h: LabHost, blob: string) =>
  authorizedKeys(h)
    .split('\n')
    .filter((l) => l.split(/\s+/).includes(blob));
const gateLog = (h: LabHost) => readFileSync(join(h.home, '.till/logs/gate.log'), 'utf8');
const restrictedLine = (h: LabHost, pubFile: string) =>
  `restrict,command="${h.home}/.till/bin/till gate" ${readFileSync(pubFile, 'utf8').trim()}`;

/** ssh with exactly this key file and nothing from till's config: what someone holding the key could run. */
function rawSsh(home: string, h: LabHost, keyFile: string, command: string) {
  return spawnSync(
    'ssh',
    [
      '-F',
      '/dev/null',
      '-i',
      keyFile,
      '-o',
      'IdentitiesOnly=yes',
      '-o',
      'IdentityAgent=none',
      '-o',
      `UserKnownHostsFile=${home}/ssh/known_hosts`,
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      'BatchMode=yes',
      '-o',
      'LogLevel=ERROR',
      '-p',
      String(h.port),
      '-l',
      h.user,
      '--',
      h.address,
      command,
    ],
    { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] },
  );
}

/** The key logs in and host test's line passes (through the gate, on a restricted host). */
const acceptsKey = (home: string, h: LabHost, keyFile: string) => {
  const r = rawSsh(home, h, keyFile, TEST_COMMAND);
  return r.status === 0 && r.stdout.includes('TILL_TEST_SUCCESS');
};
/** The key is stopped by the gate for anything else. */
const gated = (home: string, h: LabHost, keyFile: string) => {
  const r = rawSsh(home, h, keyFile, 'id');
  return r.status === 1 && r.stderr.includes('till gate: refused: "id" is not one of till\'s operations');
};

async function restrictedLab(n: number, restrict: number[]): Promise<{ home: string; lab: Lab }> {
  const { home } = tempHome();
  await tillOk(home, ['host', 'init']);
  const lab = await startLab(n, { authorizedKey: readFileSync(`${home}/ssh/${KEY}.pub`, 'utf8') });
  for (const h of lab.hosts) await tillOk(home, ['host', 'add', `h${h.index}`, h.spec]);
  await tillOk(home, ['host', 'test', '--all']);
  const r = await tillOk(home, ['host', 'setup', ...restrict.map((i) => `h${i}`), '--restrict', '--json'], {
    timeoutMs: 240_000,
  });
  for (const res of JSON.parse(r.stdout).results) expect(res).toMatchObject({ ok: true, restricted: true });
  return { home, lab };
}

describe('rotate-key through the gate: a restricted and a plain host', { timeout: 600_000 }, () => {
  let home: string;
  let lab: Lab;
  let scratch: string;
  let operatorPub: string;
  const h0 = () => lab.hosts[0]!;
  const h1 = () => lab.hosts[1]!;

  beforeAll(async () => {
    ({ home, lab } = await restrictedLab(2, [0]));
    scratch = mkdtempSync('/tmp/t-grk-');
    // The operator's own key on the restricted host: till must never touch its line.
    execFileSync('ssh-keygen', [
      '-q',
      '-t',
      'ed25519',
      '-N',
      '',
      '-C',
      'operator@laptop',
      '-f',
      join(scratch, 'operator'),
    ]);
    operatorPub = readFileSync(join(scratch, 'operator.pub'), 'utf8').trim();
    h0().authorize(operatorPub);
  }, 300_000);

  afterAll(async () => {
    lab?.stop();
    if (home) await closeMasters(home);
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('the gate refuses key edits with malformed values, never writes an unrestricted line, never removes a line till did not write', () => {
    const key = `${home}/ssh/${KEY}`;
    const tillBlob = blobOf(`${key}.pub`);
    const before = authorizedKeys(h0());
    const canary = join(scratch, 'canary');
    const refusedWith = (args: string[], why: RegExp) => {
      const r = rawSsh(home, h0(), key, remoteScript(RESTRICTED_KEY_ADD_SCRIPT, args));
      expect(r.status, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(why);
    };
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'intruder', '-f', join(scratch, 'intruder')]);
    const [type, blob] = readFileSync(join(scratch, 'intruder.pub'), 'utf8').trim().split(' ') as [string, string];
    refusedWith(['ssh-rsa', blob, 'x'], /till gate: refused: script key-add-v2: key type "ssh-rsa"/);
    refusedWith(
      [type, `${blob.slice(0, 60)}$(touch ${canary})`, 'x'],
      /till gate: refused: not a till command|is not an ssh-ed25519 public key blob/,
    );
    refusedWith([type, blob.slice(0, 67), 'x'], /is not an ssh-ed25519 public key blob/);
    refusedWith([type, blob, 'x" ssh-ed25519 AAAA'], /script key-add-v2: key comment/);
    refusedWith([type, blob, `x\nssh-ed25519 ${blob}`], /script key-add-v2: key comment/);
    refusedWith(['command="/bin/sh"', type, blob, 'x'], /script key-add-v2 takes 3 arguments, got 4/);
    expect(authorizedKeys(h0())).toBe(before);

    // A well-formed key is added, but only ever in till's restricted form.
    const added = rawSsh(home, h0(), key, remoteScript(RESTRICTED_KEY_ADD_SCRIPT, [type, blob, 'intruder']));
    expect(added.status, added.stderr).toBe(0);
    expect(linesWith(h0(), blob)).toEqual([
      `restrict,command="${h0().home}/.till/bin/till gate" ${type} ${blob} intruder`,
    ]);
    expect(gated(home, h0(), join(scratch, 'intruder'))).toBe(true);

    // key-remove: the operator's line is not till's, whatever blob is asked for
    const opBlob = operatorPub.split(' ')[1]!;
    const notTills = rawSsh(home, h0(), key, remoteScript(RESTRICTED_KEY_REMOVE_SCRIPT, [tillBlob, opBlob]));
    expect(notTills.status, notTills.stderr).toBe(0);
    expect(notTills.stdout).toContain('TILL_KEY_REMOVED 0\nTILL_KEY_FOREIGN 1\n');
    expect(linesWith(h0(), opBlob)).toEqual([operatorPub]);
    const same = rawSsh(home, h0(), key, remoteScript(RESTRICTED_KEY_REMOVE_SCRIPT, [tillBlob, tillBlob]));
    expect(same.status).toBe(1);
    expect(same.stderr).toContain('till gate: refused: script key-remove-v2: the key to keep is the key to remove');
    // without a till line of the key to keep, nothing is removed
    const noKeep = rawSsh(home, h0(), key, remoteScript(RESTRICTED_KEY_REMOVE_SCRIPT, [opBlob, tillBlob]));
    expect(noKeep.status).toBe(11);
    expect(linesWith(h0(), tillBlob)).toHaveLength(1);
    // till's own line of a key goes
    const gone = rawSsh(home, h0(), key, remoteScript(RESTRICTED_KEY_REMOVE_SCRIPT, [tillBlob, blob]));
    expect(gone.status, gone.stderr).toBe(0);
    expect(gone.stdout).toContain('TILL_KEY_REMOVED 1\n');
    expect(authorizedKeys(h0())).toBe(before);
    expect(existsSync(canary)).toBe(false);
    expect(gateLog(h0())).toMatch(/allowed key-add-v2 from/);
    expect(gateLog(h0())).toMatch(/allowed key-remove-v2 from/);
  });

  it("moves both hosts; the restricted host's new line is restricted too, the plain host's plain; other lines untouched", async () => {
    const oldBlob = blobOf(`${home}/ssh/${KEY}.pub`);
    const logStart = gateLog(h0()).length;
    const r = await till(home, ['host', 'rotate-key', '--json'], { timeoutMs: 180_000 });
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(
      doc.results.map((x: { host: string; key: string; restricted: boolean }) => [x.host, x.key, x.restricted]),
    ).toEqual([
      ['h0', 'new', true],
      ['h1', 'new', false],
    ]);
    expect(r.stderr).toContain('the old key was deleted');
    const cur = `${home}/ssh/${KEY}`;
    const newBlob = blobOf(`${cur}.pub`);
    expect(newBlob).not.toBe(oldBlob);
    expect(authorizedKeys(h0())).not.toContain(oldBlob);
    expect(linesWith(h0(), newBlob)).toEqual([restrictedLine(h0(), `${cur}.pub`)]);
    expect(linesWith(h0(), operatorPub.split(' ')[1]!)).toEqual([operatorPub]);
    expect(authorizedKeys(h1())).not.toContain(oldBlob);
    expect(linesWith(h1(), newBlob)).toEqual([readFileSync(`${cur}.pub`, 'utf8').trim()]);
    // the rotation itself never met a refusal of the gate
    expect(gateLog(h0()).slice(logStart)).toMatch(
      /allowed key-add-v2 from[^\n]*\n[^\n]*allowed test-v2 from[^\n]*\n[^\n]*allowed key-remove-v2 from/,
    );
    expect(gateLog(h0()).slice(logStart)).not.toMatch(/refused from/);
    // h0 is still behind the gate, with the new key; host test works on both
    expect(gated(home, h0(), cur)).toBe(true);
    expect(acceptsKey(home, h0(), cur)).toBe(true);
    await tillOk(home, ['host', 'test', '--all']);
    const show = JSON.parse((await tillOk(home, ['host', 'show', 'h0', '--json'])).stdout);
    expect(show.restricted).toBe(true);
    const exec = await till(home, ['host', 'exec', 'h0', '--', 'id']);
    expect(exec.code).toBe(1);
    expect(exec.stdout + exec.stderr).toContain('refused by till gate on the host');
  });

  it('a database that forgot the host is restricted: the gate refuses the plain edit, the restricted one is used, the flag comes back', async () => {
    const db = JSON.parse(readFileSync(`${home}/hosts-local.json`, 'utf8'));
    delete db.hosts.h0.restricted;
    writeFileSync(`${home}/hosts-local.json`, JSON.stringify(db, null, 2));
    const oldBlob = blobOf(`${home}/ssh/${KEY}.pub`);
    const logStart = gateLog(h0()).length;
    const r = await till(home, ['host', 'rotate-key', 'h0', '--json'], { timeoutMs: 180_000 });
    // exit 1: h1, not a target, is left on the old key
    expect(r.code, r.stderr).toBe(1);
    expect(JSON.parse(r.stdout).results[0]).toMatchObject({ host: 'h0', ok: true, key: 'new', restricted: true });
    const cur = `${home}/ssh/${KEY}`;
    expect(authorizedKeys(h0())).not.toContain(oldBlob);
    expect(linesWith(h0(), blobOf(`${cur}.pub`))).toEqual([restrictedLine(h0(), `${cur}.pub`)]);
    expect(gateLog(h0()).slice(logStart)).toMatch(
      /refused from [^\n]*a script that is not one of till's own; command "sh -c 'set -eu; umask 077; line=[^\n]*\n[^\n]*allowed key-add-v2 from/,
    );
    expect(gated(home, h0(), cur)).toBe(true);
    expect(JSON.parse((await tillOk(home, ['host', 'show', 'h0', '--json'])).stdout).restricted).toBe(true);
    // h1 was not a target: it stays on the old key, which till keeps for it
    expect(r.stderr).toMatch(/still on the old key .*: h1/);
    await tillOk(home, ['host', 'test', '--all']);

    // The other way round: the plain host h1 recorded as restricted. The restricted
    // script finds no restricted line there, the plain one is used, the flag goes.
    const db2 = JSON.parse(readFileSync(`${home}/hosts-local.json`, 'utf8'));
    db2.hosts.h1.restricted = true;
    writeFileSync(`${home}/hosts-local.json`, JSON.stringify(db2, null, 2));
    const finish = await till(home, ['host', 'rotate-key', '--json'], { timeoutMs: 180_000 });
    expect(finish.code, finish.stderr + finish.stdout).toBe(0);
    expect(finish.stderr).toContain('the old key was deleted');
    expect(JSON.parse(finish.stdout).results).toEqual([
      expect.objectContaining({ host: 'h0', ok: true, key: 'new', restricted: true }),
      expect.objectContaining({ host: 'h1', ok: true, key: 'new', restricted: false }),
    ]);
    expect(linesWith(h1(), blobOf(`${cur}.pub`))).toEqual([readFileSync(`${cur}.pub`, 'utf8').trim()]);
    expect(authorizedKeys(h1())).not.toContain(oldBlob);
    expect(JSON.parse((await tillOk(home, ['host', 'show', 'h1', '--json'])).stdout).restricted).toBeUndefined();
  });

  it('a copy of the old key in a line till did not write stays, and the host is reported: the old key is still accepted there', async () => {
    const cur = `${home}/ssh/${KEY}`;
    const oldBlob = blobOf(`${cur}.pub`);
    // After till's restricted line (sshd takes the first line of a key), so till's sessions stay gated.
    const copy = `from="127.0.0.0/8" ${readFileSync(`${cur}.pub`, 'utf8').trim()}`;
    // and a restricted line of a key nobody here knows (as a holder of the key could add through the gate)
    const stranger = `restrict,command="${h0().home}/.till/bin/till gate" ${readFileSync(join(scratch, 'intruder.pub'), 'utf8').trim()}`;
    writeFileSync(`${h0().home}/.ssh/authorized_keys`, `${authorizedKeys(h0())}${copy}\n${stranger}\n`);
    const r = await till(home, ['host', 'rotate-key', 'h0', '--json'], { timeoutMs: 180_000 });
    expect(r.code).toBe(1);
    const res = JSON.parse(r.stdout).results[0];
    expect(res).toMatchObject({ host: 'h0', ok: false, key: 'new', restricted: true, otherRestrictedKeys: 1 });
    expect(res.error).toBe(
      "moved to the new key and removed till's old line, but the old key is still in 1 line of ~/.ssh/authorized_keys that till did not write (left in place: remove by hand)",
    );
    expect(linesWith(h0(), oldBlob)).toEqual([copy]);
    expect(linesWith(h0(), blobOf(`${cur}.pub`))).toEqual([restrictedLine(h0(), `${cur}.pub`)]);
    expect(gated(home, h0(), cur)).toBe(true);
    writeFileSync(`${h0().home}/.ssh/authorized_keys`, authorizedKeys(h0()).replace(`${copy}\n`, ''));
    const finish = await till(home, ['host', 'rotate-key'], { timeoutMs: 180_000 });
    expect(finish.code, finish.stderr + finish.stdout).toBe(0);
    expect(finish.stderr).toContain(
      "h0: 1 other restricted key in ~/.ssh/authorized_keys (till gate lines of keys that are not this till's); if you did not add it, see: till host audit h0",
    );
    expect(linesWith(h0(), stranger.split(' ').at(-2)!)).toEqual([stranger]);
    writeFileSync(`${h0().home}/.ssh/authorized_keys`, authorizedKeys(h0()).replace(`${stranger}\n`, ''));
  });
});

describe('rotate-key on restricted hosts, interrupted by SIGKILL', { timeout: 600_000 }, () => {
  let home: string;
  let lab: Lab;
  beforeAll(async () => ({ home, lab } = await restrictedLab(2, [0, 1])), 300_000);
  afterAll(async () => {
    lab?.stop();
    if (home) await closeMasters(home);
  });

  /** Runs rotate-key and SIGKILLs it when `when` holds; then checks nothing is locked out and a re-run finishes. */
  async function killAndFinish(when: (newBlob: string) => boolean): Promise<void> {
    const oldBlob = blobOf(`${home}/ssh/${KEY}.pub`);
    let killed = false;
    const r = await till(home, ['host', 'rotate-key', '--serial'], {
      timeoutMs: 180_000,
      onSpawn: (child) =>
        killWhen(
          child,
          () => existsSync(`${home}/ssh/${KEY}.new.pub`) && when(blobOf(`${home}/ssh/${KEY}.new.pub`)),
          () => (killed = true),
        ),
    });
    expect(killed).toBe(true);
    expect(r.signal).toBe('SIGKILL');
    const keys = [`${home}/ssh/${KEY}`, `${home}/ssh/${KEY}.new`].filter((f) => existsSync(f));
    for (const h of lab.hosts) {
      // every host accepts a key till has, and only through the gate
      expect(keys.some((k) => acceptsKey(home, h, k))).toBe(true);
      for (const k of keys) if (acceptsKey(home, h, k)) expect(gated(home, h, k)).toBe(true);
      for (const line of authorizedKeys(h)
        .split('\n')
        .filter((l) => l !== ''))
        expect(line.startsWith(`restrict,command="${h.home}/.till/bin/till gate" `)).toBe(true);
    }
    await tillOk(home, ['host', 'test', '--all']);

    const again = await till(home, ['host', 'rotate-key'], { timeoutMs: 180_000 });
    expect(again.code, again.stderr).toBe(0);
    const cur = `${home}/ssh/${KEY}`;
    for (const h of lab.hosts) {
      expect(authorizedKeys(h)).not.toContain(oldBlob);
      expect(linesWith(h, blobOf(`${cur}.pub`))).toEqual([restrictedLine(h, `${cur}.pub`)]);
      expect(gated(home, h, cur)).toBe(true);
    }
    expect(existsSync(`${cur}.old`)).toBe(false);
    expect(existsSync(`${cur}.new`)).toBe(false);
    await tillOk(home, ['host', 'test', '--all']);
    const list = JSON.parse((await tillOk(home, ['host', 'list', '--json'])).stdout);
    expect(list.hosts.every((x: { restricted?: boolean }) => x.restricted === true)).toBe(true);
  }

  it('killed once the new restricted line is on h0 (before the login with it is proven)', async () => {
    await killAndFinish((newBlob) => authorizedKeys(lab.hosts[0]!).includes(newBlob));
  });

  it('killed once h0 is recorded on the new key (before its old line is removed)', async () => {
    let fp: string | undefined;
    await killAndFinish(() => {
      fp ??= execFileSync('ssh-keygen', ['-lf', `${home}/ssh/${KEY}.new.pub`], { encoding: 'utf8' }).split(' ')[1]!;
      try {
        return JSON.parse(readFileSync(`${home}/hosts-local.json`, 'utf8')).hosts.h0.key_fingerprint === fp;
      } catch {
        return false;
      }
    });
  });
});
