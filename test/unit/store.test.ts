/**
 * The state store on its own (src/core/state/store.ts), with a small schema of its own:
 * reads of missing, unreadable, invalid and sealed files; updates that change nothing;
 * concurrent updates under the lock; what is written and with which mode; writes that
 * fail; a lock lost while held; the synchronous lock of the operations journal.
 */
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { createHmac } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import * as z from 'zod';
import { StateError } from '../../src/core/errors.js';
import { JsonFileStore, lockFileSync, prepareLockFileSync, sha256, UNCHANGED } from '../../src/core/state/store.js';

const schema = z.object({ count: z.number().int().nonnegative(), names: z.array(z.string()) });
type Data = z.output<typeof schema>;
const empty = (): Data => ({ count: 0, names: [] });

let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync('/tmp/t-st-');
  file = join(dir, 'sub', 'state.json');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const keyFile = () => join(dir, 'seal.key');
const plain = () => new JsonFileStore(file, schema, empty);
const sealed = (revive?: (d: unknown) => unknown) =>
  new JsonFileStore(file, schema, empty, { seal: { keyFile: keyFile() }, ...(revive ? { revive } : {}) });
/** The seal the store makes: HMAC-SHA256 of the text with the TILL_HOME's key. */
const hmac = (key: string, t: string) => createHmac('sha256', Buffer.from(key, 'hex')).update(t).digest('hex');
const KEY = 'ab'.repeat(32);
const text = (d: unknown) => `${JSON.stringify(d, null, 2)}\n`;

describe('reads', () => {
  it('a missing file reads as empty, with no text, and does not exist', async () => {
    expect(await plain().readText()).toEqual({ data: empty(), text: '' });
    expect(await plain().exists()).toBe(false);
  });

  it('a file that cannot be read is a StateError naming it; exists() does not hide the error', async () => {
    mkdirSync(file, { recursive: true });
    await expect(plain().read()).rejects.toThrow(
      new StateError(`cannot read ${file}: EISDIR: illegal operation on a directory, read`),
    );
    // A parent that is a file: not "missing", an error (root reads through any mode, so not EACCES).
    writeFileSync(join(dir, 'flat'), '');
    const under = new JsonFileStore(join(dir, 'flat', 'state.json'), schema, empty);
    await expect(under.exists()).rejects.toMatchObject({ code: 'ENOTDIR' });
    await expect(under.read()).rejects.toThrow(/^cannot read .*flat\/state\.json: ENOTDIR/);
  });

  it('exists() is true for a file, whatever its content', async () => {
    mkdirSync(join(dir, 'sub'));
    writeFileSync(file, 'not json');
    expect(await plain().exists()).toBe(true);
  });

  it('invalid JSON and schema mismatches are refused, naming the file, the field and the fix', async () => {
    mkdirSync(join(dir, 'sub'));
    writeFileSync(file, '{"count": ');
    const notJson = await plain()
      .read()
      .catch((e: unknown) => e);
    expect(notJson).toBeInstanceOf(StateError);
    expect((notJson as StateError).message).toMatch(
      new RegExp(`^${file.replace(/[./]/g, '\\$&')} is not valid JSON \\(.+\\); till left it unchanged$`),
    );
    expect((notJson as StateError).hint).toBe(
      'fix the file by hand or restore it from a backup; till never overwrites a file it cannot read',
    );
    writeFileSync(file, JSON.stringify({ count: 1, names: ['a', 7] }));
    const field = (await plain()
      .read()
      .catch((e: unknown) => e)) as StateError;
    expect(field.message).toMatch(/ does not match its schema at names\.1: .+; till left it unchanged$/);
    expect(field.hint).toBe('fix that field by hand; till never overwrites a file it cannot read');
    writeFileSync(file, '[]');
    await expect(plain().read()).rejects.toThrow(/ does not match its schema at \(top level\): /);
    expect(readFileSync(file, 'utf8')).toBe('[]');
  });
});

