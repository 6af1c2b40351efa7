import { lstatSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import type { TillPaths } from '../core/paths.js';
import { FrameReader, WARM_SOCKET, encodeFrame, type WarmResponse } from './warm-wire.js';

/** How long the CLI waits to reach the daemon before it takes the normal path. */
const CONNECT_TIMEOUT_MS = 1_000;

/**
 * The CLI's end of `watch --keep-warm`'s sessions: one connection per run, one request
 * per host. Each answer says whether the command ran (`done`), was never started
 * (`unavailable`: use ssh), or may have started and its fate is unknown (`broken`:
 * never run again). A connection that ends with requests in flight answers them
 * `broken`: the daemon may have sent them.
 */
export class WarmClient {
  private nextId = 1;
  private readonly waiting = new Map<number, (r: WarmResponse) => void>();
  private closedBecause: string | undefined;

  private constructor(private readonly socket: Socket) {
    const frames = new FrameReader();
    socket.on('data', (chunk: Buffer) => {
      let values: unknown[];
      try {
        values = frames.push(chunk);
      } catch (err) {
        socket.destroy(err as Error);
        return;
      }
      for (const v of values) {
        const r = v as WarmResponse;
        const done = this.waiting.get(r.id);
        this.waiting.delete(r.id);
        done?.(r);
      }
      if (this.waiting.size === 0) socket.unref();
    });
    const end = (why: string) => {
      this.closedBecause ??= why;
      for (const [id, done] of this.waiting)
        done({ id, kind: 'broken', message: `the connection to till watch ended while the command ran (${why})` });
      this.waiting.clear();
    };
    socket.on('error', (err) => end(err.message));
    socket.on('close', () => end('closed'));
    socket.unref();
  }

  /**
   * Connects to the daemon's socket, if one is there and safe to use: a socket, owned by
   * this user, not open to others. Otherwise (no daemon, another user's socket, a refused
   * connection) undefined: the caller takes the normal path. With no daemon (the common
   * case) this costs one lstat: synchronous, so that a `host exec` does not start libuv's
   * thread pool and load node:fs/promises before its first ssh only to find no socket.
   */
  static async open(paths: TillPaths): Promise<WarmClient | undefined> {
    const path = join(paths.home, WARM_SOCKET);
    try {
      const st = lstatSync(path);
      const uid = process.getuid?.();
      if (!st.isSocket() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o077) !== 0) return undefined;
    } catch {
      return undefined;
    }
    return new Promise((resolve) => {
      const socket = connect(path);
      const timer = setTimeout(() => {
        socket.destroy();
        resolve(undefined);
      }, CONNECT_TIMEOUT_MS);
      socket.once('error', () => {
        clearTimeout(timer);
        resolve(undefined);
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new WarmClient(socket));
      });
    });
  }

  /** Asks the daemon to run one line on a host; a cancelled wait leaves the command running (as ssh does). */
  run(host: string, line: string, signal?: AbortSignal): Promise<WarmResponse | { kind: 'cancelled' }> {
    const id = this.nextId++;
    if (this.closedBecause !== undefined)
      return Promise.resolve({ id, kind: 'unavailable', message: `no connection (${this.closedBecause})` });
    if (signal?.aborted) return Promise.resolve({ kind: 'cancelled' });
    return new Promise((resolve) => {
      const onAbort = () => {
        this.waiting.delete(id);
        resolve({ kind: 'cancelled' });
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.set(id, (r) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(r);
      });
      this.socket.ref();
      this.socket.write(encodeFrame({ id, host, line }));
    });
  }

  close(): void {
    this.socket.destroy();
  }
}
