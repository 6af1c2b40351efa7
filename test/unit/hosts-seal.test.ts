import { createHash, createHmac } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StateError } from '../../src/core/errors.js';
import { tillPaths } from '../../src/core/paths.js';
import { hostsStore, sealContext, type HostsFile } from '../../src/core/state/hosts.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
function store() {
  const dir = mkdtempSync('/tmp/t-');
  dirs.push(dir);
  return { dir, store: hostsStore(tillPaths(dir)) };
}
const db = (): HostsFile => ({
  hosts: {
    web: {
      user: 'deploy',
      host: 'web.example',
      port: 22,
      status: 'connected',
      added: '2024-01-01T00:00:00.000Z',
      tekton_path: '~/t',
      installations: [],
    },
  },
  groups: { g: ['web'] },
  updated: '1',
});

/** The seal till makes: an HMAC of the version that checked the text, a NUL, and the text. */
const sealWith = (key: Buffer, text: string, version = '0.0.0-dev') =>
  createHmac('sha256', key)
    .update(`${sealContext(version)}\0`)
    .update(text)
    .digest('hex');

describe('hosts-local.json seal (skips re-validating what till itself wrote)', () => {
  it("reads back what it wrote, and seals that text with an HMAC keyed by TILL_HOME's own secret (0600)", async () => {
    const { dir, store: s } = store();
    await s.write(db());
    expect(await s.read()).toEqual(db());
    const seal = readFileSync(join(dir, 'hosts-local.json.sha256'), 'utf8').trim();
    const key = Buffer.from(readFileSync(join(dir, 'seal.key'), 'utf8').trim(), 'hex');
    expect(key).toHaveLength(32);
    expect(statSync(join(dir, 'seal.key')).mode & 0o777).toBe(0o600);
    const text = readFileSync(join(dir, 'hosts-local.json'), 'utf8');
    expect(seal).toBe(sealWith(key, text));
  });

  // Whoever can write the database can also compute a plain hash of it (older tills sealed so).
  const hostile = (text: string) => text.replace('web.example', 'x\\nProxyCommand touch /tmp/pwned');

  it('a seal anyone can compute (the sha256 of the text) does not skip the check', async () => {
    const { dir, store: s } = store();
    await s.write(db());
    const file = join(dir, 'hosts-local.json');
    const text = hostile(readFileSync(file, 'utf8'));
    writeFileSync(file, text);
    writeFileSync(`${file}.sha256`, `${createHash('sha256').update(text).digest('hex')}\n`);
    await expect(s.read()).rejects.toThrow(/does not match its schema at hosts\.web\.host/);
  });

  it("a database copied with its seal into another TILL_HOME is checked there (the other's key does not match)", async () => {
    const a = store();
    const b = store();
    await a.store.write(db());
    await b.store.write(db()); // b has a key of its own
    const file = join(a.dir, 'hosts-local.json');
    // Sealed in a with a's key: valid there, as a till with a stolen key (or a bug) could make it.
    const text = hostile(readFileSync(file, 'utf8'));
    const keyA = Buffer.from(readFileSync(join(a.dir, 'seal.key'), 'utf8').trim(), 'hex');
    writeFileSync(join(b.dir, 'hosts-local.json'), text);
    writeFileSync(join(b.dir, 'hosts-local.json.sha256'), sealWith(keyA, text));
    await expect(b.store.read()).rejects.toThrow(/does not match its schema/);
  });

  it('a seal another till version made (the same key) is not trusted: its schema may differ, so the file is checked in full', async () => {
    const { dir, store: s } = store();
    await s.write(db());
    const file = join(dir, 'hosts-local.json');
    const key = Buffer.from(readFileSync(join(dir, 'seal.key'), 'utf8').trim(), 'hex');
    const text = hostile(readFileSync(file, 'utf8'));
    writeFileSync(file, text);
    // This version's seal, for the same text: trusted (only a sealed read returns the value).
    writeFileSync(`${file}.sha256`, `${sealWith(key, text)}\n`);
    expect((await s.read()).hosts.web!.host).toBe('x\nProxyCommand touch /tmp/pwned');
    for (const other of ['0.0.1', '9.9.9', '']) {
      writeFileSync(`${file}.sha256`, `${sealWith(key, text, other)}\n`);
      await expect(s.read(), other).rejects.toThrow(/does not match its schema at hosts\.web\.host/);
    }
    // The seal of a text without any version (tills before this one sealed so): checked too.
    writeFileSync(`${file}.sha256`, `${createHmac('sha256', key).update(text).digest('hex')}\n`);
    await expect(s.read()).rejects.toThrow(/does not match its schema at hosts\.web\.host/);
  });

  it('a sealed read gives maps without a prototype, as the full check does: a host named `toString` is just a name', async () => {
    const { store: s } = store();
    const data = db();
    const [hostName, groupName]: string[] = ['toString', 'constructor'];
    (data.hosts as Record<string, unknown>)[hostName!] = data.hosts.web;
    (data.groups as Record<string, unknown>)[groupName!] = ['toString'];
    await s.write(data);
    const read = await s.read();
    expect(Object.getPrototypeOf(read.hosts)).toBe(null);
    expect(Object.getPrototypeOf(read.groups)).toBe(null);
    expect('hasOwnProperty' in read.hosts).toBe(false);
    expect(Object.keys(read.hosts)).toEqual(['web', 'toString']);
    expect(read.groups![groupName!]).toEqual(['toString']);
    expect(read.groups![hostName!]).toBeUndefined();
  });

  it('without its key (deleted, damaged) no seal is trusted, and the next write makes a new key', async () => {
    const { dir, store: s } = store();
    await s.write(db());
    const file = join(dir, 'hosts-local.json');
    const sealed = readFileSync(`${file}.sha256`, 'utf8');
    writeFileSync(join(dir, 'seal.key'), 'not a key\n');
    copyFileSync(file, `${file}.bak`);
    writeFileSync(file, hostile(readFileSync(`${file}.bak`, 'utf8')));
    await expect(s.read()).rejects.toThrow(/does not match its schema/);
    writeFileSync(file, readFileSync(`${file}.bak`, 'utf8'));
    expect(await s.read()).toEqual(db()); // validated, not trusted
    await s.write(db());
    expect(readFileSync(join(dir, 'seal.key'), 'utf8').trim()).toMatch(/^[0-9a-f]{64}$/);
    expect(readFileSync(`${file}.sha256`, 'utf8')).not.toBe(sealed);
  });

  it('still refuses a hand-edited file with a hostile value, seal or not', async () => {
    const { dir, store: s } = store();
    await s.write(db());
    const file = join(dir, 'hosts-local.json');
    writeFileSync(file, readFileSync(file, 'utf8').replace('web.example', 'x\\nProxyCommand touch /tmp/pwned'));
    await expect(s.read()).rejects.toThrow(StateError);
  });

  it('validates (and accepts) a valid hand edit, applying defaults', async () => {
    const { dir, store: s } = store();
    await s.write(db());
    const file = join(dir, 'hosts-local.json');
    const raw = JSON.parse(readFileSync(file, 'utf8'));
    delete raw.hosts.web.installations;
    raw.hosts.web.port = 2222;
    writeFileSync(file, JSON.stringify(raw));
    const read = await s.read();
    expect(read.hosts.web).toMatchObject({ port: 2222, installations: [] });
  });

  it('writes the schema output, so a sealed read equals a validated one', async () => {
    const { dir, store: s } = store();
    const data = db();
    delete (data.hosts.web as Partial<HostsFile['hosts'][string]>).installations;
    await s.write(data);
    expect((await s.read()).hosts.web!.installations).toEqual([]);
    rmSync(join(dir, 'hosts-local.json.sha256'));
    expect((await s.read()).hosts.web!.installations).toEqual([]);
  });
});
