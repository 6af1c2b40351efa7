import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempHome, till, tillOk } from '../lab/till.js';

describe('till installation', () => {
  const { home, cleanup } = tempHome();
  const root = mkdtempSync('/tmp/t-inst-');
  afterAll(() => {
    cleanup();
    rmSync(root, { recursive: true, force: true });
  });
  const make = (path: string, env?: string) => {
    mkdirSync(join(root, path), { recursive: true });
    if (env !== undefined) writeFileSync(join(root, path, '.env.local'), env);
    return join(root, path);
  };

  it('adds, lists (absolute paths, default), refuses duplicates with exit 2, removes', async () => {
    const tekton = make('work/Tekton', 'TEKTON_REGISTRY_NAME=primary.tekton.us\n');
    const other = make('elsewhere/coder-b');
    await tillOk(home, ['installation', 'add', tekton]);
    await tillOk(home, ['installation', 'add', other, '--default']);
    const list = JSON.parse((await tillOk(home, ['installation', 'list', '--json'])).stdout);
    expect(list).toEqual({
      installations: [
        { name: 'coder-b', path: other, added: expect.any(String), default: true },
        { name: 'primary.tekton.us', path: tekton, added: expect.any(String), default: false },
      ],
      default: 'coder-b',
    });
    const dup = await till(home, ['installation', 'add', make('again'), '--name', 'coder-b']);
    expect(dup.code).toBe(2);
    expect(dup.stderr).toMatch(/installation coder-b already exists/);
    expect((await till(home, ['installation', 'add', make('bad'), '--name', '-x'])).code).toBe(2);
    // --if-absent: the same name at the same path is success without a change; another path is still refused
    const before = readFileSync(join(home, 'installations.json'), 'utf8');
    const again = await tillOk(home, ['installation', 'add', other, '--name', 'coder-b', '--if-absent', '--json']);
    expect(JSON.parse(again.stdout)).toMatchObject({ name: 'coder-b', path: other, existed: true });
    expect(readFileSync(join(home, 'installations.json'), 'utf8')).toBe(before);
    const elsewhere = await till(home, ['installation', 'add', make('again2'), '--name', 'coder-b', '--if-absent']);
    expect(elsewhere.code).toBe(2);
    expect(elsewhere.stderr).toMatch(/installation coder-b already exists/);
    expect(elsewhere.stderr).toContain(other);
    // run by a deploy's switch through a restricted key's gate (TILL_GATE=1): the words go
    // back to the key, which learns no other installation's path or name from them
    const gated = { env: { TILL_GATE: '1' } };
    const byName = await till(home, ['installation', 'add', make('again3'), '--name', 'coder-b', '--if-absent'], gated);
    expect(byName.code).toBe(2);
    expect(byName.stderr).toContain(
      `cannot register ${join(root, 'again3')} as coder-b: that name, or this path, is already registered\n`,
    );
    expect(byName.stderr).not.toContain(other);
    const byPath = await till(home, ['installation', 'add', tekton, '--name', 'guess', '--if-absent'], gated);
    expect(byPath.code).toBe(2);
    expect(byPath.stderr).toContain(
      `cannot register ${tekton} as guess: that name, or this path, is already registered\n`,
    );
    // and no hint that would tell the two apart
    expect(byName.stderr.replace(join(root, 'again3'), 'P').replace('coder-b', 'N')).toBe(
      byPath.stderr.replace(tekton, 'P').replace('guess', 'N'),
    );
    expect(byPath.stderr).not.toContain('primary.tekton.us');

    // default: moves to another registered installation; an unknown name is exit 2 and changes nothing
    const moved = await tillOk(home, ['installation', 'default', 'primary.tekton.us']);
    expect(moved.stderr).toMatch(/primary\.tekton\.us is now the default installation/);
    expect(JSON.parse((await tillOk(home, ['installation', 'list', '--json'])).stdout).default).toBe(
      'primary.tekton.us',
    );
    const beforeUnknown = readFileSync(join(home, 'installations.json'), 'utf8');
    expect((await till(home, ['installation', 'default', 'nope'])).code).toBe(2);
    expect(readFileSync(join(home, 'installations.json'), 'utf8')).toBe(beforeUnknown);
    await tillOk(home, ['installation', 'default', 'coder-b']);

    const table = (await tillOk(home, ['installation', 'list'])).stdout;
    expect(table).toMatch(/coder-b\s+\/tmp\/t-inst-\S+\/elsewhere\/coder-b\s+yes/);
    await tillOk(home, ['installation', 'remove', 'coder-b']);
    expect(JSON.parse((await tillOk(home, ['installation', 'list', '--json'])).stdout).default).toBeNull();
    expect((await till(home, ['installation', 'remove', 'coder-b'])).code).toBe(2);
  });

  it('discovers installations under a root and registers the new ones with --add', async () => {
    const a = make('gh/alpha', 'TEKTON_REGISTRY_NAME=alpha\n');
    const b = make('gh/org/beta', 'TEKTON_REGISTRY_NAME=beta\n');
    make('gh/org/notes', 'OTHER=1\n');
    const seen = JSON.parse(
      (await tillOk(home, ['installation', 'discover', '--root', join(root, 'gh'), '--json'])).stdout,
    );
    expect(seen).toEqual({
      found: [
        { name: 'alpha', registryName: 'alpha', path: a, registeredAs: null },
        { name: 'beta', registryName: 'beta', path: b, registeredAs: null },
      ],
      added: [],
    });
    const r = await tillOk(home, ['installation', 'discover', '--root', join(root, 'gh'), '--add']);
    expect(r.stdout).toMatch(/alpha\s+\S+alpha\s+added/);
    const names = JSON.parse((await tillOk(home, ['installation', 'list', '--json'])).stdout).installations.map(
      (i: { name: string }) => i.name,
    );
    expect(names).toEqual(expect.arrayContaining(['alpha', 'beta']));
    // Again: nothing new to add.
    expect(
      JSON.parse(
        (await tillOk(home, ['installation', 'discover', '--root', join(root, 'gh'), '--add', '--json'])).stdout,
      ).added,
    ).toEqual([]);
  });
});
