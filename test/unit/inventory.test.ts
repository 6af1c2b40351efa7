import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { HostResult } from '../../src/core/fanout.js';
import { addHost } from '../../src/core/host-admin.js';
import { Inventory } from '../../src/inventory/inventory.js';
import { initTillHome } from '../../src/inventory/till-home.js';
import { tillPaths } from '../../src/core/paths.js';
import { renderedFrom, SOURCE_LINE_RE } from '../../src/ssh/config.js';
import { keyFile, readTillKey } from '../../src/ssh/key-set.js';

const result = (over: Partial<HostResult>): HostResult => ({
  host: 'web-1',
  ok: true,
  status: 'ok',
  exitCode: 0,
  stdout: '',
  stderr: '',
  attempts: 1,
  durationMs: 5,
  error: null,
  failureKind: null,
  ...over,
});

describe('Inventory.recordResults', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  /** A fresh TILL_HOME with one host, web-1. */
  async function oneHost() {
    dir = mkdtempSync('/tmp/tinv-');
    const paths = tillPaths(dir);
    await initTillHome(paths);
    const inventory = new Inventory(paths);
    await addHost(inventory, { name: 'web-1', spec: 'deploy@127.0.0.1' });
    return { paths, inventory };
  }

  it('writes what a run changed, and leaves the database untouched (no rewrite, same inode) when a run changed nothing', async () => {
    const { paths, inventory } = await oneHost();
    const file = () => ({
      text: readFileSync(paths.hostsDb, 'utf8'),
      ino: statSync(paths.hostsDb).ino,
      seal: readFileSync(`${paths.hostsDb}.sha256`, 'utf8'),
    });

    // first contact: untested -> connected, written
    await inventory.recordResults([result({})]);
    const first = file();
    expect(JSON.parse(first.text).hosts['web-1'].status).toBe('connected');

    // the same again: nothing to record, the file is not rewritten (an atomic write renames: a new inode)
    await inventory.recordResults([result({})]);
    expect(file()).toEqual(first);

    // a lost connection is recorded
    await inventory.recordResults([
      result({
        ok: false,
        status: 'unreachable',
        exitCode: 255,
        error: 'connection refused',
        failureKind: 'connection',
      }),
    ]);
    const after = file();
    expect(after.ino).not.toBe(first.ino);
    expect(JSON.parse(after.text).hosts['web-1']).toMatchObject({ failures: 1, last_error: 'connection refused' });

    // and contact again resets it
    await inventory.recordResults([result({})]);
    expect(JSON.parse(file().text).hosts['web-1']).toMatchObject({
      failures: 0,
      last_error: null,
      status: 'connected',
    });
  });

  it("renders the config in full when a result moved a host to another of till's keys (its IdentityFile)", async () => {
    const { paths, inventory } = await oneHost();
    // An old key beside the current one, as during a rotation.
    const old = keyFile(paths, 'old');
    copyFileSync(paths.privateKey, old);
    copyFileSync(`${paths.privateKey}.pub`, `${old}.pub`);
    const oldKey = (await readTillKey(paths, 'old'))!;
    await inventory.recordResults([result({})], (entry) => (entry.key_fingerprint = oldKey.key.fingerprint));
    const config = readFileSync(paths.sshConfig, 'utf8');
    expect(config).toContain(`IdentityFile ${old}`);
    expect(renderedFrom(config)).toBe(createHash('sha256').update(readFileSync(paths.hostsDb, 'utf8')).digest('hex'));
  });
});

