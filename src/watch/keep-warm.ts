import { readFileSync } from 'node:fs';
import { errorMessage } from '../core/errors.js';
import type { TillPaths } from '../core/paths.js';
import type { HostStatus } from '../core/state/hosts.js';
import type { Inventory } from '../inventory/inventory.js';
import { buildSshArgs } from '../ssh/args.js';
import { SOURCE_LINE_RE } from '../ssh/config.js';
import { masterAnswers } from '../ssh/master.js';
import { runProcess } from '../ssh/process.js';
import type { WatchService } from './daemon.js';
import type { WarmSessions } from './warm-sessions.js';

/**
 * `till watch --keep-warm`: a master connection kept to every host that is till-ready
 * (or deployed), so the first command after an idle hour runs over a live master
 * instead of paying a handshake per host.
 *
 * - A master is opened exactly as any till command opens one (till's ssh/config: its
 *   key, known_hosts, BatchMode, host-key checking), with `-N` (no session: nothing
 *   runs on the host, so a restricted key's gate is never asked) and
 *   `ControlPersist=yes`, so it stays until closed rather than 10 minutes.
 * - Every round (`intervalMs`) re-reads the database: a master that dropped is re-opened,
 *   after a failure with backoff (the interval, doubled per failure, at most
 *   MAX_BACKOFF_MS); a host removed, marked unreachable or no longer till-ready gets
 *   its master closed and none re-opened. Never more masters than hosts.
 * - Stopping (`till watch --stop`) closes every master it kept.
 *
 * Masters are found and closed by their control socket (`ssh -G` tells it while the
 * host is in ssh/config), so a host already gone from the config can still be closed.
 * A round starts no process for a host whose master is up: its socket is asked again
 * only when ssh/config changed (beyond its stamp line, which every database write
 * moves), and a master is known to be up when it answers on that socket with the mux
 * protocol's hello (what `ssh -O check` waits for first). Two ssh processes per host
 * and round, before: at 1,000 hosts, most of a core every 30 s.
 */
export const KEEP_WARM_INTERVAL_MS = 30_000;
export const MAX_BACKOFF_MS = 15 * 60_000;
/** Masters opened at once in a round (a fleet of thousands is warmed in waves). */
const OPEN_CONCURRENCY = 16;
const WARM_STATUSES: ReadonlySet<HostStatus> = new Set(['till-ready', 'deployed']);

interface Kept {
  /** The master's control socket. */
  socket: string | undefined;
  /** `socket` is what ssh/config, as last seen, makes of the host (else ask `ssh -G` again). */
  socketKnown: boolean;
  /** Failed opens in a row, and when the next attempt may be made. */
  failures: number;
  retryAt: number;
  /** Whether a master was up at the end of the last round. */
  up: boolean;
  /** The same for its session (with `sessions`): failed opens in a row, next attempt. */
  sessionFailures: number;
  sessionRetryAt: number;
}

export interface KeepWarmOptions {
  paths: TillPaths;
  inventory: Inventory;
  intervalMs?: number;
  connectTimeout?: number;
  now?: () => number;
  /** Also hold one command session per kept host that is not restricted (the CLI's warm path). */
  sessions?: boolean;
}

export class KeepWarm {
  private readonly hosts = new Map<string, Kept>();
  /** ssh/config without its stamp line, as the sockets in `hosts` were asked of it. */
  private configSeen: string | undefined;
  private readonly intervalMs: number;
  private readonly now: () => number;

  constructor(
    private readonly opts: KeepWarmOptions,
    private readonly log: (message: string) => void,
    private readonly sessions?: WarmSessions,
  ) {
    this.intervalMs = opts.intervalMs ?? KEEP_WARM_INTERVAL_MS;
    this.now = opts.now ?? Date.now;
  }

