/**
 * `till watch --keep-warm` against real sshd hosts: a master to every till-ready host,
 * re-opened after the host comes back, none to a host that is not till-ready, is
 * unreachable or was removed, and all closed by `till watch --stop`. Every wait polls
 * a command or the watch log; one window of ~3 rounds asserts that nothing starts.
 */
import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { masterAnswers } from '../../src/ssh/master.js';
import type { Lab } from '../lab/lab.js';
import { closeMasters, keepWarmFleet, till, tillOk, waitUntil, type TillRun } from '../lab/till.js';

let lab: Lab;
let home: string;
const cfg = () => join(home, 'ssh', 'config');
const log = () => {
  const file = join(home, 'logs', 'watch.log');
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
};

/** The control socket ssh uses for a host of the database (asked while it is in ssh/config). */
const socketOf = (name: string) =>
  execFileSync('ssh', ['-G', '-F', cfg(), `till-${name}`], { encoding: 'utf8' })
    .split('\n')
    .find((l) => l.startsWith('controlpath '))!
    .slice('controlpath '.length);
const alive = (socket: string) =>
  spawnSync('ssh', ['-o', `ControlPath=${socket}`, '-O', 'check', 'x'], { stdio: 'ignore' }).status === 0;
/** The live masters of this TILL_HOME: control sockets that answer. */
const masters = () => {
  const dir = join(home, 'ssh', 'control');
  return existsSync(dir) ? readdirSync(dir).filter((s) => alive(join(dir, s))) : [];
};

beforeAll(async () => {
  // h0–h2 till-ready (till installed on them; h0's key restricted to the gate); h3 only connected.
  ({ home, lab } = await keepWarmFleet());
  const status = JSON.parse((await tillOk(home, ['host', 'list', '--json'])).stdout) as {
    hosts: Array<{ name: string; status: string }>;
  };
  expect(Object.fromEntries(status.hosts.map((h) => [h.name, h.status]))).toEqual({
    h0: 'till-ready',
    h1: 'till-ready',
    h2: 'till-ready',
    h3: 'connected',
  });
  await closeMastersOnly();
}, 240_000);

afterAll(async () => {
  await closeMasters(home);
  lab?.stop();
});

async function closeMastersOnly() {
  for (const name of ['h0', 'h1', 'h2', 'h3']) spawnSync('ssh', ['-F', cfg(), '-O', 'exit', `till-${name}`]);
  await waitUntil(() => masters().length === 0, 10_000, 'no masters');
}

