/** A lost private key is reported as such, and `host init` never replaces the key hosts trust on its own. */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempHome, till, tillOk } from '../lab/till.js';

let home: string;
let cleanup: () => void;
const key = () => join(home, 'ssh', 'till_federation_ed25519');

beforeAll(async () => {
  ({ home, cleanup } = tempHome());
  await tillOk(home, ['host', 'init']);
  await tillOk(home, ['host', 'add', 'w1', 'u@127.0.0.10']);
});

afterAll(() => cleanup());

describe('the private key is missing', () => {
  it('a command says so, naming the file, and does not send the user to host init', async () => {
    const pub = readFileSync(`${key()}.pub`, 'utf8');
    rmSync(key());
    const r = await till(home, ['host', 'list']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`till's private key ${key()} is missing`);
    expect(r.stderr).toContain('restore that file');
    expect(r.stderr).not.toContain('not initialised');

    const init = await till(home, ['host', 'init']);
    expect(init.code).toBe(2);
    expect(init.stderr).toContain(`${key()} is missing`);
    expect(readFileSync(`${key()}.pub`, 'utf8')).toBe(pub);
    expect(existsSync(key())).toBe(false);

    await tillOk(home, ['host', 'init', '--new-key']);
    expect(existsSync(key())).toBe(true);
    expect(readFileSync(`${key()}.pub`, 'utf8')).not.toBe(pub);
    const lost = readdirSync(join(home, 'ssh')).filter((f) => f.startsWith('till_federation_ed25519.pub.lost-'));
    expect(lost).toHaveLength(1);
    expect(readFileSync(join(home, 'ssh', lost[0]!), 'utf8')).toBe(pub);
    await tillOk(home, ['host', 'list']);
  });
});

describe('a key rotation stopped between its renames', () => {
  it.each([
    ['a command', ['host', 'list']],
    ['host init', ['host', 'init']],
  ])(
    '%s finishes the local switch (as rotate-key would first) instead of calling the key lost',
    async (_what, args) => {
      // rotate-key's local switch: current -> .old, then .new -> current; stopped after the first rename
      rmSync(`${key()}.old`, { force: true });
      rmSync(`${key()}.old.pub`, { force: true });
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'next', '-f', `${key()}.new`]);
      const next = readFileSync(`${key()}.new.pub`, 'utf8');
      renameSync(key(), `${key()}.old`);
      const r = await till(home, args);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).not.toContain('is missing');
      expect(readFileSync(`${key()}.pub`, 'utf8')).toBe(next);
      expect(existsSync(`${key()}.old`)).toBe(true);
      expect(existsSync(`${key()}.new`)).toBe(false);
    },
  );
});
