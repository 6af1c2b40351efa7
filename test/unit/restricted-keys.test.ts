import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decide, realpathDeepest, outwardLink, type GatePolicy } from '../../src/gate/decide.js';
import { parsePublicKey } from '../../src/ops/restrict.js';
import { ed25519BlobProblem, keyCommentProblem } from '../../src/protocol/args.js';
import {
  KEEP_MISSING,
  keyAdd,
  keyAppend,
  keyDrop,
  KEY_FILE_MANAGED,
  KEY_FILE_MANAGED_SAYS,
  keyRemove,
  KEY_PRESENT,
  NOT_RESTRICTED,
  restrict,
} from '../../src/protocol/keys.js';
import { commandLine, remoteScript, type Version } from '../../src/protocol/wire.js';

const RESTRICTED_KEY_ADD_SCRIPT = keyAdd.versions[0]!.text;
const RESTRICTED_KEY_REMOVE_SCRIPT = keyRemove.versions[0]!.text;
const restrictedKeyAddCommand = (k: { type: string; blob: string; comment: string }) =>
  commandLine(keyAdd.versions[0]!, k);
const restrictedKeyRemoveCommand = (keep: string, drop: string) => commandLine(keyRemove.versions[0]!, { keep, drop });
const parseRemoveReport = keyRemove.parse;

