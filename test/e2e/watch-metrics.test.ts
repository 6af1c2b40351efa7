/** `till watch --metrics`: the exposition over HTTP while the daemon runs; loopback only. */
import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { TILL_BIN, tempHome, till, tillOk } from '../lab/till.js';
import { createServer } from 'node:net';

const homes: Array<() => void> = [];
afterAll(() => homes.forEach((c) => c()));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

async function poll<T>(f: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('timed out polling');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('till watch --metrics', () => {
  it('serves /metrics over HTTP while the watch runs, with one till_host_up per host', async () => {
    const { home, cleanup } = tempHome();
    homes.push(cleanup);
    await tillOk(home, ['host', 'init']);
    await tillOk(home, ['host', 'add', 'a', 'u@10.0.0.1']);
    await tillOk(home, ['host', 'add', 'b', 'u@10.0.0.2']);
    const port = await freePort();
    const child = spawn(process.execPath, [TILL_BIN, 'watch', '--metrics', `127.0.0.1:${port}`], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, TILL_HOME: home, NO_COLOR: '1' },
      stdio: 'ignore',
    });
    try {
      const body = await poll(async () => {
        const res = await fetch(`http://127.0.0.1:${port}/metrics`);
        return res.ok ? res.text() : undefined;
      });
      expect(body.match(/^till_host_up\{/gm)).toHaveLength(2);
      expect(body).toContain('# TYPE till_host_up gauge');
      expect((await fetch(`http://127.0.0.1:${port}/nope`)).status).toBe(404);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    expect(child.exitCode).toBe(0);
  });

  it('refuses a non-loopback bind without --metrics-allow-remote, before starting', async () => {
    const { home, cleanup } = tempHome();
    homes.push(cleanup);
    await tillOk(home, ['host', 'init']);
    const r = await till(home, ['watch', '--metrics', '0.0.0.0:9100'], { timeoutMs: 20_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--metrics-allow-remote/);
    const status = await till(home, ['watch', '--status']);
    expect(status.code).toBe(3);
  });
});