describe('ssh/config follows hosts-local.json', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const setup = async () => {
    dir = mkdtempSync('/tmp/tinv-');
    const paths = tillPaths(dir);
    await initTillHome(paths);
    return { paths, inventory: new Inventory(paths) };
  };
  const stamp = (paths: ReturnType<typeof tillPaths>) => renderedFrom(readFileSync(paths.sshConfig, 'utf8'));
  const hash = (text: string) => createHash('sha256').update(text).digest('hex');

  it('records the hash of the database text it was rendered from', async () => {
    const { paths, inventory } = await setup();
    expect(stamp(paths)).toBe(hash(readFileSync(paths.hostsDb, 'utf8')));
    await addHost(inventory, { name: 'web-1', spec: 'deploy@127.0.0.1' });
    expect(stamp(paths)).toBe(hash(readFileSync(paths.hostsDb, 'utf8')));
  });

  it('is rebuilt before use after a hand edit of the database (the seed copied in, then a port changed)', async () => {
    const { paths, inventory } = await setup();
    const seed = readFileSync('test/fixtures/seed-hosts-local.json', 'utf8');
    writeFileSync(paths.hostsDb, seed);
    const db = await inventory.read();
    expect(db.hosts.production!.host).toBe('127.0.20.1');
    let config = readFileSync(paths.sshConfig, 'utf8');
    expect(config).toContain('Host till-production\n    HostName 127.0.20.1\n    User deploy\n    Port 22\n');
    expect(renderedFrom(config)).toBe(hash(seed));

    const edited = seed.replace('"port": 22', '"port": 2022');
    writeFileSync(paths.hostsDb, edited);
    await inventory.read();
    config = readFileSync(paths.sshConfig, 'utf8');
    expect(config).toContain('    Port 2022\n');
    expect(renderedFrom(config)).toBe(hash(edited));
  });

  it('is rebuilt when it went missing or was written by hand', async () => {
    const { paths, inventory } = await setup();
    await addHost(inventory, { name: 'web-1', spec: 'deploy@127.0.0.1' });
    const good = readFileSync(paths.sshConfig, 'utf8');
    rmSync(paths.sshConfig);
    await inventory.read();
    expect(readFileSync(paths.sshConfig, 'utf8')).toBe(good);
    writeFileSync(paths.sshConfig, 'Host till-*\n    ProxyCommand nc %h %p\n');
    await inventory.read();
    expect(readFileSync(paths.sshConfig, 'utf8')).toBe(good);
  });

  it('is never ahead of the database: a change the database refuses leaves both byte-identical', async () => {
    const { paths, inventory } = await setup();
    await addHost(inventory, { name: 'web-1', spec: 'deploy@127.0.0.1' });
    const db = readFileSync(paths.hostsDb, 'utf8');
    const config = readFileSync(paths.sshConfig, 'utf8');
    await expect(
      inventory.update((d) => {
        d.hosts['zz'] = { ...d.hosts['web-1']!, host: 'fe80::1%eth0' };
      }),
    ).rejects.toThrow(/refusing to write invalid/);
    expect(readFileSync(paths.hostsDb, 'utf8')).toBe(db);
    expect(readFileSync(paths.sshConfig, 'utf8')).toBe(config);
  });

  it('a status-only change re-stamps the config without re-rendering it; reads then leave it alone', async () => {
    const { paths, inventory } = await setup();
    await addHost(inventory, { name: 'web-1', spec: 'deploy@127.0.0.1' });
    const body = (t: string) => t.replace(SOURCE_LINE_RE, '');
    const before = readFileSync(paths.sshConfig, 'utf8');
    await inventory.recordResults([result({})]);
    const after = readFileSync(paths.sshConfig, 'utf8');
    expect(body(after)).toBe(body(before));
    expect(renderedFrom(after)).toBe(hash(readFileSync(paths.hostsDb, 'utf8')));
    const ino = statSync(paths.sshConfig).ino;
    await inventory.read();
    expect(statSync(paths.sshConfig).ino).toBe(ino);
  });

  it('a status-only change on a stale config renders it in full', async () => {
    const { paths, inventory } = await setup();
    await addHost(inventory, { name: 'web-1', spec: 'deploy@127.0.0.1' });
    // As if a till died between the database write and the config write: the config is one change behind.
    const stale = readFileSync(paths.sshConfig, 'utf8');
    await addHost(inventory, { name: 'web-2', spec: 'deploy@127.0.0.2' });
    writeFileSync(paths.sshConfig, stale);
    await inventory.recordResults([result({})]);
    const config = readFileSync(paths.sshConfig, 'utf8');
    expect(config).toContain('Host till-web-2\n');
    expect(renderedFrom(config)).toBe(hash(readFileSync(paths.hostsDb, 'utf8')));
  });
});

describe('initTillHome', () => {
  it('runs many times at once on a fresh home: one key, every run succeeds', async () => {
    const dir = mkdtempSync('/tmp/tinv-');
    try {
      const paths = tillPaths(dir);
      const results = await Promise.all(Array.from({ length: 6 }, () => initTillHome(paths)));
      expect(results.filter((r) => r.keyCreated)).toHaveLength(1);
      expect(results.filter((r) => r.databaseCreated)).toHaveLength(1);
      expect(readFileSync(paths.publicKey, 'utf8')).toMatch(/^ssh-ed25519 /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