const scratch = realpathSync(mkdtempSync('/tmp/t-unit-rk-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Fresh ed25519 public keys from ssh-keygen. */
function newKey(comment = 'till-federation@op@box'): { type: string; blob: string; comment: string } {
  const dir = mkdtempSync(join(scratch, 'k-'));
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', join(dir, 'k')]);
  return parsePublicKey(readFileSync(join(dir, 'k.pub'), 'utf8'));
}
const A = newKey();
const B = newKey();
const C = newKey('other-till@elsewhere');
const OP = newKey('me@laptop');
const operator = `ssh-ed25519 ${OP.blob} me@laptop`;

const policy: GatePolicy = {
  home: scratch,
  deployRoots: [],
  upgrade: true,
  checks: [],
  realpath: realpathDeepest,
  outwardLink,
};
const reason = (line: string) => {
  const d = decide(line, policy);
  return d.kind === 'refuse' ? d.reason : `allowed as ${d.name}`;
};

function makeHome(withTill = true): string {
  const h = mkdtempSync(join(scratch, 'h-'));
  mkdirSync(join(h, '.ssh'));
  if (withTill) {
    mkdirSync(join(h, '.till/bin'), { recursive: true });
    writeFileSync(join(h, '.till/bin/till'), '#!/bin/sh\n', { mode: 0o755 });
  }
  return h;
}
const tillLine = (h: string, k: { type: string; blob: string; comment: string }) =>
  `restrict,command="${h}/.till/bin/till gate" ${k.type} ${k.blob}${k.comment ? ` ${k.comment}` : ''}`;
const keysOf = (h: string) => readFileSync(join(h, '.ssh/authorized_keys'), 'utf8');

function run(script: string, h: string, args: string[]): { code: number; out: string; err: string } {
  try {
    const out = execFileSync('/bin/sh', ['-c', script, 'till', ...args], {
      env: { HOME: h, PATH: '/usr/bin:/bin' },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return { code: 0, out, err: '' };
  } catch (err) {
    const e = err as { status: number; stdout: string; stderr: string };
    return { code: e.status, out: e.stdout, err: e.stderr };
  }
}
const add = (h: string, k: { type: string; blob: string; comment: string }) =>
  run(RESTRICTED_KEY_ADD_SCRIPT, h, [k.type, k.blob, k.comment]);
const remove = (h: string, keep: string, drop: string) => run(RESTRICTED_KEY_REMOVE_SCRIPT, h, [keep, drop]);

describe('key validation', () => {
  it('takes real ed25519 blobs and refuses anything else', () => {
    expect(ed25519BlobProblem(A.blob)).toBeUndefined();
    for (const bad of [
      '',
      'AAAA',
      `${A.blob}=`,
      `${A.blob.slice(0, -1)}$`,
      `${A.blob} x`,
      A.blob.slice(1),
      `${A.blob}A`,
      'AAAAB3NzaC1yc2EAAAADAQABAAABAQC7' + 'A'.repeat(36),
      A.blob.replace(/.$/, '\n'),
    ]) {
      expect(ed25519BlobProblem(bad), bad).toMatch(/not an ssh-ed25519 public key blob/);
    }
    // right length and alphabet, wrong wire format (the key length field says 33)
    const forged = Buffer.from(A.blob, 'base64');
    forged.writeUInt32BE(33, 15);
    expect(ed25519BlobProblem(forged.toString('base64'))).toBeDefined();
    expect(keyCommentProblem('till-federation@me@box.example')).toBeUndefined();
    expect(keyCommentProblem('')).toBeUndefined();
    for (const bad of ['a b', 'a"b', "a'b", 'a\nb', 'a,b', 'x'.repeat(201), 'é'])
      expect(keyCommentProblem(bad), bad).toBeDefined();
  });
});

describe('the gate and the key scripts', () => {
  it('allows key-add and key-remove with valid values only', () => {
    expect(reason(restrictedKeyAddCommand(A))).toBe('allowed as key-add-v2');
    expect(reason(restrictedKeyRemoveCommand(A.blob, B.blob))).toBe('allowed as key-remove-v2');
    // an unsafe comment is dropped when till's key is read (parsePublicKey), never sent
    expect(parsePublicKey(`${A.type} ${A.blob} a b`).comment).toBe('');
    const addWith = (args: string[]) => reason(remoteScript(RESTRICTED_KEY_ADD_SCRIPT, args));
    expect(addWith(['ssh-rsa', A.blob, ''])).toMatch(/script key-add-v2: key type "ssh-rsa"/);
    expect(addWith([A.type, 'AAAA$(id)', ''])).toMatch(/script key-add-v2: .* is not an ssh-ed25519 public key blob/);
    expect(addWith([A.type, A.blob, 'x" ssh-ed25519 AAAA'])).toMatch(/script key-add-v2: key comment/);
    expect(addWith([A.type, A.blob, 'x\nssh-ed25519 AAAA'])).toMatch(/script key-add-v2: key comment/);
    // no way to pass options: the count is fixed, and the line is built by the script
    expect(addWith(['command="sh"', A.type, A.blob, ''])).toBe('script key-add-v2 takes 3 arguments, got 4');
    expect(addWith([`no-restrict ${A.type}`, A.blob, ''])).toMatch(/key type/);
    const removeWith = (args: string[]) => reason(remoteScript(RESTRICTED_KEY_REMOVE_SCRIPT, args));
    expect(removeWith([A.blob, A.blob])).toMatch(/the key to keep is the key to remove/);
    expect(removeWith([A.blob, '*'])).toMatch(/not an ssh-ed25519 public key blob/);
    expect(removeWith([A.blob])).toBe('script key-remove-v2 takes 2 arguments, got 1');
  });
});

describe('the key-add script (run by a real sh)', () => {
  it("appends till's restricted line, once, and changes no other line", () => {
    const h = makeHome();
    writeFileSync(join(h, '.ssh/authorized_keys'), `${operator}\n# a comment\n${tillLine(h, A)}`); // no final newline
    chmodSync(join(h, '.ssh/authorized_keys'), 0o644);
    expect(add(h, B)).toMatchObject({ code: 0, out: 'TILL_KEY_ADDED\n' });
    const expected = `${operator}\n# a comment\n${tillLine(h, A)}\n${tillLine(h, B)}\n`;
    expect(keysOf(h)).toBe(expected);
    expect(statSync(join(h, '.ssh/authorized_keys')).mode & 0o777).toBe(0o600);
    // again: already there, nothing written
    expect(add(h, B)).toMatchObject({ code: KEY_PRESENT, out: 'TILL_KEY_PRESENT\n' });
    expect(keysOf(h)).toBe(expected);
    // a comment-less key
    expect(add(h, { ...C, comment: '' }).code).toBe(0);
    expect(keysOf(h).endsWith(`restrict,command="${h}/.till/bin/till gate" ${C.type} ${C.blob}\n`)).toBe(true);
  });

  it('refuses a host without a restricted till line, a key in a line till did not write, and bad values', () => {
    const h = makeHome();
    expect(add(h, B)).toMatchObject({
      code: NOT_RESTRICTED,
      err: expect.stringMatching(/no line in till's restricted form/),
    });
    writeFileSync(join(h, '.ssh/authorized_keys'), `ssh-ed25519 ${A.blob} plain\n`);
    expect(add(h, B).code).toBe(NOT_RESTRICTED);
    // options by hand are not till's form either
    writeFileSync(join(h, '.ssh/authorized_keys'), `from="10.0.0.1",${tillLine(h, A)}\n`);
    expect(add(h, B).code).toBe(NOT_RESTRICTED);
    writeFileSync(join(h, '.ssh/authorized_keys'), `${tillLine(h, A)}\nssh-ed25519 ${B.blob} unrestricted\n`);
    const before = keysOf(h);
    expect(add(h, B)).toMatchObject({ code: 3, err: expect.stringMatching(/in a line till did not write/) });
    expect(add(h, { ...B, type: 'ssh-rsa' }).code).toBe(2);
    expect(add(h, { ...B, blob: 'AAAA$(touch x)' }).code).toBe(2);
    expect(add(h, { ...B, comment: 'a b' }).code).toBe(2);
    expect(keysOf(h)).toBe(before);
    const noTill = makeHome(false);
    writeFileSync(join(noTill, '.ssh/authorized_keys'), `${tillLine(noTill, A)}\n`);
    expect(add(noTill, B)).toMatchObject({ code: NOT_RESTRICTED, err: expect.stringMatching(/till is not set up/) });
    expect(remove(noTill, B.blob, A.blob).code).toBe(NOT_RESTRICTED);
  });
});

describe('the key-remove script (run by a real sh)', () => {
  it("removes till's restricted lines of a key only while the kept key's line is there; other lines stay", () => {
    const h = makeHome();
    const foreign = `from="10.0.0.1" ssh-ed25519 ${A.blob} operator-copy`;
    writeFileSync(
      join(h, '.ssh/authorized_keys'),
      `${operator}\n${tillLine(h, A)}\n${foreign}\n${tillLine(h, C)}\n${tillLine(h, A)}\n`,
    );
    // the kept key must have a till line
    expect(remove(h, B.blob, A.blob)).toMatchObject({ code: KEEP_MISSING });
    expect(keysOf(h)).toContain(tillLine(h, A));
    expect(add(h, B).code).toBe(0);
    const r = remove(h, B.blob, A.blob);
    expect(r.code).toBe(0);
    expect(parseRemoveReport(r.out)).toEqual({ removed: 2, foreign: 1, otherRestricted: 1 });
    expect(keysOf(h)).toBe(`${operator}\n${foreign}\n${tillLine(h, C)}\n${tillLine(h, B)}\n`);
    // again: nothing to remove, file untouched
    const again = remove(h, B.blob, A.blob);
    expect(again.code).toBe(0);
    expect(parseRemoveReport(again.out)).toEqual({ removed: 0, foreign: 1, otherRestricted: 1 });
    // an operator line is never removed, even when asked for its blob
    const op = remove(h, B.blob, OP.blob);
    expect(op.code).toBe(0);
    expect(keysOf(h)).toContain(operator);
    expect(remove(h, B.blob, B.blob).code).toBe(2);
    expect(remove(h, B.blob, '../x').code).toBe(2);
    expect(keysOf(h)).toBe(`${operator}\n${foreign}\n${tillLine(h, C)}\n${tillLine(h, B)}\n`);
    const plain = makeHome();
    writeFileSync(join(plain, '.ssh/authorized_keys'), `ssh-ed25519 ${A.blob}\nssh-ed25519 ${B.blob}\n`);
    expect(remove(plain, B.blob, A.blob).code).toBe(NOT_RESTRICTED);
    expect(keysOf(plain)).toBe(`ssh-ed25519 ${A.blob}\nssh-ed25519 ${B.blob}\n`);
  });
});

describe('an authorized_keys managed elsewhere (a symlink, or a file with other hard links)', () => {
  const text = (op: { versions: readonly Version<never>[] }, name: string) =>
    op.versions.find((v) => v.name === name)!.text;
  const NEW = {
    restrict: text(restrict as never, 'restrict-v3'),
    add: text(keyAdd as never, 'key-add-v2'),
    remove: text(keyRemove as never, 'key-remove-v2'),
    append: text(keyAppend as never, 'key-append-v2'),
    drop: text(keyDrop as never, 'key-drop-v2'),
  };
  const gateJson = '{"deployRoots":["~/T"]}';
  const plainA = `ssh-ed25519 ${A.blob} till-federation@op@box`;
  const plainB = `ssh-ed25519 ${B.blob} next`;

  /** A home whose authorized_keys is `how` (a symlink, a hard link) to managed/ak holding `content`. */
  function managedHome(how: 'symlink' | 'hardlink', content: (h: string) => string): string {
    const h = makeHome();
    mkdirSync(join(h, 'managed'));
    writeFileSync(join(h, 'managed/ak'), content(h));
    if (how === 'symlink') symlinkSync('../managed/ak', join(h, '.ssh/authorized_keys'));
    else linkSync(join(h, 'managed/ak'), join(h, '.ssh/authorized_keys'));
    return h;
  }
  /** The link as it was: still a link to the same file, with the same content; no temp file left. */
  function unchanged(h: string, how: 'symlink' | 'hardlink', content: string): void {
    const st = lstatSync(join(h, '.ssh/authorized_keys'));
    if (how === 'symlink') expect(st.isSymbolicLink()).toBe(true);
    else expect(st.nlink).toBe(2);
    expect(readFileSync(join(h, 'managed/ak'), 'utf8')).toBe(content);
    expect(keysOf(h)).toBe(content);
    expect(execFileSync('ls', ['-A', join(h, '.ssh')], { encoding: 'utf8' })).toBe('authorized_keys\n');
  }
  const refused = { code: KEY_FILE_MANAGED, err: `${KEY_FILE_MANAGED_SAYS}\n` };

  it('every new version says the one sentence, literally, and the older ones are kept', () => {
    for (const t of Object.values(NEW)) expect(t).toContain(`echo "${KEY_FILE_MANAGED_SAYS}" >&2`);
    // the sentence travels in a one-line text too: nothing a csh or fish login shell would change
    expect(KEY_FILE_MANAGED_SAYS).not.toMatch(/[!'\\$`]/);
    for (const t of [NEW.append, NEW.drop]) expect(t).not.toMatch(/[\n!]/);
    expect(restrict.versions.map((v) => v.name)).toEqual(['restrict-v3', 'restrict-v2', 'restrict']);
    expect(keyAdd.versions.map((v) => v.name)).toEqual(['key-add-v2', 'key-add']);
    expect(keyRemove.versions.map((v) => v.name)).toEqual(['key-remove-v2', 'key-remove']);
    expect(keyAppend.versions.map((v) => v.name)).toEqual(['key-append-v2', 'key-append']);
    expect(keyDrop.versions.map((v) => v.name)).toEqual(['key-drop-v2', 'key-drop']);
  });

  for (const how of ['symlink', 'hardlink'] as const) {
    it(`${how}: restrict-v3, key-add-v2 and key-remove-v2 refuse a rewrite and change nothing, gate.json neither`, () => {
      const unrestricted = () => `${operator}\n${plainA}\n`;
      let h = managedHome(how, unrestricted);
      expect(run(NEW.restrict, h, [A.type, A.blob, A.comment, gateJson])).toMatchObject(refused);
      unchanged(h, how, unrestricted());
      expect(existsSync(join(h, '.till/gate.json'))).toBe(false);

      const restricted = (x: string) => `${operator}\n${tillLine(x, A)}\n`;
      h = managedHome(how, restricted);
      const before = restricted(h);
      expect(run(NEW.add, h, [B.type, B.blob, B.comment])).toMatchObject(refused);
      unchanged(h, how, before);
      writeFileSync(join(h, 'managed/ak'), `${before}${tillLine(h, B)}\n`);
      expect(run(NEW.remove, h, [B.blob, A.blob])).toMatchObject(refused);
      unchanged(h, how, `${before}${tillLine(h, B)}\n`);
    });

    it(`${how}: what would change nothing still runs (a line the owner edited in by hand is taken as it is)`, () => {
      const h = managedHome(how, (x) => `${operator}\n${tillLine(x, A)}\n${tillLine(x, B)}\n`);
      const content = keysOf(h);
      // restrict finds its line already restricted: gate.json is written, the file left alone
      expect(run(NEW.restrict, h, [A.type, A.blob, A.comment, gateJson])).toMatchObject({
        code: 0,
        out: 'TILL_RESTRICTED\n',
      });
      expect(readFileSync(join(h, '.till/gate.json'), 'utf8')).toBe(`${gateJson}\n`);
      unchanged(h, how, content);
      expect(run(NEW.add, h, [B.type, B.blob, B.comment])).toMatchObject({ code: KEY_PRESENT });
      expect(run(NEW.remove, h, [B.blob, C.blob])).toMatchObject({
        code: 0,
        out: expect.stringContaining('TILL_KEYS_DONE'),
      });
      unchanged(h, how, content);
    });

    it(`${how}: key-drop-v2 and key-append-v2 (unrestricted hosts) refuse what would write; a present key or nothing to drop is fine`, () => {
      const content = `${operator}\n${plainA}\n`;
      const h = managedHome(how, () => content);
      expect(run(NEW.append, h, [plainB, B.blob])).toMatchObject(refused);
      unchanged(h, how, content);
      expect(run(NEW.append, h, [plainA, A.blob]).code).toBe(KEY_PRESENT);
      expect(run(NEW.drop, h, [A.blob, B.blob]).code).toBe(0); // nothing to drop
      writeFileSync(join(h, 'managed/ak'), `${content}${plainB}\n`);
      expect(run(NEW.drop, h, [B.blob, A.blob])).toMatchObject(refused);
      unchanged(h, how, `${content}${plainB}\n`);
    });
  }

  it('a plain file is rewritten as before (the check is only for links)', () => {
    const h = makeHome();
    writeFileSync(join(h, '.ssh/authorized_keys'), `${operator}\n${plainA}\n`);
    expect(run(NEW.append, h, [plainB, B.blob]).code).toBe(0);
    expect(run(NEW.drop, h, [B.blob, A.blob]).code).toBe(0);
    expect(keysOf(h)).toBe(`${operator}\n${plainB}\n`);
    expect(run(NEW.restrict, h, [B.type, B.blob, B.comment, gateJson]).code).toBe(0);
    expect(keysOf(h)).toBe(`${operator}\n${tillLine(h, B)}\n`);
    expect(run(NEW.add, h, [A.type, A.blob, A.comment]).code).toBe(0);
    expect(run(NEW.remove, h, [A.blob, B.blob]).code).toBe(0);
    expect(keysOf(h)).toBe(`${operator}\n${tillLine(h, A)}\n`);
    expect(statSync(join(h, '.ssh/authorized_keys')).mode & 0o777).toBe(0o600);
  });

  // A csh, tcsh or fish login shell gets the line ssh sends and passes the one-line texts to sh unchanged.
  for (const shell of ['/usr/bin/tcsh', '/usr/bin/fish']) {
    it.skipIf(!existsSync(shell))(
      `through a ${shell.split('/').pop()} login shell: the same refusal, the same exit`,
      () => {
        const content = `${operator}\n${plainA}\n${plainB}\n`;
        const h = managedHome('symlink', () => content);
        const viaLogin = (line: string) =>
          spawnSync(shell, ['-c', line], { env: { HOME: h, PATH: '/usr/bin:/bin' }, encoding: 'utf8' });
        for (const line of [
          commandLine(keyDrop.versions[0]!, { keep: B.blob, drop: A.blob }),
          commandLine(keyAppend.versions[0]!, { line: `ssh-ed25519 ${C.blob} c`, blob: C.blob }),
        ]) {
          const r = viaLogin(line);
          expect({ code: r.status, err: r.stderr }).toEqual(refused);
        }
        unchanged(h, 'symlink', content);
      },
    );
  }
});
