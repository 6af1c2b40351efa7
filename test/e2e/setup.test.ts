import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLab, type Lab } from '../lab/lab.js';
import { closeMasters, tempHome, till, tillOk, waitUntil } from '../lab/till.js';
import { buildVariant, LOCAL_VERSION, pathWith, pathWithoutNode, sshOut, tillVariant } from './helpers-remote.js';

interface HostJson {
  name: string;
  status: string;
  till_version?: string | null;
}

// Generous: every step spawns till, ssh and rsync, and a busy 2-core CI machine is slow.
describe('till host setup', { timeout: 240_000 }, () => {
  let home: string;
  let lab: Lab;
  let noNodePath: string;
  let oldNodePath: string;
  let noRsyncPath: string;
  let slowRsyncPath: string;
  /** h6's rsync waits while this folder has no `go` file, and touches `started` when it runs. */
  let rsyncGate: string;
  let scratch: string;

  const hostsOf = async () => JSON.parse((await tillOk(home, ['host', 'list', '--json'])).stdout).hosts as HostJson[];
  const fileId = (path: string) => {
    const s = statSync(path);
    return `${s.ino}:${s.mtimeMs}:${s.size}`;
  };

  beforeAll(async () => {
    home = tempHome().home;
    scratch = mkdtempSync('/tmp/t-variant-');
    noNodePath = pathWithoutNode();
    // h4's PATH has a node that says it is 18.
    oldNodePath = pathWithoutNode();
    writeFileSync(`${oldNodePath}/node`, '#!/bin/sh\necho v18.19.0\n', { mode: 0o755 });
    // h5 has node but no rsync; h6's rsync holds every transfer until the test lets it go.
    noRsyncPath = pathWith(['node']);
    slowRsyncPath = pathWith(['node']);
    rsyncGate = mkdtempSync('/tmp/t-gate-');
    chmodSync(rsyncGate, 0o777);
    writeFileSync(join(rsyncGate, 'go'), '');
    const realRsync = execFileSync('sh', ['-c', 'command -v rsync'], { encoding: 'utf8' }).trim();
    writeFileSync(
      `${slowRsyncPath}/rsync`,
      `#!/bin/sh\ntouch ${rsyncGate}/started\nwhile [ ! -e ${rsyncGate}/go ]; do sleep 0.1; done\nexec ${realRsync} "$@"\n`,
      { mode: 0o755 },
    );
    await tillOk(home, ['host', 'init']);
    const key = readFileSync(`${home}/ssh/till_federation_ed25519.pub`, 'utf8');
    // h3's sessions get a PATH with rsync and the basic tools but no node.
    const paths = [undefined, undefined, undefined, noNodePath, oldNodePath, noRsyncPath, slowRsyncPath];
    lab = await startLab(7, {
      authorizedKey: key,
      perHost: (i) => (paths[i] ? { sshdExtra: [`SetEnv PATH=${paths[i]}`] } : {}),
    });
    for (const h of lab.hosts) await tillOk(home, ['host', 'add', `h${h.index}`, h.spec]);
  }, 240_000);

  afterAll(async () => {
    lab?.stop();
    await closeMasters(home);
    rmSync(noNodePath, { recursive: true, force: true });
    rmSync(oldNodePath, { recursive: true, force: true });
    rmSync(noRsyncPath, { recursive: true, force: true });
    rmSync(slowRsyncPath, { recursive: true, force: true });
    rmSync(rsyncGate, { recursive: true, force: true });
    rmSync(scratch, { recursive: true, force: true });
  });

  it('installs till on every host with Node.js 20+, and names what a host without it needs', async () => {
    const r = await till(home, ['host', 'setup', '--all', '--json'], { timeoutMs: 180_000 });
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout);
    const by = new Map<string, Record<string, unknown>>(doc.results.map((x: { host: string }) => [x.host, x]));
    for (const name of ['h0', 'h1', 'h2', 'h6']) {
      expect(by.get(name), String(by.get(name)?.error)).toMatchObject({
        ok: true,
        changed: true,
        tillVersion: LOCAL_VERSION,
        previousVersion: null,
      });
      expect(sshOut(home, name, '~/.till/bin/till --version').trim()).toBe(LOCAL_VERSION);
    }
    expect(by.get('h3')).toMatchObject({ ok: false, status: 'failed' });
    expect(String(by.get('h3')!.error)).toMatch(/Node\.js not found.*till needs Node\.js 20 or newer/);
    expect(by.get('h4')).toMatchObject({
      ok: false,
      status: 'failed',
      error: `node 18.19.0 found at ${oldNodePath}/node; till needs Node.js 20 or newer (https://nodejs.org or your package manager)`,
    });
    expect(by.get('h5')).toMatchObject({ ok: false, status: 'failed' });
    expect(String(by.get('h5')!.error)).toMatch(/^rsync not found: install rsync/);
    // Nothing was copied to the hosts that failed the check.
    expect(() => statSync(`${lab.hosts[5]!.home}/.till`)).toThrow();
    expect(() => statSync(`${lab.hosts[3]!.home}/.till`)).toThrow();

    const hosts = await hostsOf();
    for (const h of hosts.filter((x) => x.name < 'h3'))
      expect(h).toMatchObject({ status: 'till-ready', till_version: LOCAL_VERSION });
    expect(hosts.find((x) => x.name === 'h3')!.status).not.toBe('till-ready');
    // The launcher runs the node the check found, by absolute path.
    expect(readFileSync(`${lab.hosts[0]!.home}/.till/bin/till`, 'utf8')).toContain(
      `exec "$node" "$HOME/.till/lib/till-${LOCAL_VERSION}.mjs"`,
    );
    // The human summary names the fix too.
    const human = await till(home, ['host', 'setup', 'h3']);
    expect(human.code).toBe(1);
    expect(human.stdout + human.stderr).toContain('till needs Node.js 20 or newer');
  });

  it('changes nothing on a second run when the version matches', async () => {
    const files = (i: number) => [
      `${lab.hosts[i]!.home}/.till/bin/till`,
      `${lab.hosts[i]!.home}/.till/lib/till-${LOCAL_VERSION}.mjs`,
    ];
    const before = [0, 1, 2].flatMap((i) => files(i).map(fileId));
    const dbBefore = await hostsOf();
    const r = await tillOk(home, ['host', 'setup', 'h0', 'h1', 'h2', '--json'], { timeoutMs: 180_000 });
    const doc = JSON.parse(r.stdout);
    expect(doc.ok).toBe(true);
    for (const x of doc.results) expect(x).toMatchObject({ ok: true, changed: false, previousVersion: LOCAL_VERSION });
    // Same inode, mtime and size: neither rsync nor the launcher switch touched anything.
    expect([0, 1, 2].flatMap((i) => files(i).map(fileId))).toEqual(before);
    expect((await hostsOf()).map((h) => [h.name, h.status, h.till_version])).toEqual(
      dbBefore.map((h) => [h.name, h.status, h.till_version]),
    );
  });

  it('upgrades side by side, switches the launcher, and a failed upgrade leaves the old version working', async () => {
    const next = `${LOCAL_VERSION}-next`;
    const bundle = await buildVariant(next, scratch);
    const up = await tillVariant(bundle, home, ['host', 'setup', 'h0', '--json']);
    expect(up.code, up.stderr).toBe(0);
    expect(JSON.parse(up.stdout).results[0]).toMatchObject({
      ok: true,
      changed: true,
      previousVersion: LOCAL_VERSION,
      tillVersion: next,
    });
    expect(sshOut(home, 'h0', '~/.till/bin/till --version').trim()).toBe(next);
    // Both versions side by side, no temporary file left behind.
    expect(sshOut(home, 'h0', 'ls -A ~/.till/lib').trim().split('\n').sort()).toEqual(
      [`till-${LOCAL_VERSION}.mjs`, `till-${next}.mjs`].sort(),
    );
    expect(sshOut(home, 'h0', 'ls -A ~/.till/bin').trim()).toBe('till');

    // Downgrade again with the built till: the launcher switches back.
    const back = JSON.parse((await tillOk(home, ['host', 'setup', 'h0', '--json'])).stdout).results[0];
    expect(back).toMatchObject({ ok: true, changed: true, previousVersion: next, tillVersion: LOCAL_VERSION });
    expect((await hostsOf()).find((h) => h.name === 'h0')!.till_version).toBe(LOCAL_VERSION);

    // A failed upgrade (the host's lib folder cannot be written) leaves the old version answering.
    sshOut(home, 'h1', 'chmod 555 ~/.till/lib');
    try {
      const failed = await tillVariant(bundle, home, ['host', 'setup', 'h1', '--json']);
      expect(failed.code).toBe(1);
      const res = JSON.parse(failed.stdout).results[0];
      expect(res).toMatchObject({ ok: false, status: 'failed' });
      expect(res.error).toMatch(/rsync exit \d+/);
      expect(sshOut(home, 'h1', '~/.till/bin/till --version').trim()).toBe(LOCAL_VERSION);
    } finally {
      sshOut(home, 'h1', 'chmod 755 ~/.till/lib');
    }
    expect((await hostsOf()).find((h) => h.name === 'h1')).toMatchObject({
      status: 'till-ready',
      till_version: LOCAL_VERSION,
    });
  });

  it('host test marks a host till-ready when its till answers', async () => {
    // h2 runs till; in the database it starts again as a new, untested host.
    await tillOk(home, ['host', 'remove', 'h2']);
    await tillOk(home, ['host', 'add', 'h2', lab.hosts[2]!.spec]);
    const fresh = (await hostsOf()).find((h) => h.name === 'h2')!;
    expect(fresh.status).toBe('untested');
    expect(fresh.till_version ?? null).toBeNull();
    const r = JSON.parse((await tillOk(home, ['host', 'test', 'h2', '--json'])).stdout);
    expect(r.results[0]).toMatchObject({ ok: true, tillVersion: LOCAL_VERSION });
    expect((await hostsOf()).find((h) => h.name === 'h2')).toMatchObject({
      status: 'till-ready',
      till_version: LOCAL_VERSION,
    });
  });

  it('--force ships a rebuilt bundle of the same version; without it nothing is copied', async () => {
    const dir = join(scratch, 'rebuilt');
    mkdirSync(dir, { recursive: true });
    const rebuilt = join(dir, 'till.mjs');
    writeFileSync(rebuilt, `${readFileSync('dist/till.mjs', 'utf8')}\n// rebuilt\n`);
    const remote = `${lab.hosts[2]!.home}/.till/lib/till-${LOCAL_VERSION}.mjs`;
    const before = fileId(remote);

    const plain = await tillVariant(rebuilt, home, ['host', 'setup', 'h2', '--json']);
    expect(plain.code, plain.stderr).toBe(0);
    expect(JSON.parse(plain.stdout).results[0]).toMatchObject({ ok: true, changed: false });
    expect(fileId(remote)).toBe(before);

    const forced = await tillVariant(rebuilt, home, ['host', 'setup', 'h2', '--force', '--json']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(JSON.parse(forced.stdout).results[0]).toMatchObject({
      ok: true,
      changed: true,
      previousVersion: LOCAL_VERSION,
      tillVersion: LOCAL_VERSION,
    });
    expect(readFileSync(remote, 'utf8')).toBe(readFileSync(rebuilt, 'utf8'));
    expect(sshOut(home, 'h2', '~/.till/bin/till --version').trim()).toBe(LOCAL_VERSION);
  });

  it('an upgrade interrupted (Ctrl-C) while the bundle is being copied leaves the previous version answering; a re-run finishes it', async () => {
    const next = `${LOCAL_VERSION}-next`;
    const bundle = await buildVariant(next, scratch);
    rmSync(join(rsyncGate, 'go'));
    rmSync(join(rsyncGate, 'started'), { force: true });
    let interrupted = false;
    try {
      const r = await tillVariant(bundle, home, ['host', 'setup', 'h6'], {
        onSpawn: (child) =>
          void waitUntil(() => existsSync(join(rsyncGate, 'started')), 120_000, "h6's rsync to start").then(() => {
            interrupted = true;
            child.kill('SIGINT');
          }),
      });
      expect(interrupted).toBe(true);
      expect(r.code, r.stderr).toBe(130);
    } finally {
      writeFileSync(join(rsyncGate, 'go'), '');
    }
    expect(sshOut(home, 'h6', '~/.till/bin/till --version').trim()).toBe(LOCAL_VERSION);
    expect(sshOut(home, 'h6', 'ls ~/.till/lib').trim()).toBe(`till-${LOCAL_VERSION}.mjs`);
    expect((await hostsOf()).find((h) => h.name === 'h6')).toMatchObject({
      status: 'till-ready',
      till_version: LOCAL_VERSION,
    });

    const again = await tillVariant(bundle, home, ['host', 'setup', 'h6', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).results[0]).toMatchObject({
      ok: true,
      changed: true,
      previousVersion: LOCAL_VERSION,
      tillVersion: next,
    });
    expect(sshOut(home, 'h6', '~/.till/bin/till --version').trim()).toBe(next);
  });

  it('captures 20 MB of remote output without hanging, in one valid JSON document', async () => {
    const size = 20_000_000;
    const r = await tillOk(
      home,
      ['host', 'exec', 'h0', '--json', '--', `head -c ${size} /dev/zero | tr '\\0' x; echo; echo done >&2`],
      { timeoutMs: 180_000 },
    );
    const doc = JSON.parse(r.stdout);
    expect(doc.results[0].stdout.length).toBe(size + 1);
    expect(doc.results[0].stdout.startsWith('xxxx')).toBe(true);
    expect(doc.results[0].stderr).toBe('done\n');
  });
});