describe('the seal', () => {
  it('a sealed store makes a key (0600) on its first write and seals the exact text with it; a plain store seals nothing', async () => {
    mkdirSync(join(dir, 'sub'));
    await sealed().write({ count: 2, names: ['a'] });
    const key = readFileSync(keyFile(), 'utf8').trim();
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(keyFile()).mode & 0o777).toBe(0o600);
    expect(readFileSync(`${file}.sha256`, 'utf8')).toBe(`${hmac(key, readFileSync(file, 'utf8'))}\n`);
    // The key stays: the next write seals with it.
    await sealed().write({ count: 3, names: [] });
    expect(readFileSync(keyFile(), 'utf8').trim()).toBe(key);
    rmSync(join(dir, 'sub'), { recursive: true });
    mkdirSync(join(dir, 'sub'));
    await plain().write({ count: 2, names: ['a'] });
    expect(existsSync(`${file}.sha256`)).toBe(false);
  });

  it('text that matches its seal under the key is trusted (and revived) without the schema check', async () => {
    mkdirSync(join(dir, 'sub'));
    writeFileSync(keyFile(), `${KEY}\n`);
    // Not what the schema accepts: only a sealed read can return it.
    const t = text({ count: -1, names: [] });
    writeFileSync(file, t);
    writeFileSync(`${file}.sha256`, `${hmac(KEY, t)}\n`);
    expect(await sealed().read()).toEqual({ count: -1, names: [] });
    expect(await sealed((d) => ({ ...(d as Data), names: ['revived'] })).read()).toEqual({
      count: -1,
      names: ['revived'],
    });
    // The same files through a store without the seal option: checked, refused.
    await expect(plain().read()).rejects.toThrow(StateError);
  });

  it('any other text is checked: a hand edit, a plain hash, a seal under another key, no seal, no key', async () => {
    mkdirSync(join(dir, 'sub'));
    writeFileSync(keyFile(), `${KEY}\n`);
    const t = text({ count: -1, names: [] });
    writeFileSync(file, t);
    for (const seal of [hmac(KEY, `${t} `), sha256(t), hmac('cd'.repeat(32), t), '', 'garbage']) {
      writeFileSync(`${file}.sha256`, `${seal}\n`);
      await expect(sealed().read()).rejects.toThrow(/does not match its schema at count/);
    }
    rmSync(`${file}.sha256`);
    await expect(sealed().read()).rejects.toThrow(/does not match its schema at count/);
    writeFileSync(`${file}.sha256`, `${hmac(KEY, t)}\n`);
    for (const key of ['', 'not hex', KEY.slice(2)]) {
      writeFileSync(keyFile(), key);
      await expect(sealed().read()).rejects.toThrow(/does not match its schema at count/);
    }
    // A read never makes a key (only a sealed write does, under the lock).
    rmSync(keyFile());
    await expect(sealed().read()).rejects.toThrow(/does not match its schema at count/);
    expect(existsSync(keyFile())).toBe(false);
  });

  it('a damaged key is replaced on the next write, which seals with the new one', async () => {
    mkdirSync(join(dir, 'sub'));
    for (const damaged of ['damaged', `z${KEY}`, `${KEY}ab`, KEY.toUpperCase()]) {
      writeFileSync(keyFile(), `${damaged}\n`);
      await sealed().write({ count: 1, names: [] });
      const key = readFileSync(keyFile(), 'utf8').trim();
      expect(key, damaged).toMatch(/^[0-9a-f]{64}$/);
      expect(readFileSync(`${file}.sha256`, 'utf8').trim()).toBe(hmac(key, readFileSync(file, 'utf8')));
    }
  });

  it('sha256 is the hex SHA-256 of the text (what the config header records)', () => {
    expect(sha256('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('writes what the schema gave back when sealed (defaults applied), the data as given otherwise', async () => {
    const withDefault = z.object({ count: z.number(), names: z.array(z.string()).default([]) });
    const s = new JsonFileStore(file, withDefault, () => ({ count: 0, names: [] }), { seal: { keyFile: keyFile() } });
    mkdirSync(join(dir, 'sub'));
    await s.write({ count: 1 } as never);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ count: 1, names: [] });
    const p = new JsonFileStore(file, withDefault, () => ({ count: 0, names: [] }));
    await p.write({ count: 1 } as never);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ count: 1 });
  });
});