describe('till watch --keep-warm', { timeout: 300_000 }, () => {
  it('keeps a master to each till-ready host, re-opens a dropped one, none for unreachable or removed hosts; --stop closes them', async () => {
    const sockets = Object.fromEntries(['h0', 'h1', 'h2', 'h3'].map((n) => [n, socketOf(n)]));
    const gateLog = join(lab.hosts[0]!.home, '.till', 'logs', 'gate.log');
    const gateLines = () => (existsSync(gateLog) ? readFileSync(gateLog, 'utf8').split('\n').length : 0);
    const asked = gateLines();
    let child: ChildProcess | undefined;
    const done: Promise<TillRun> = till(home, ['watch', '--keep-warm', '--keep-warm-interval', '1s'], {
      timeoutMs: 280_000,
      onSpawn: (c) => (child = c),
    });

    // One master per till-ready host, none to the host that is only connected. The master
    // to the restricted host opened no session: its gate was asked nothing.
    await waitUntil(() => ['h0', 'h1', 'h2'].every((n) => alive(sockets[n]!)), 60_000, 'masters to h0, h1, h2');
    expect(alive(sockets.h3!)).toBe(false);
    expect(masters()).toHaveLength(3);
    expect(gateLines()).toBe(asked);
    // Commands now run over them (through the gate on h0): no new master appears.
    await tillOk(home, ['host', 'test', 'h0']);
    expect(gateLines()).toBeGreaterThan(asked);
    await tillOk(home, ['host', 'exec', 'h1', 'h2', '--', 'true']);
    expect(masters()).toHaveLength(3);

    // The host goes away (its sshd and every session killed): the master drops, and
    // comes back once the host does.
    const h1 = lab.hosts[1]!;
    h1.stop();
    await waitUntil(() => /cannot open a master to h1 /.test(log()), 60_000, 'a failed re-open of h1');
    expect(alive(sockets.h1!)).toBe(false);
    await h1.start();
    await waitUntil(() => /h1 answers again; master re-opened/.test(log()), 60_000, 'h1 re-opened');
    expect(alive(sockets.h1!)).toBe(true);

    // Unreachable (3 failed operations while it was down): its master is closed, none is
    // re-opened after the host is back.
    const h2 = lab.hosts[2]!;
    h2.stop();
    for (let i = 0; i < 3; i++)
      expect((await till(home, ['host', 'exec', 'h2', '--retries', '1', '--', 'true'])).code).toBe(1);
    const list = JSON.parse((await tillOk(home, ['host', 'list', '--json'])).stdout) as {
      hosts: Array<{ name: string; status: string }>;
    };
    expect(list.hosts.find((h) => h.name === 'h2')!.status).toBe('unreachable');
    await h2.start();
    // Removed: its master is closed (by host remove, and by keep-warm should it have re-opened
    // it meanwhile). The round that drops h0 also saw h2 back and unreachable.
    await tillOk(home, ['host', 'remove', 'h0']);
    await waitUntil(() => /h0 is no longer kept/.test(log()), 60_000, 'keep-warm dropping h0');
    await waitUntil(() => /h2 is no longer kept/.test(log()), 60_000, 'keep-warm dropping h2');
    expect(alive(sockets.h0!)).toBe(false);
    expect(alive(sockets.h2!)).toBe(false);
    expect(alive(sockets.h1!)).toBe(true);
    expect(masters()).toHaveLength(1);

    // --stop closes what it kept.
    const stopped = await till(home, ['watch', '--stop']);
    expect(stopped.code, stopped.stderr).toBe(0);
    const r = await done;
    expect(r.code, r.stderr).toBe(0);
    expect(child).toBeDefined();
    expect(alive(sockets.h1!)).toBe(false);
    expect(masters()).toEqual([]);
    expect(log()).toMatch(/\[keep-warm\] keep-warm: closed the masters/);
  });

  it('a round over a live master starts no process: the master answers on its socket, and ssh -G runs again only after ssh/config changed', async () => {
    // Every ssh the daemon starts goes through this wrapper, which notes its arguments.
    const bin = mkdtempSync('/tmp/t-kwssh-');
    const calls = join(bin, 'calls');
    writeFileSync(join(bin, 'ssh'), `#!/bin/sh\nprintf '%s\\n' "$*" >> ${calls}\nexec /usr/bin/ssh "$@"\n`, {
      mode: 0o755,
    });
    const noted = () => (existsSync(calls) ? readFileSync(calls, 'utf8').split('\n').filter(Boolean) : []);
    // The session keep-warm holds over the master (a command, not -G, -N or -O).
    const session = (l: string) => !/^-[GNO] /.test(l) && l.includes('till-h1');
    const h1 = socketOf('h1');
    const done = till(home, ['watch', '--keep-warm', '--keep-warm-interval', '1s'], {
      timeoutMs: 120_000,
      env: { PATH: `${bin}:${process.env.PATH}` },
    });
    try {
      await waitUntil(() => alive(h1) && noted().some(session), 60_000, 'the master and session to h1');
      expect(await masterAnswers(h1)).toBe(true);
      const before = noted().length;
      // A window of about three rounds (1 s apart) over the live master: asserting that nothing
      // starts needs time to pass; nothing else in this file sleeps.
      await new Promise((r) => setTimeout(r, 3_000));
      expect(noted().slice(before)).toEqual([]);

      // The master goes (closed by hand): the next round opens one again, and its session.
      spawnSync('ssh', ['-o', `ControlPath=${h1}`, '-O', 'exit', 'x'], { stdio: 'ignore' });
      expect(await masterAnswers(h1)).toBe(false);
      await waitUntil(() => /the master to h1 dropped; re-opening it/.test(log()), 60_000, 'the re-open of h1');
      await waitUntil(() => alive(h1) && noted().slice(before).some(session), 60_000, 'h1 warm again');
      const during = noted().slice(before);
      expect(during.filter((l) => l.startsWith('-N '))).toHaveLength(1);
      expect(during.filter((l) => /^-[GO] /.test(l))).toEqual([]);

      // ssh/config changes (a host added): the next round asks ssh -G for h1's socket again.
      const mark = noted().length;
      await tillOk(home, ['host', 'add', 'h9', 'nobody@127.0.0.9']);
      await waitUntil(
        () =>
          noted()
            .slice(mark)
            .some((l) => /^-G .*till-h1$/.test(l)),
        60_000,
        'ssh -G for h1',
      );
      await tillOk(home, ['host', 'remove', 'h9']);
    } finally {
      await till(home, ['watch', '--stop']);
      const r = await done;
      expect(r.code, r.stderr).toBe(0);
      rmSync(bin, { recursive: true, force: true });
    }
    expect(alive(h1)).toBe(false);
  });

  it('--keep-warm-interval without --keep-warm, or under 1 s, is a usage error', async () => {
    const a = await till(home, ['watch', '--keep-warm-interval', '5s']);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/--keep-warm-interval goes with --keep-warm/);
    const b = await till(home, ['watch', '--keep-warm', '--keep-warm-interval', '0s']);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/--keep-warm-interval takes a duration/);
  });
});
