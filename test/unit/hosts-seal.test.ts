import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StateError } from '../../src/core/errors.js';
import { tillPaths } from '../../src/core/paths.js';
import { hostsStore, type HostsFile } from '../../src/core/state/hosts.js';

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

describe('hosts-local.json seal (skips re-validating what till itself wrote)', () => {
  it('reads back what it wrote, and records the hash of that text', async () => {
    const { dir, store: s } = store();
    await s.write(db());
    expect(await s.read()).toEqual(db());
    const sha = readFileSync(join(dir, 'hosts-local.json.sha256'), 'utf8').trim();
    expect(sha).toMatch(/^[0-9a-f]{64}$/);
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
