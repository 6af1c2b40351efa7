import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { errorMessage } from '../core/errors.js';
import type { TillPaths } from '../core/paths.js';
import { buildSshArgs } from '../ssh/args.js';
import {
  FrameReader,
  READY_WORD,
  RemoteAnswerReader,
  WARM_SOCKET,
  encodeFrame,
  encodeRemoteRequest,
  parseRequest,
  warmSessionCommand,
  type RemoteAnswer,
  type WarmResponse,
} from './warm-wire.js';

/** How long a new session may take to say it is ready. */
const READY_TIMEOUT_MS = 30_000;
/** How long a closed session's ssh may take to end before it is killed. */
const CLOSE_GRACE_MS = 2_000;

type RunResult = { kind: 'done'; answer: RemoteAnswer } | { kind: 'unavailable' | 'broken'; message: string };

/**
 * One long-lived session to a host: `ssh <host> sh -c WARM_LOOP` over its master,
 * running one command at a time (warm-wire.ts). A session that breaks is never re-used.
 */
export class WarmSession {
  private readonly child: ChildProcess;
  private readonly reader = new RemoteAnswerReader();
  private state: 'opening' | 'ready' | 'busy' | 'dead' = 'opening';
  private pending: ((r: RunResult) => void) | undefined;
  private greeting: Buffer = Buffer.alloc(0);
  private stderrTail = '';
  private settleReady: (ok: boolean) => void = () => undefined;
  /** Why the session ended (once dead). */
  reason = '';
  /** Resolves true once ready, false if it never gets there. */
  readonly ready: Promise<boolean>;

  constructor(
    paths: TillPaths,
    readonly name: string,
  ) {
    const nonce = randomBytes(8).toString('hex');
    this.child = spawn('ssh', buildSshArgs(paths, name, warmSessionCommand(nonce)), {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.ready = new Promise<boolean>((resolve) => (this.settleReady = resolve));
    const timer = setTimeout(() => this.fail('it did not answer in time'), READY_TIMEOUT_MS);
    timer.unref();
    const readyLine = Buffer.from(`${READY_WORD} ${nonce}\n`);
    this.child.stdin!.on('error', () => undefined);
    this.child.stdout!.on('data', (chunk: Buffer) => {
      if (this.state === 'opening') {
        // What a login shell prints before the loop starts is skipped, up to the ready line.
        this.greeting = Buffer.concat([this.greeting, chunk]);
        const at = this.greeting.indexOf(readyLine);
        if (at < 0) {
          if (this.greeting.length > 1 << 20) this.fail('it printed too much before starting');
          return;
        }
        clearTimeout(timer);
        this.state = 'ready';
        this.settleReady(true);
        chunk = this.greeting.subarray(at + readyLine.length);
        this.greeting = Buffer.alloc(0);
        if (chunk.length === 0) return;
      }
      let answers: RemoteAnswer[];
      try {
        answers = this.reader.push(chunk);
      } catch (err) {
        this.fail(errorMessage(err));
        return;
      }
      for (const a of answers) {
        const done = this.pending;
        this.pending = undefined;
        if (done === undefined || this.state !== 'busy') {
          this.fail('it answered a command it was not sent');
          return;
        }
        this.state = 'ready';
        done({ kind: 'done', answer: a });
      }
    });
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-2000);
    });
    this.child.on('error', (err) => this.fail(err.message));
    this.child.on('close', (code, signal) => {
      clearTimeout(timer);
      const why = this.stderrTail.trim().split('\n').pop() || `ssh exited ${code ?? signal}`;
      this.fail(why);
    });
  }

  get alive(): boolean {
    return this.state !== 'dead';
  }

  get idle(): boolean {
    return this.state === 'ready';
  }

  /** Runs one line; `unavailable` when the session is not ready or busy (nothing was sent). */
  run(line: string): Promise<RunResult> {
    if (this.state !== 'ready')
      return Promise.resolve({
        kind: 'unavailable',
        message: this.state === 'busy' ? 'its session is busy' : 'no session',
      });
    let request: Buffer;
    try {
      request = encodeRemoteRequest(line);
    } catch (err) {
      return Promise.resolve({ kind: 'unavailable', message: errorMessage(err) });
    }
    this.state = 'busy';
    return new Promise((resolve) => {
      this.pending = resolve;
      this.child.stdin!.write(request);
    });
  }

  private fail(why: string): void {
    if (this.state === 'dead') return;
    this.state = 'dead';
    this.reason = why;
    const pending = this.pending;
    this.pending = undefined;
    pending?.({ kind: 'broken', message: `the session broke while the command ran (${why})` });
    this.settleReady(false);
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
  }

  /** Ends the session: end-of-file ends the loop (its trap removes its folder), then ssh. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) {
      this.fail('closed');
      return;
    }
    const exited = new Promise<void>((resolve) => this.child.once('close', () => resolve()));
    this.child.stdin!.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), CLOSE_GRACE_MS);
    await exited;
    clearTimeout(timer);
    this.fail('closed');
  }
}

/**
 * The sessions of `watch --keep-warm` (at most one per host) and the unix socket the
 * CLI reaches them by. The socket lives in TILL_HOME (which must be 0700 and the user's)
 * and is 0600: only the user (and root) can ask the daemon to run anything.
 */
