import type { HostJob, HostResult, JobOutcome } from '../core/fanout.js';
import type { Inventory } from '../inventory/inventory.js';
import type { TillPaths } from '../core/paths.js';
import {
  appendHistory,
  healthHistoryStore,
  type HealthSnapshot,
  type HistoryLimits,
  type HostMetadata,
} from '../core/state/health.js';
import { raiseTo, type HostEntry } from '../core/state/hosts.js';
import { formatBytes, formatThreshold, type SizeThreshold } from '../core/units.js';
import { NOT_A_DEPLOY_ROOT } from '../protocol/args.js';
import { health, HEALTH_PING, HEALTH_PONG, textOf, type HealthProbe } from '../protocol/probes.js';
import { noAnswer, remoteFailure } from '../ssh/outcome.js';
import { runScript } from '../ssh/run-script.js';
import { plural } from '../core/format.js';
import type { DeploySource } from '../deploy/source.js';
import { compareLive, describeDrift } from './diff.js';

/**
 * `till host health`: one remote probe per host (src/protocol/probes.ts: a POSIX sh
 * script that prints `key=value` lines), the snapshot it makes, the thresholds that
 * call a host degraded, and where snapshots are kept.
 */
export type { HealthProbe };

export interface HealthThresholds {
  /** Degraded when free disk is below any of these (default: 10 % and 1 GiB). */
  diskMin: SizeThreshold[];
  /** Degraded when load1 exceeds this many times the CPU count (default 4); null: no check. */
  loadMaxPerCore: number | null;
  /** Degraded when available memory is below any of these (default: no check). */
  memMin: SizeThreshold[];
}

export const DEFAULT_THRESHOLDS: HealthThresholds = {
  diskMin: [{ percent: 10 }, { bytes: 1024 ** 3 }],
  loadMaxPerCore: 4,
  memMin: [],
};

function belowAny(free: number, total: number | null, mins: SizeThreshold[]): SizeThreshold | undefined {
  return mins.find((m) =>
    'percent' in m ? total !== null && total > 0 && (free / total) * 100 < m.percent : free < m.bytes,
  );
}

function share(part: number, total: number | null): string {
  return total !== null && total > 0 ? ` (${Math.round((part / total) * 1000) / 10}%)` : '';
}

/** Why a reachable host counts as degraded; empty when it does not. Pure. */
export function evaluateHealth(probe: Omit<HealthProbe, 'complete'>, t: HealthThresholds): string[] {
  const reasons: string[] = [];
  if (probe.diskFreeBytes !== null) {
    const hit = belowAny(probe.diskFreeBytes, probe.diskTotalBytes, t.diskMin);
    if (hit)
      reasons.push(
        `disk: ${formatBytes(probe.diskFreeBytes)} free${share(probe.diskFreeBytes, probe.diskTotalBytes)} at ${probe.diskPath ?? 'tekton_path'}, below ${formatThreshold(hit)}`,
      );
  }
  if (t.loadMaxPerCore !== null && probe.load1 !== null && probe.cpus !== null && probe.cpus > 0) {
    const max = t.loadMaxPerCore * probe.cpus;
    if (probe.load1 > max)
      reasons.push(`load: load1 ${probe.load1} above ${max} (${t.loadMaxPerCore} × ${plural(probe.cpus, 'core')})`);
  }
  if (probe.memAvailableBytes !== null) {
    const hit = belowAny(probe.memAvailableBytes, probe.memTotalBytes, t.memMin);
    if (hit)
      reasons.push(
        `memory: ${formatBytes(probe.memAvailableBytes)} available${share(probe.memAvailableBytes, probe.memTotalBytes)}, below ${formatThreshold(hit)}`,
      );
  }
  return reasons;
}

const NO_DATA = {
  latencyMs: null,
  uptimeSec: null,
  load1: null,
  load5: null,
  load15: null,
  cpus: null,
  memTotalBytes: null,
  memAvailableBytes: null,
  diskFreeBytes: null,
  diskTotalBytes: null,
  diskPath: null,
  os: null,
  arch: null,
  tillVersion: null,
  release: null,
} as const;

export function downSnapshot(at: Date, reason: string, kind?: string): HealthSnapshot {
  return {
    at: at.toISOString(),
    up: false,
    ...NO_DATA,
    degraded: false,
    reasons: [`down: ${reason}`],
    ...(kind !== undefined ? { downKind: kind } : {}),
  };
}

