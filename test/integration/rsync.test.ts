import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFleet } from '../../src/core/fanout.js';
import { addHost } from '../../src/core/host-admin.js';
import { Inventory } from '../../src/inventory/inventory.js';
import { initTillHome } from '../../src/inventory/till-home.js';
import { tillPaths, type TillPaths } from '../../src/core/paths.js';
import { setupJob } from '../../src/ops/setup.js';
import { buildRsyncPushArgs } from '../../src/rsync/args.js';
import { classifyRsync, RSYNC_TRANSPORT_CODES } from '../../src/rsync/outcome.js';
import { runProcess } from '../../src/ssh/process.js';
import { startLab, type Lab } from '../lab/lab.js';
import { closeMasters, tempHome } from '../lab/till.js';

describe('rsync through till config against real sshd', () => {
  let home: string;
  let paths: TillPaths;
  let lab: Lab;
  let src: string;

  beforeAll(async () => {
    home = tempHome().home;
    paths = tillPaths(home);
    await initTillHome(paths);
    lab = await startLab(2, { authorizedKey: readFileSync(paths.publicKey, 'utf8') });
    const inventory = new Inventory(paths);
    for (const h of lab.hosts) await addHost(inventory, { name: `h${h.index}`, spec: h.spec });
    src = join(home, 'payload.txt');
    writeFileSync(src, 'payload\n');
  });
  afterAll(async () => {
    lab?.stop();
    await closeMasters(home);
  });

  it('copies a file into a folder it creates, under the final name only', async () => {
    const r = await runProcess(
      'rsync',
      buildRsyncPushArgs(paths, 'h0', [src], 'deep/dir/p.txt', { rsyncPath: 'mkdir -p deep/dir && rsync' }),
    );
    expect(classifyRsync(r), r.stderr).toBeUndefined();
    expect(readFileSync(join(lab.hosts[0]!.home, 'deep/dir/p.txt'), 'utf8')).toBe('payload\n');
  });

  it('an rsync error on a working connection is a remote failure, not retried', async () => {
    const r = await runProcess('rsync', buildRsyncPushArgs(paths, 'h0', [src], '/proc/not-writable/p.txt'));
    const f = classifyRsync(r);
    expect(f).toMatchObject({ kind: 'remote', connection: false, retryable: false });
    expect(f!.message).toMatch(/^rsync exit \d+/);
  });

  it('a host that is down is a retryable connection failure', async () => {
    lab.hosts[1]!.stop();
    const r = await runProcess('rsync', buildRsyncPushArgs(paths, 'h1', [src], 'p.txt', { connectTimeout: 5 }));
    expect([255, ...RSYNC_TRANSPORT_CODES]).toContain(r.exitCode);
    expect(classifyRsync(r)).toMatchObject({ kind: 'refused', connection: true, retryable: true });

    // Through the engine: setup on the down host is retried, then reported unreachable.
    const report = await runFleet(
      [{ name: 'h1', entry: (await new Inventory(paths).read()).hosts.h1! }],
      setupJob(paths, { version: '0.0.1', bundlePath: src }),
      { attempts: 2, backoff: { minMs: 10, maxMs: 20, factor: 2 } },
    );
    expect(report.results[0]).toMatchObject({ status: 'unreachable', attempts: 2, failureKind: 'refused' });
  });
});
