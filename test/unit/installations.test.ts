import { registryNameOf } from '../../src/core/dotenv.js';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { resolveSource } from '../../src/deploy/source.js';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/core/errors.js';
import {
  addInstallation,
  defaultInstallationName,
  discoverInstallations,
  installationsStore,
  listInstallations,
  removeInstallation,
  setDefaultInstallation,
} from '../../src/core/installations.js';
import { tillPaths } from '../../src/core/paths.js';

const scratch = mkdtempSync('/tmp/t-unit-inst-');
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(scratch, 'tree-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

describe('registryNameOf (one dotenv reader for installation add and host deploy)', () => {
  it('reads dotenv-style lines', () => {
    expect(registryNameOf('A=1\nTEKTON_REGISTRY_NAME=primary.tekton.us\n')).toBe('primary.tekton.us');
    expect(registryNameOf('export TEKTON_REGISTRY_NAME="coder-a"\r\n')).toBe('coder-a');
    expect(registryNameOf("TEKTON_REGISTRY_NAME = 'x y' ")).toBe('x y');
    expect(registryNameOf('TEKTON_REGISTRY_NAME=alpha # the main one')).toBe('alpha');
    expect(registryNameOf('# TEKTON_REGISTRY_NAME=commented\nOTHER_TEKTON_REGISTRY_NAME=no')).toBeUndefined();
    expect(registryNameOf('TEKTON_REGISTRY_NAME=')).toBeUndefined();
  });

  it('installation add and host deploy read "my app" the same way: not a usable name, for either', async () => {
    const dir = mkdtempSync(join(scratch, 'my-app-'));
    writeFileSync(join(dir, '.env.local'), 'TEKTON_REGISTRY_NAME="my app"\n');
    expect(registryNameOf('TEKTON_REGISTRY_NAME="my app"')).toBe('my app');
    await expect(defaultInstallationName(dir)).rejects.toThrow(/cannot use "my app"/);
    // deploy --source falls back to the folder's name (it used to read the first word, "my")
    const source = await resolveSource(tillPaths(mkdtempSync(join(scratch, 'h-'))), { source: dir });
    expect(source.name).toBe(basename(dir));
  });
});

describe('the installations registry', () => {
  const paths = tillPaths(mkdtempSync(join(scratch, 'home-')));

  it('names from .env.local, else the folder; stores absolute paths; the first is the default', async () => {
    const root = tree({ 'Tekton/.env.local': 'TEKTON_REGISTRY_NAME=primary.tekton.us\n', 'plain/README': 'x' });
    const a = await addInstallation(paths, { path: relative(process.cwd(), join(root, 'Tekton')) });
    expect(a).toMatchObject({ name: 'primary.tekton.us', path: join(root, 'Tekton'), default: true });
    const b = await addInstallation(paths, { path: join(root, 'plain') });
    expect(b).toMatchObject({ name: 'plain', default: false });
    const file = JSON.parse(readFileSync(paths.installationsFile, 'utf8'));
    expect(file.default).toBe('primary.tekton.us');
    expect(file.installations.plain.path).toBe(join(root, 'plain'));

    await expect(addInstallation(paths, { path: join(root, 'plain'), name: 'other' })).rejects.toThrow(
      /already registered as plain/,
    );
    const c = tree({ 'x/.env.local': 'TEKTON_REGISTRY_NAME=plain' });
    await expect(addInstallation(paths, { path: join(c, 'x') })).rejects.toBeInstanceOf(UsageError);
    await expect(addInstallation(paths, { path: join(c, 'x'), name: 'bad name' })).rejects.toThrow(
      /invalid installation name/,
    );
    await expect(addInstallation(paths, { path: join(c, 'missing') })).rejects.toThrow(/not a directory/);

    const d = await addInstallation(paths, { path: join(c, 'x'), name: 'third', makeDefault: true });
    expect(d.default).toBe(true);
    await setDefaultInstallation(paths, 'plain');
    expect(
      listInstallations(await installationsStore(paths).read())
        .filter((i) => i.default)
        .map((i) => i.name),
    ).toEqual(['plain']);
    await removeInstallation(paths, 'plain');
    const after = await installationsStore(paths).read();
    expect(after.default).toBeNull();
    expect(Object.keys(after.installations).sort()).toEqual(['primary.tekton.us', 'third']);
    await expect(removeInstallation(paths, 'plain')).rejects.toThrow(/no such installation/);
  });

  it('refuses a registry name that is not a usable name, suggesting --name', async () => {
    const root = tree({ 'w/.env.local': 'TEKTON_REGISTRY_NAME=has space\n' });
    const err = await addInstallation(paths, { path: join(root, 'w') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).hint).toMatch(/--name/);
  });

  it('refuses a hand-edited file whose default is not registered, and leaves it as it was', async () => {
    const p = tillPaths(mkdtempSync(join(scratch, 'bad-')));
    const text = '{"installations":{},"default":"ghost"}\n';
    writeFileSync(p.installationsFile, text);
    await expect(installationsStore(p).read()).rejects.toThrow(/default/);
    expect(readFileSync(p.installationsFile, 'utf8')).toBe(text);
  });
});

describe('discoverInstallations', () => {
  it('finds folders whose .env.local names a registry, to a bounded depth, not inside found ones', async () => {
    const root = tree({
      'a/.env.local': 'TEKTON_REGISTRY_NAME=alpha\n',
      'a/nested/.env.local': 'TEKTON_REGISTRY_NAME=inner\n',
      'org/b/.env.local': 'TEKTON_REGISTRY_NAME=beta\n',
      'org/c/.env.local': 'OTHER=1\n',
      'x/y/z/d/.env.local': 'TEKTON_REGISTRY_NAME=too-deep\n',
      'x/y/e/.env.local': 'TEKTON_REGISTRY_NAME=has space\n',
      'node_modules/n/.env.local': 'TEKTON_REGISTRY_NAME=ignored\n',
      '.hidden/h/.env.local': 'TEKTON_REGISTRY_NAME=ignored\n',
    });
    const found = await discoverInstallations(root);
    expect(found).toEqual([
      { name: 'alpha', registryName: 'alpha', path: join(root, 'a') },
      { name: 'beta', registryName: 'beta', path: join(root, 'org/b') },
      { name: null, registryName: 'has space', path: join(root, 'x/y/e') },
    ]);
    expect((await discoverInstallations(root, 4)).map((f) => f.registryName)).toContain('too-deep');
    await expect(discoverInstallations(join(root, 'nope'))).rejects.toThrow(/not a directory/);
  });
});