export function snapshotOf(
  at: Date,
  probe: HealthProbe,
  latencyMs: number | null,
  thresholds: HealthThresholds,
): HealthSnapshot {
  const reasons = probe.complete
    ? evaluateHealth(probe, thresholds)
    : ['probe: the health script did not finish (its output was cut short)'];
  return {
    at: at.toISOString(),
    up: true,
    latencyMs,
    uptimeSec: probe.uptimeSec,
    load1: probe.load1,
    load5: probe.load5,
    load15: probe.load15,
    cpus: probe.cpus,
    memTotalBytes: probe.memTotalBytes,
    memAvailableBytes: probe.memAvailableBytes,
    diskFreeBytes: probe.diskFreeBytes,
    diskTotalBytes: probe.diskTotalBytes,
    diskPath: probe.diskPath,
    os: probe.os,
    arch: probe.arch,
    tillVersion: probe.tillVersion,
    release: probe.release,
    degraded: reasons.length > 0,
    reasons,
  };
}

export interface HealthJobOptions {
  thresholds: HealthThresholds;
  connectTimeout?: number;
  timeoutMs?: number;
  /** The engine's bound on the whole host (hostTimeoutMs), named in the verdict when it passes. */
  boundMs?: number;
  /** `--drift`: also compare each live release with this source (host diff's read); never by default. */
  drift?: { source: DeploySource; shared: readonly string[] };
}

/** `--drift`: the live release against the source, as counts and a reason when it differs (or cannot be read). */
async function driftOf(
  paths: TillPaths,
  name: string,
  entry: HostEntry,
  signal: AbortSignal,
  opts: HealthJobOptions,
): Promise<{ drift: NonNullable<HealthSnapshot['drift']> | null; reason: string | null }> {
  const { source, shared } = opts.drift!;
  const compared = await compareLive(paths, name, entry, source, shared, signal, {
    connectTimeout: opts.connectTimeout,
    timeoutMs: opts.timeoutMs,
  });
  if ('outcome' in compared)
    return { drift: null, reason: `drift: ${textOf(compared.outcome.failure?.message ?? 'no report') ?? ''}` };
  const d = compared.data;
  return {
    drift: {
      changed: d.changed.length,
      added: d.added.length,
      removed: d.removed.length,
      liveIsRecorded: d.liveIsRecorded,
    },
    reason: d.differs ? `drift: ${describeDrift(d)}` : null,
  };
}

/** Where the text after `line` starts; the line may follow a greeting a login shell printed without a newline. */
function lineAt(text: string, line: string, from = 0): number {
  const at = text.indexOf(`${line}\n`, from);
  const atCr = text.indexOf(`${line}\r\n`, from);
  if (at === -1 && atCr === -1) return -1;
  return at !== -1 && (atCr === -1 || at < atCr) ? at + line.length + 1 : atCr + line.length + 2;
}

/** How long a v2 script may take to print its ping before till closes its stdin anyway (no latency then, never a hang). */
export const PING_WAIT_MS = 15_000;

/**
 * Watches the v2 script's stdout: answers its ping on stdin at once and times the
 * pong. The latency is one round trip over the session already open (till → ssh →
 * sshd → sh → back), so neither the connection's handshake nor the probe's own run
 * time is in it; it does include the local ssh client and the remote sh (a few ms).
 */
export class PingTimer {
  private seen = '';
  private pingAt: number | undefined;
  private afterPing = 0;
  private stdin: NodeJS.WritableStream | undefined;
  private fallback: NodeJS.Timeout | undefined;
  latencyMs: number | null = null;

  constructor(private readonly waitMs = PING_WAIT_MS) {}

  /** The script printed its first line: the host answered, whatever happened after. */
  get answered(): boolean {
    return this.pingAt !== undefined;
  }

  attach = (stdin: NodeJS.WritableStream): void => {
    this.stdin = stdin;
    // A ping that never comes (output that hides it) must not leave the script waiting on stdin.
    this.fallback = setTimeout(() => this.answer(), this.waitMs);
    this.fallback.unref();
  };

  private answer(): void {
    clearTimeout(this.fallback);
    const stdin = this.stdin as (NodeJS.WritableStream & { writableEnded?: boolean }) | undefined;
    if (stdin && stdin.writableEnded !== true) stdin.end('\n');
  }

  onStdout = (chunk: Buffer): void => {
    if (this.latencyMs !== null) return;
    this.seen += chunk.toString('utf8');
    if (this.pingAt === undefined) {
      const at = lineAt(this.seen, HEALTH_PING);
      if (at === -1) return;
      this.pingAt = performance.now();
      this.afterPing = at;
      this.answer();
    }
    if (lineAt(this.seen, HEALTH_PONG, this.afterPing) !== -1) {
      this.latencyMs = Math.max(1, Math.round(performance.now() - this.pingAt));
      this.seen = '';
    }
  };
}