describe('writes and updates', () => {
  it('refuses to write data its own schema would refuse (a bug, not a user error), leaving the file', async () => {
    mkdirSync(join(dir, 'sub'));
    await plain().write({ count: 1, names: [] });
    const before = readFileSync(file, 'utf8');
    await expect(plain().write({ count: -5, names: [] })).rejects.toThrow(
      new RegExp(`^refusing to write invalid ${file.replace(/[./]/g, '\\$&')}: `),
    );
    expect(readFileSync(file, 'utf8')).toBe(before);
  });

  it('creates the folder (0700) and writes the file 0600, pretty-printed with a final newline', async () => {
    await plain().update((d) => {
      d.count = 3;
    });
    expect(statSync(join(dir, 'sub')).mode & 0o777).toBe(0o700);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toBe(text({ count: 3, names: [] }));
    await sealed().update((d) => {
      d.count = 4;
    });
    expect(statSync(`${file}.sha256`).mode & 0o777).toBe(0o600);
  });

  it('an update that returns UNCHANGED writes nothing: a missing file stays missing, an existing one keeps its inode', async () => {
    const seen: unknown[] = [];
    const r = await plain().update(
      () => UNCHANGED,
      async (_d, c) => {
        seen.push(c);
      },
    );
    expect(r).toBe(UNCHANGED);
    expect(existsSync(file)).toBe(false);
    expect(seen).toEqual([{ before: '', after: '', written: false }]);
    mkdirSync(join(dir, 'sub'), { recursive: true });
    await plain().write({ count: 1, names: [] });
    const ino = statSync(file).ino;
    await plain().update(() => UNCHANGED);
    expect(statSync(file).ino).toBe(ino);
  });

  it('afterWrite sees the text before and after, under the same lock; the change result is returned', async () => {
    mkdirSync(join(dir, 'sub'));
    await plain().write({ count: 1, names: [] });
    const before = readFileSync(file, 'utf8');
    let committed: unknown;
    let lockedDuring = false;
    const r = await plain().update(
      (d) => {
        d.count += 1;
        return 'done';
      },
      async (d, c) => {
        committed = c;
        lockedDuring = existsSync(`${file}.lock`);
        expect(d.count).toBe(2);
      },
    );
    expect(r).toBe('done');
    expect(committed).toEqual({ before, after: text({ count: 2, names: [] }), written: true });
    expect(lockedDuring).toBe(true);
    expect(existsSync(`${file}.lock`)).toBe(false);
  });

  it('concurrent updates queue on the lock and lose nothing; the lock is released after each, even a failed one', async () => {
    const s = plain();
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        s.update(async (d) => {
          const n = d.count;
          await new Promise((r) => setTimeout(r, 2));
          d.count = n + 1;
          d.names.push(`u${i}`);
        }),
      ),
    );
    const after = await s.read();
    expect(after.count).toBe(12);
    expect(after.names).toHaveLength(12);
    await expect(
      s.update(() => {
        throw new Error('change failed');
      }),
    ).rejects.toThrow('change failed');
    expect(existsSync(`${file}.lock`)).toBe(false);
    expect((await s.read()).count).toBe(12);
  });
});

/** Every name in the state folder: a failed write leaves no temp file (`.<name>.<pid>.<hex>.tmp`) behind. */
const names = (folder = join(dir, 'sub')) => readdirSync(folder).sort();

describe('writes that fail', () => {
  it('a write that cannot complete is an error, not a success, and leaves what was there and no temp file', async () => {
    // A folder (with a file in it) where the state file should be: the rename over it fails.
    mkdirSync(join(file, 'x'), { recursive: true });
    await expect(plain().write({ count: 1, names: [] })).rejects.toMatchObject({
      exitCode: 4,
      message: expect.stringMatching(
        /^could not write .*state\.json: a directory is in the way .*; it was left as it was$/,
      ),
      cause: { code: 'EISDIR' },
    });
    expect(names()).toEqual(['state.json']);
    expect(names(file)).toEqual(['x']);
  });

  it('a seal key that cannot be made (not for a full disk) fails the write after the data, with no temp file', async () => {
    mkdirSync(join(dir, 'sub'));
    mkdirSync(join(keyFile(), 'x'), { recursive: true });
    await expect(sealed().write({ count: 2, names: [] })).rejects.toMatchObject({
      exitCode: 4,
      message: expect.stringContaining('seal.key: a directory is in the way'),
      cause: { code: 'EISDIR' },
    });
    // The data went first (a missing seal only means one full check on the next read).
    expect(readFileSync(file, 'utf8')).toBe(text({ count: 2, names: [] }));
    expect(names()).toEqual(['state.json']);
    expect(names(dir)).toEqual(['seal.key', 'sub']);
  });

  it('a seal that cannot be written (not for a full disk) fails the write after the data, with no temp file', async () => {
    mkdirSync(join(`${file}.sha256`, 'x'), { recursive: true });
    writeFileSync(keyFile(), `${KEY}\n`);
    await expect(sealed().write({ count: 3, names: [] })).rejects.toMatchObject({
      exitCode: 4,
      message: expect.stringContaining('state.json.sha256: a directory is in the way'),
      cause: { code: 'EISDIR' },
    });
    expect(readFileSync(file, 'utf8')).toBe(text({ count: 3, names: [] }));
    expect(names()).toEqual(['state.json', 'state.json.sha256']);
    expect(readFileSync(keyFile(), 'utf8')).toBe(`${KEY}\n`);
  });
});