  /** One round: close what must not be kept, (re)open what dropped. */
  async round(signal?: AbortSignal): Promise<void> {
    let wanted: Set<string>;
    let restricted: Set<string>;
    try {
      const db = await this.opts.inventory.read();
      wanted = new Set(Object.keys(db.hosts).filter((n) => WARM_STATUSES.has(db.hosts[n]!.status)));
      // A restricted key's gate refuses a shell: those hosts keep the normal path.
      restricted = new Set(Object.keys(db.hosts).filter((n) => db.hosts[n]!.restricted === true));
    } catch (err) {
      this.log(`keep-warm: cannot read the host database: ${errorMessage(err)}`);
      return;
    }
    this.forgetSocketsIfConfigChanged();
    for (const name of wanted) {
      if (restricted.has(name) && this.sessions?.has(name)) {
        await this.sessions.drop(name);
        this.log(`keep-warm: ${name} is restricted now; closed its session`);
      }
    }
    for (const [name, kept] of this.hosts) {
      if (wanted.has(name)) continue;
      this.hosts.delete(name);
      await this.sessions?.drop(name);
      const open = kept.socket !== undefined && (await this.alive(kept.socket));
      if (open) await this.exit(kept.socket!);
      this.log(
        `keep-warm: ${name} is no longer kept (removed, unreachable or not till-ready)${open ? '; closed its master' : ''}`,
      );
    }
    const todo = [...wanted];
    const worker = async () => {
      for (let name = todo.shift(); name !== undefined && !signal?.aborted; name = todo.shift()) {
        await this.warm(name);
        if (!restricted.has(name)) await this.session(name);
      }
    };
    await Promise.all(Array.from({ length: Math.min(OPEN_CONCURRENCY, todo.length) }, worker));
  }

  private async warm(name: string): Promise<void> {
    let kept = this.hosts.get(name);
    if (kept === undefined) {
      kept = {
        socket: undefined,
        socketKnown: false,
        failures: 0,
        retryAt: 0,
        up: false,
        sessionFailures: 0,
        sessionRetryAt: 0,
      };
      this.hosts.set(name, kept);
    }
    if (!kept.socketKnown) {
      const socket = await this.socketOf(name);
      if (socket !== undefined) {
        kept.socket = socket;
        kept.socketKnown = true;
      }
    }
    if (kept.socket !== undefined && (await this.alive(kept.socket))) {
      kept.up = true;
      kept.failures = 0;
      return;
    }
    if (this.now() < kept.retryAt) return;
    if (kept.up) this.log(`keep-warm: the master to ${name} dropped; re-opening it`);
    kept.up = false;
    const args = buildSshArgs(this.opts.paths, name, undefined, {
      connectTimeout: this.opts.connectTimeout,
      options: { ControlMaster: 'auto', ControlPersist: 'yes' },
    });
    // -N: no session, no remote command. ssh returns once the master runs in the background.
    const r = await runProcess('ssh', ['-N', ...args], { timeoutMs: 60_000 });
    if (r.exitCode === 0 && kept.socket !== undefined && (await this.alive(kept.socket))) {
      if (kept.failures > 0) this.log(`keep-warm: ${name} answers again; master re-opened`);
      kept.up = true;
      kept.failures = 0;
      kept.retryAt = 0;
      return;
    }
    kept.failures += 1;
    const wait = Math.min(MAX_BACKOFF_MS, this.intervalMs * 2 ** (kept.failures - 1));
    kept.retryAt = this.now() + wait;
    const why = r.stderr.trim().split('\n').pop() || `ssh exited ${r.exitCode ?? r.signal}`;
    this.log(`keep-warm: cannot open a master to ${name} (${why}); next try in ${Math.round(wait / 1000)} s`);
  }