export class WarmSessions {
  private readonly sessions = new Map<string, WarmSession>();
  private server: Server | undefined;
  private readonly clients = new Set<Socket>();

  constructor(
    private readonly paths: TillPaths,
    private readonly log: (message: string) => void,
  ) {}

  get socketPath(): string {
    return join(this.paths.home, WARM_SOCKET);
  }

  has(name: string): boolean {
    return this.sessions.get(name)?.alive === true;
  }

  /** Opens a session to a host unless one is alive; resolves whether one is. */
  async open(name: string): Promise<boolean> {
    const current = this.sessions.get(name);
    if (current?.alive) return current.ready;
    const s = new WarmSession(this.paths, name);
    this.sessions.set(name, s);
    const ok = await s.ready;
    if (!ok) {
      if (this.sessions.get(name) === s) this.sessions.delete(name);
      this.log(`cannot open a session to ${name} (${s.reason})`);
    }
    return ok;
  }

  async drop(name: string): Promise<void> {
    const s = this.sessions.get(name);
    this.sessions.delete(name);
    await s?.close();
  }

  /** Starts serving on the socket; a TILL_HOME open to others is refused (logged, no socket). */
  async listen(): Promise<boolean> {
    const st = lstatSync(this.paths.home);
    const uid = process.getuid?.();
    if (!st.isDirectory() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o077) !== 0) {
      this.log(
        `not serving the sessions: TILL_HOME ${this.paths.home} must be a directory of this user with mode 0700 (chmod 700 it)`,
      );
      return false;
    }
    // A socket left by a daemon that was killed: this one holds the watch claim, so it is stale.
    try {
      if (lstatSync(this.socketPath).isSocket()) unlinkSync(this.socketPath);
    } catch {
      // none
    }
    const server = createServer((socket) => this.serve(socket));
    const old = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.socketPath, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      this.log(`not serving the sessions: cannot listen on ${this.socketPath}: ${errorMessage(err)}`);
      return false;
    } finally {
      process.umask(old);
    }
    chmodSync(this.socketPath, 0o600);
    server.on('error', (err) => this.log(`session socket: ${errorMessage(err)}`));
    this.server = server;
    return true;
  }

  private serve(socket: Socket): void {
    this.clients.add(socket);
    socket.on('close', () => this.clients.delete(socket));
    socket.on('error', () => undefined);
    const frames = new FrameReader();
    socket.on('data', (chunk: Buffer) => {
      let values: unknown[];
      try {
        values = frames.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (const v of values) {
        const req = parseRequest(v);
        if (req === undefined) {
          socket.destroy();
          return;
        }
        const session = this.sessions.get(req.host);
        const started = performance.now();
        void (
          session ? session.run(req.line) : Promise.resolve<RunResult>({ kind: 'unavailable', message: 'no session' })
        ).then((r) => {
          const res: WarmResponse =
            r.kind === 'done'
              ? {
                  id: req.id,
                  kind: 'done',
                  exitCode: r.answer.exitCode,
                  stdout: r.answer.stdout.toString('base64'),
                  stderr: r.answer.stderr.toString('base64'),
                  ms: Math.round(performance.now() - started),
                }
              : { id: req.id, kind: r.kind, message: r.message };
          if (r.kind === 'broken') this.log(`${req.host}: ${r.message}`);
          if (!socket.destroyed) socket.write(encodeFrame(res));
        });
      }
    });
  }

  /** Stops serving and closes every session. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) {
      for (const c of this.clients) c.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(all.map((s) => s.close()));
  }
}