/**
 * The engine job: ONE ssh call per host (two more with --drift: host diff's read), the v2 script, answered on the fly
 * (PingTimer). A restricted host whose gate predates v2 refuses it as an unknown
 * script: that host gets the v1 script in a second call, timed from the call's start
 * to the script's first line (which includes opening the session). Every outcome that
 * reached a verdict carries a snapshot in `data`: a host that cannot be reached gets
 * `up: false`; one over a threshold is a failed result (so the run exits 1) with
 * `degraded: true` and its reasons.
 */
export function healthJob(paths: TillPaths, opts: HealthJobOptions): HostJob<HealthSnapshot> {
  return async ({ name, entry, signal }): Promise<JobOutcome<HealthSnapshot>> => {
    const timer = new PingTimer();
    let started = 0;
    let firstLine: number | null = null;
    const run = await runScript(
      paths,
      name,
      health,
      { tektonPath: entry.tekton_path },
      {
        signal,
        connectTimeout: opts.connectTimeout,
        timeoutMs: opts.timeoutMs,
        perVersion: (v) =>
          v === 'health-v2'
            ? { onStdin: timer.attach, onStdout: timer.onStdout }
            : // A gate older than v2: timed from the call's start to the script's first line.
              ((started = performance.now()),
              { onStdout: () => (firstLine ??= Math.max(1, Math.round(performance.now() - started))) }),
      },
    );
    const latencyMs = run.version === 'health-v2' ? timer.latencyMs : firstLine;
    const answered = run.version === 'health-v2' ? timer.answered : firstLine !== null;
    const { result, failure } = run;
    const base = { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr };
    if (result.timedOut && !answered) {
      // Not one line back before the bound: the host is down (frozen, or its sshd hangs), not slow.
      const down = noAnswer(opts.boundMs ?? opts.timeoutMs);
      return {
        ok: false,
        failure: down,
        ...base,
        exitCode: null,
        data: downSnapshot(new Date(), down.message, down.kind),
      };
    }
    if (failure?.kind === 'cancelled') return { ok: false, failure, ...base };
    if (failure?.connection)
      return { ok: false, failure, ...base, data: downSnapshot(new Date(), failure.message, failure.kind) };
    if (failure || !run.value) {
      // The remote's own words, cleaned: they reach terminals and pages.
      const message = run.refused?.includes(NOT_A_DEPLOY_ROOT)
        ? `tekton_path ${entry.tekton_path} is not a deploy root of the host's ~/.till/gate.json: through the gate, health looks only at those (see till host doctor ${name})`
        : (failure?.message ?? 'no report');
      const data: HealthSnapshot = {
        ...downSnapshot(new Date(), ''),
        up: true,
        downKind: null,
        degraded: true,
        reasons: [`probe: ${textOf(message) ?? ''}`],
      };
      return { ok: false, failure: failure ?? remoteFailure(message), ...base, data };
    }
    const data = snapshotOf(new Date(), run.value, latencyMs, opts.thresholds);
    if (opts.drift) {
      const { drift, reason } = await driftOf(paths, name, entry, signal, opts);
      data.drift = drift;
      if (reason !== null) {
        data.reasons.push(reason);
        data.degraded = true;
      }
    }
    if (!data.degraded) return { ok: true, ...base, data };
    return { ok: false, failure: remoteFailure(`degraded: ${data.reasons.join('; ')}`), ...base, data };
  };
}

export function metadataOf(s: HealthSnapshot): HostMetadata {
  return { os: s.os, arch: s.arch, cores: s.cpus, memory: s.memTotalBytes };
}

/**
 * Records a snapshot on its host entry. A host that answered is at least `connected`
 * (`till-ready` when its till answered), as `host test` would have found.
 */
export function applyHealth(entry: HostEntry, s: HealthSnapshot): void {
  entry.health = s;
  if (!s.up || s.os === null) return;
  entry.metadata = { ...entry.metadata, ...metadataOf(s) };
  entry.till_version = s.tillVersion;
  if (entry.status !== 'unreachable')
    entry.status = raiseTo(entry.status, s.tillVersion !== null ? 'till-ready' : 'connected');
}

/** Stores each snapshot on its host entry and appends it to the bounded history (down hosts too). */
export async function recordHealth(
  paths: TillPaths,
  inventory: Inventory,
  results: readonly HostResult<HealthSnapshot>[],
  limits: HistoryLimits,
): Promise<void> {
  const snapshots = new Map<string, HealthSnapshot>();
  for (const r of results) if (r.data) snapshots.set(r.host, r.data);
  if (snapshots.size === 0) return;
  const known = await inventory.update((db) => {
    for (const [name, s] of snapshots) {
      const entry = db.hosts[name];
      if (entry) applyHealth(entry, s);
    }
    return new Set(Object.keys(db.hosts));
  });
  await healthHistoryStore(paths).update((history) => appendHistory(history, snapshots, limits, known));
}
