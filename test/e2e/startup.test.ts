/**
 * The local till's start: the CLI split per command (dist/cli/) and compiled from V8's
 * code cache under $TILL_HOME/cache (src/boot/loader.ts). A copy of the build is run, so
 * a chunk can be "rebuilt" in place without touching dist/.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let root: string;
let home: string;
const cache = () => join(home, 'cache');

beforeAll(() => {
  root = mkdtempSync('/tmp/t-');
  for (const f of ['bin', 'dist', 'package.json']) cpSync(f, join(root, f), { recursive: true });
  home = join(root, 'h');
  mkdirSync(home, { mode: 0o700 });
  expect(run(['host', 'init']).status).toBe(0);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function run(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [join(root, 'bin', 'till.cjs'), ...args], {
    env: { PATH: process.env.PATH, TILL_HOME: home, NO_COLOR: '1', ...env },
    encoding: 'utf8',
  });
}

/** Every cache file and its bytes. */
function cacheFiles(): Map<string, Buffer> {
  return new Map(readdirSync(cache()).map((f) => [f, readFileSync(join(cache(), f))]));
}

/** The chunk of the copy whose source holds `text`. */
function chunkWith(text: string): string {
  const dir = join(root, 'dist', 'cli');
  const found = readdirSync(dir).filter((f) => readFileSync(join(dir, f), 'utf8').includes(text));
  expect(found, text).toHaveLength(1);
  return join(dir, found[0]!);
}

describe('the code cache', () => {
  it('is written after a first run and used as it is by the next', () => {
    rmSync(cache(), { recursive: true, force: true });
    const first = run(['host', '--help']);
    expect(first.status, first.stderr).toBe(0);
    const written = cacheFiles();
    expect(written.size).toBeGreaterThan(1);
    expect(statSync(cache()).mode & 0o777).toBe(0o700);
    const second = run(['host', '--help']);
    expect(second.stdout).toBe(first.stdout);
    // Accepted caches are not written again; a rejected one would be.
    expect(cacheFiles()).toEqual(written);
  });

  it('never runs stale code: a chunk rebuilt to the same length (all V8 itself checks) is compiled anew', () => {
    run(['host', '--help']);
    const before = cacheFiles();
    const file = chunkWith('manage hosts: init, add');
    const source = readFileSync(file, 'utf8');
    writeFileSync(file, source.replace('manage hosts: init, add', 'MANAGE HOSTS: INIT, ADD'));
    expect(statSync(file).size).toBe(Buffer.byteLength(source));

    const help = run(['--help']);
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toContain('MANAGE HOSTS: INIT, ADD');
    expect(help.stdout).not.toContain('manage hosts: init, add');
    // That chunk's cache was made again from the new source; the others were used as they were.
    const after = cacheFiles();
    const changed = [...after].filter(([f, data]) => !before.get(f)?.equals(data)).map(([f]) => f);
    expect(changed).toHaveLength(1);
    expect(after.get(changed[0]!)!.includes('MANAGE HOSTS: INIT, ADD')).toBe(true);
    // And the run after that uses the new cache, still with the new text.
    expect(run(['--help']).stdout).toContain('MANAGE HOSTS: INIT, ADD');
    writeFileSync(file, source);
  });

  it('a cache that cannot be used or written never fails a command, and changes nothing it prints', () => {
    const plain = run(['host', 'list', '--json'], { TILL_NO_CODE_CACHE: '1' });
    expect(plain.status, plain.stderr).toBe(0);
    const same = (what: string) => {
      const r = run(['host', 'list', '--json']);
      expect(r.status, `${what}: ${r.stderr}`).toBe(0);
      expect(r.stdout, what).toBe(plain.stdout);
      expect(r.stderr, what).toBe(plain.stderr);
    };
    run(['host', 'list', '--json']);
    const names = [...cacheFiles().keys()];
    expect(names.length).toBeGreaterThan(1);

    // Damaged: cut short, or the right source followed by garbage instead of V8's data.
    for (const [i, f] of names.entries()) {
      const data = readFileSync(join(cache(), f));
      writeFileSync(
        join(cache(), f),
        i % 2 === 0
          ? data.subarray(0, data.length >> 1)
          : Buffer.concat([data.subarray(0, data.length - 64), Buffer.alloc(64, 7)]),
      );
    }
    same('damaged cache files');

    // Unwritable: every cache file is a folder (the rename onto it fails).
    rmSync(cache(), { recursive: true });
    mkdirSync(cache(), { mode: 0o700 });
    for (const f of names) mkdirSync(join(cache(), f));
    same('cache files that cannot be replaced');
    expect(readdirSync(cache()).sort()).toEqual([...names].sort());

    // Not a folder at all.
    rmSync(cache(), { recursive: true });
    writeFileSync(cache(), 'not a folder');
    same('cache is a file');
    expect(readFileSync(cache(), 'utf8')).toBe('not a folder');

    // Writable by others: not trusted, so neither read nor written.
    rmSync(cache());
    mkdirSync(cache());
    chmodSync(cache(), 0o777);
    same('cache writable by others');
    expect(readdirSync(cache())).toEqual([]);
    rmSync(cache(), { recursive: true });
  });

  it('a cache whose V8 data has one byte changed is not handed to V8, and is made anew', () => {
    const plain = run(['host', 'list', '--json'], { TILL_NO_CODE_CACHE: '1' });
    rmSync(cache(), { recursive: true, force: true });
    run(['host', 'list', '--json']);
    const good = cacheFiles();
    expect(good.size).toBeGreaterThan(1);
    // The layout (src/boot/loader.ts): a magic line, the source's length and the data's, the source, the data twice.
    const magic = 'till-code-cache-3\n'.length;
    for (const [i, [f, data]] of [...good].entries()) {
      const sourceLength = data.readUInt32LE(magic);
      const dataLength = data.readUInt32LE(magic + 4);
      expect(data.length).toBe(magic + 8 + sourceLength + 2 * dataLength);
      // One bit in the middle of the first copy of V8's data, or of the second.
      const at = magic + 8 + sourceLength + (i % 2) * dataLength + (dataLength >> 1);
      const damaged = Buffer.from(data);
      damaged[at] = damaged[at]! ^ 0x10;
      writeFileSync(join(cache(), f), damaged);
    }
    const r = run(['host', 'list', '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(plain.stdout);
    // Each was refused (V8 never saw it) and written again from this run's compile: whole, its two copies equal.
    for (const [f, data] of cacheFiles()) {
      expect(good.has(f), f).toBe(true);
      const sourceLength = data.readUInt32LE(magic);
      const dataLength = data.readUInt32LE(magic + 4);
      const first = magic + 8 + sourceLength;
      expect(data.subarray(first, first + dataLength).equals(data.subarray(first + dataLength)), f).toBe(true);
    }
  });

  it('a TILL_HOME that does not exist yet gets no cache and the command still runs', () => {
    const fresh = join(root, 'new-home');
    const r = spawnSync(process.execPath, [join(root, 'bin', 'till.cjs'), 'host', 'list'], {
      env: { PATH: process.env.PATH, TILL_HOME: fresh, NO_COLOR: '1' },
      encoding: 'utf8',
    });
    expect(r.stderr).toMatch(/till host init/);
    expect(() => statSync(fresh)).toThrow();
  });
});
