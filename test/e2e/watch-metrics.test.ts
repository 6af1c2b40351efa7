/** `till watch --metrics`: the exposition over HTTP while the daemon runs; loopback only. */
import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { TILL_BIN, freePort, tempHome, till, tillOk } from '../lab/till.js';

const homes: Array<() => void> = [];
afterAll(() => homes.forEach((c) => c()));

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
    await tillOk(home, ['host', 'add', 'a', 'u@127.0.0.1:9']);
    await tillOk(home, ['host', 'add', 'b', 'u@127.0.0.2:9']);
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

describe('till metrics flags', () => {
  it('--metrics-allow-remote lets --serve bind a non-loopback address (0.0.0.0, scraped here over 127.0.0.1)', async () => {
    const { home, cleanup } = tempHome();
    homes.push(cleanup);
    await tillOk(home, ['host', 'init']);
    await tillOk(home, ['host', 'add', 'a', 'u@127.0.0.1:9']);
    let child: import('node:child_process').ChildProcess | undefined;
    const run = till(home, ['metrics', '--serve', '0.0.0.0:0', '--metrics-allow-remote'], {
      onSpawn: (c) => (child = c),
      timeoutMs: 60_000,
    });
    let stderr = '';
    child!.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      const url = await poll(async () => /serving metrics at http:\/\/0\.0\.0\.0:(\d+)\/metrics/.exec(stderr)?.[1]);
      // Loopback traffic only: a socket bound to 0.0.0.0 answers on 127.0.0.1 too.
      const body = await poll(async () => {
        const res = await fetch(`http://127.0.0.1:${url}/metrics`);
        return res.ok ? res.text() : undefined;
      });
      expect(body).toContain('till_host_up{host="a"} NaN');
    } finally {
      child!.kill('SIGTERM');
    }
    expect((await run).code).toBe(0);
  });

  it('refuses flags that would be ignored: --json with --serve, --metrics-allow-remote without --serve (exit 2)', async () => {
    const { home, cleanup } = tempHome();
    homes.push(cleanup);
    await tillOk(home, ['host', 'init']);
    const both = await till(home, ['metrics', '--json', '--serve', '127.0.0.1:0'], { timeoutMs: 20_000 });
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/'--json' cannot be used with option '--serve/);
    expect(both.stderr).not.toMatch(/serving/);
    const alone = await till(home, ['metrics', '--metrics-allow-remote']);
    expect(alone.code).toBe(2);
    expect(alone.stderr).toMatch(/--metrics-allow-remote only applies to --serve/);
    expect(alone.stdout).toBe('');
  });
});
