import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { masterAnswers } from '../../src/ssh/master.js';

/**
 * keep-warm's check that a master serves a control socket, against stand-in listeners:
 * only an ssh master's hello counts. (A real master answering, and not after it exited,
 * is in test/e2e/keep-warm.test.ts.)
 */
const HELLO = Buffer.from('000000080000000100000004', 'hex');
const dirs: string[] = [];
const servers: Server[] = [];
const socketPath = () => {
  const dir = mkdtempSync('/tmp/t-mux-');
  dirs.push(dir);
  return join(dir, 's');
};
const listen = (path: string, onConn: (c: Socket) => void) =>
  new Promise<void>((resolve) => {
    const server = createServer(onConn);
    servers.push(server);
    server.listen(path, resolve);
  });

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('masterAnswers', () => {
  it('true for a listener that sends the mux hello, also in pieces', async () => {
    const whole = socketPath();
    await listen(whole, (c) => c.write(HELLO));
    expect(await masterAnswers(whole, 5000)).toBe(true);
    const pieces = socketPath();
    await listen(pieces, (c) => {
      c.write(HELLO.subarray(0, 3));
      setTimeout(() => c.write(HELLO.subarray(3)), 50);
    });
    expect(await masterAnswers(pieces, 5000)).toBe(true);
  });

  it('false for no socket, a listener that says nothing (bounded), something else, or hangs up', async () => {
    expect(await masterAnswers(join(socketPath(), 'missing'), 5000)).toBe(false);
    const silent = socketPath();
    await listen(silent, () => undefined);
    const started = Date.now();
    expect(await masterAnswers(silent, 300)).toBe(false);
    expect(Date.now() - started).toBeLessThan(5000);
    const other = socketPath();
    await listen(other, (c) => c.write(Buffer.from('SSH-2.0-OpenSSH_9.2\r\n')));
    expect(await masterAnswers(other, 5000)).toBe(false);
    const short = socketPath();
    await listen(short, (c) => c.end(HELLO.subarray(0, 8)));
    expect(await masterAnswers(short, 5000)).toBe(false);
  });

  it('false for the socket file a killed master left behind (nothing listens on it)', async () => {
    const path = socketPath();
    const child = spawn(
      process.execPath,
      ['-e', `require('net').createServer(()=>{}).listen(${JSON.stringify(path)}, () => console.log('up'))`],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    await new Promise((r) => child.stdout!.once('data', r));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(existsSync(path)).toBe(true);
    expect(await masterAnswers(path, 5000)).toBe(false);
  });
});