  /** With sessions: (re)opens the host's session over its live master, with the masters' backoff. */
  private async session(name: string): Promise<void> {
    const kept = this.hosts.get(name);
    if (this.sessions === undefined || kept === undefined || !kept.up || this.sessions.has(name)) return;
    if (this.now() < kept.sessionRetryAt) return;
    if (await this.sessions.open(name)) {
      if (kept.sessionFailures > 0) this.log(`keep-warm: ${name}: session re-opened`);
      kept.sessionFailures = 0;
      kept.sessionRetryAt = 0;
      return;
    }
    kept.sessionFailures += 1;
    const wait = Math.min(MAX_BACKOFF_MS, this.intervalMs * 2 ** (kept.sessionFailures - 1));
    kept.sessionRetryAt = this.now() + wait;
    this.log(`keep-warm: ${name}: next session try in ${Math.round(wait / 1000)} s`);
  }

  /** The control socket ssh would use for this host (undefined when ssh cannot say: not in the config). */
  private async socketOf(name: string): Promise<string | undefined> {
    const r = await runProcess('ssh', ['-G', ...buildSshArgs(this.opts.paths, name, undefined)], { timeoutMs: 10_000 });
    if (r.exitCode !== 0) return undefined;
    const line = r.stdout.split('\n').find((l) => l.startsWith('controlpath '));
    const path = line?.slice('controlpath '.length).trim();
    return path === undefined || path === '' || path === 'none' ? undefined : path;
  }

  private alive(socket: string): Promise<boolean> {
    return masterAnswers(socket);
  }

  /** A changed ssh/config (a host added, removed or edited) may put a host's master elsewhere: ask again. */
  private forgetSocketsIfConfigChanged(): void {
    let text: string;
    try {
      text = readFileSync(this.opts.paths.sshConfig, 'utf8').replace(SOURCE_LINE_RE, '');
    } catch {
      text = '';
    }
    if (text === this.configSeen) return;
    this.configSeen = text;
    for (const kept of this.hosts.values()) kept.socketKnown = false;
  }

  private async exit(socket: string): Promise<void> {
    await runProcess('ssh', ['-o', `ControlPath=${socket}`, '-O', 'exit', '--', 'till-keep-warm'], {
      timeoutMs: 10_000,
    });
  }

  /** Closes every session and master this kept. */
  async close(): Promise<void> {
    await this.sessions?.close();
    const kept = [...this.hosts.values()];
    this.hosts.clear();
    await Promise.all(
      kept.map(async (k) => {
        if (k.socket !== undefined && (await this.alive(k.socket))) await this.exit(k.socket);
      }),
    );
  }
}

/** The watch daemon's service: a round now, then one every interval; stopping closes the masters. */
export function keepWarmService(opts: KeepWarmOptions): WatchService {
  return {
    name: 'keep-warm',
    start: async (log) => {
      let sessions: WarmSessions | undefined;
      if (opts.sessions === true) {
        const { WarmSessions } = await import('./warm-sessions.js');
        sessions = new WarmSessions(opts.paths, (m) => log(`keep-warm: ${m}`));
        if (await sessions.listen())
          log(`holding a command session per kept host; the CLI reaches them at ${sessions.socketPath}`);
        else sessions = undefined;
      }
      const keep = new KeepWarm(opts, log, sessions);
      const stop = new AbortController();
      let timer: ReturnType<typeof setTimeout> | undefined;
      let current: Promise<void> = Promise.resolve();
      const loop = () => {
        current = keep
          .round(stop.signal)
          .catch((err: unknown) => log(`keep-warm: ${errorMessage(err)}`))
          .then(() => {
            if (!stop.signal.aborted) timer = setTimeout(loop, opts.intervalMs ?? KEEP_WARM_INTERVAL_MS);
          });
      };
      log(
        `keeping masters warm to every till-ready host (checked every ${Math.round((opts.intervalMs ?? KEEP_WARM_INTERVAL_MS) / 1000)} s)`,
      );
      loop();
      return async () => {
        stop.abort();
        clearTimeout(timer);
        await current;
        await keep.close();
        log('keep-warm: closed the masters');
      };
    },
  };
}
