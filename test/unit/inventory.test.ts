import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { HostResult } from '../../src/core/fanout.js';
import { addHost } from '../../src/core/host-admin.js';
import { Inventory, initTillHome } from '../../src/core/inventory.js';
import { tillPaths } from '../../src/core/paths.js';

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

  it('writes what a run changed, and leaves the database untouched (no rewrite, same inode) when a run changed nothing', async () => {
    dir = mkdtempSync('/tmp/tinv-');
    const paths = tillPaths(dir);
    await initTillHome(paths);
    const inventory = new Inventory(paths);
    await addHost(inventory, { name: 'web-1', spec: 'deploy@127.0.0.1' });
    const file = () => ({ text: readFileSync(paths.hostsDb, 'utf8'), ino: statSync(paths.hostsDb).ino, seal: readFileSync(`${paths.hostsDb}.sha256`, 'utf8') });

    // first contact: untested -> connected, written
    await inventory.recordResults([result({})]);
    const first = file();
    expect(JSON.parse(first.text).hosts['web-1'].status).toBe('connected');

    // the same again: nothing to record, the file is not rewritten (write-file-atomic renames: a new inode)
    await inventory.recordResults([result({})]);
    expect(file()).toEqual(first);

    // a lost connection is recorded
    await inventory.recordResults([result({ ok: false, status: 'unreachable', exitCode: 255, error: 'connection refused', failureKind: 'connection' })]);
    const after = file();
    expect(after.ino).not.toBe(first.ino);
    expect(JSON.parse(after.text).hosts['web-1']).toMatchObject({ failures: 1, last_error: 'connection refused' });

    // and contact again resets it
    await inventory.recordResults([result({})]);
    expect(JSON.parse(file().text).hosts['web-1']).toMatchObject({ failures: 0, last_error: null, status: 'connected' });
  });
});