describe('a lock lost while held', () => {
  it('when another till took the lock over, the update writes nothing, says so, and leaves its lock alone', async () => {
    mkdirSync(join(dir, 'sub'));
    await plain().write({ count: 1, names: ['kept'] });
    const before = readFileSync(file, 'utf8');
    const lock = `${file}.lock`;
    const attempt = plain().update(async (d) => {
      // Another till found our lock stale (this process was stopped past 15 s) and took it:
      // its lock folder replaces ours, with its own mtime. Our lock's next refresh (every 5 s) sees it.
      rmSync(lock, { recursive: true });
      mkdirSync(lock);
      const theirs = new Date(Date.now() - 3_000);
      utimesSync(lock, theirs, theirs);
      // 2 s more than that: the refresh's stat must have come back, however loaded the machine.
      await new Promise((r) => setTimeout(r, 7_000));
      d.count = 99;
    });
    const err = (await attempt.catch((e: unknown) => e)) as StateError;
    expect(err).toBeInstanceOf(StateError);
    expect(err.message).toBe(`lost the lock on ${file} while updating it; nothing was written`);
    expect(err.hint).toBe('run the command again');
    expect(readFileSync(file, 'utf8')).toBe(before);
    expect(existsSync(lock)).toBe(true);
    expect(names()).toEqual(['state.json', 'state.json.lock']);
  }, 20_000);
});

describe('lockFileSync (the operations journal, which may write from an exit handler)', () => {
  const lockOf = () => `${file}.lock`;
  const age = (path: string, seconds: number) => {
    const t = new Date(Date.now() - seconds * 1000);
    utimesSync(path, t, t);
  };
  /** How long `fn` took to throw, and what. */
  const timeThrow = (fn: () => unknown): { ms: number; err: NodeJS.ErrnoException } => {
    const t0 = Date.now();
    try {
      fn();
    } catch (err) {
      return { ms: Date.now() - t0, err: err as NodeJS.ErrnoException };
    }
    throw new Error('it did not throw');
  };
  beforeEach(async () => {
    mkdirSync(join(dir, 'sub'));
    await prepareLockFileSync();
  });

  it('before prepareLockFileSync it refuses (it cannot load the lock library itself)', async () => {
    vi.resetModules();
    const fresh = await import('../../src/core/state/store.js');
    expect(() => fresh.lockFileSync(file)).toThrow(new Error('lockFileSync before prepareLockFileSync'));
    await fresh.prepareLockFileSync();
    fresh.lockFileSync(file)();
  });

  it('takes <file>.lock for a file that does not exist yet; the release removes it, and a second release is harmless', () => {
    const release = lockFileSync(file);
    expect(statSync(lockOf()).isDirectory()).toBe(true);
    expect(existsSync(file)).toBe(false);
    release();
    expect(existsSync(lockOf())).toBe(false);
    expect(() => release()).not.toThrow();
    // Free again: the next one takes it at once.
    lockFileSync(file, 0)();
  });

  it('a lock another till holds is waited for, up to waitMs, then ELOCKED; the holder keeps it', async () => {
    const holder = plain();
    await holder.withLock(async () => {
      const { ms, err } = timeThrow(() => lockFileSync(file, 400));
      expect(err.code).toBe('ELOCKED');
      expect(ms).toBeGreaterThanOrEqual(390);
      expect(existsSync(lockOf())).toBe(true);
    });
    expect(existsSync(lockOf())).toBe(false);
  });

  it('is taken as soon as the other till releases it', async () => {
    mkdirSync(lockOf());
    // Another process holds it for ~0.5 s (this thread sleeps while it waits: no event loop runs).
    const other = spawn('sh', ['-c', 'sleep 0.5 && rmdir "$1"', 'sh', lockOf()], { stdio: 'ignore' });
    const exited = new Promise((r) => other.on('exit', r));
    const t0 = Date.now();
    const release = lockFileSync(file, 15_000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(400);
    expect(statSync(lockOf()).isDirectory()).toBe(true);
    release();
    expect(existsSync(lockOf())).toBe(false);
    await exited;
  });

  it('takes over a lock untouched for more than 15 s (a killed till left it), not a younger one', () => {
    mkdirSync(lockOf());
    age(lockOf(), 12);
    expect(timeThrow(() => lockFileSync(file, 0)).err.code).toBe('ELOCKED');
    age(lockOf(), 16);
    const release = lockFileSync(file, 0);
    // Ours now: fresh, and released by us.
    expect(Date.now() - statSync(lockOf()).mtimeMs).toBeLessThan(5_000);
    release();
    expect(existsSync(lockOf())).toBe(false);
  });

  it('any other error is thrown at once, not waited on', () => {
    const { ms, err } = timeThrow(() => lockFileSync(join(dir, 'missing', 'operations.jsonl'), 20_000));
    expect(err.code).toBe('ENOENT');
    expect(ms).toBeLessThan(5_000);
  });
});
