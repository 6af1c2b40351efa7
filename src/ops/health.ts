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
import { sshRun } from '../ssh/client.js';
import { classifySsh, GATE_UNKNOWN_SCRIPT, gateRefusal, noAnswer } from '../ssh/outcome.js';
import { remoteScript } from '../remote/script.js';
import { shQuote } from '../ssh/quote.js';
import { REMOTE_TILL } from './test.js';

/**
 * `till host health`: one remote POSIX sh script per host that prints `key=value`
 * lines, read by a pure parser. Linux answers from /proc, macOS (and the BSDs) from
 * sysctl and vm_stat; a probe a platform lacks prints nothing and yields null.
 */
export const HEALTH_BEGIN = 'till_health_begin=1';
export const HEALTH_END = 'till_health_end=1';

/** Linux /proc/meminfo → kB lines. */
export const MEMINFO_AWK =
  '$1=="MemTotal:"{print "mem_total_kb=" $2} $1=="MemAvailable:"{print "mem_available_kb=" $2} $1=="MemFree:"{print "mem_free_kb=" $2}';
/** macOS `vm_stat`: available ≈ free + inactive + speculative pages (what the system can reclaim at once). */
export const VM_STAT_AWK =
  '/page size of/{for(i=1;i<=NF;i++) if($i=="of") ps=$(i+1)} /^Pages (free|inactive|speculative):/{gsub(/\\./,"",$NF); n+=$NF} END{if(ps>0) printf "mem_available_bytes=%.0f\\n", n*ps}';
/** macOS `sysctl -n kern.boottime`: "{ sec = 1700000000, usec = 0 } Thu Nov 14 …" → seconds. */
export const BOOTTIME_SED = 's/^{ sec = \\([0-9][0-9]*\\),.*/\\1/p';
/** `df -Pk` fields counted back from "Capacity" (NN%), so a file system name with spaces still parses. */
export const DF_AWK =
  'NR==2{for(i=NF;i>3;i--) if($i ~ /%$/){print "disk_total_kb=" $(i-3); print "disk_free_kb=" $(i-1); break}}';

/** The probe's lines (v1 joined them as they are: its bytes are pinned). */
const PROBE_LINES = [
  `case $1 in "~/"*) p=$HOME/\${1#"~/"} ;; *) p=$1 ;; esac`,
  `echo ${HEALTH_BEGIN}`,
  'echo "os=$(uname -s 2>/dev/null)"',
  'echo "arch=$(uname -m 2>/dev/null)"',
  'if [ -r /proc/uptime ]; then read up _r < /proc/uptime && echo "uptime=$up"',
  `else b=$(sysctl -n kern.boottime 2>/dev/null | sed -n ${shQuote(BOOTTIME_SED)}); [ -n "$b" ] && echo "uptime=$(( $(date +%s) - b ))"; fi`,
  'if [ -r /proc/loadavg ]; then read l1 l5 l15 _r < /proc/loadavg && echo "load=$l1 $l5 $l15"',
  // macOS: "{ 1.23 1.45 1.67 }"
  'else echo "load=$(sysctl -n vm.loadavg 2>/dev/null | tr -d \'{}\')"; fi',
  'c=$(getconf _NPROCESSORS_ONLN 2>/dev/null) || c=',
  '[ -n "$c" ] || c=$(nproc 2>/dev/null) || c=',
  '[ -n "$c" ] || c=$(sysctl -n hw.ncpu 2>/dev/null) || c=',
  'echo "cpus=$c"',
  `if [ -r /proc/meminfo ]; then awk ${shQuote(MEMINFO_AWK)} /proc/meminfo`,
  'else echo "mem_total_bytes=$(sysctl -n hw.memsize 2>/dev/null)"',
  `vm_stat 2>/dev/null | awk ${shQuote(VM_STAT_AWK)}; fi`,
  // The nearest existing folder: before the first deploy tekton_path may not exist yet.
  'd=$p; while [ ! -e "$d" ]; do n=$(dirname "$d"); [ "$n" = "$d" ] && break; d=$n; done',
  'echo "disk_path=$d"',
  `df -Pk "$d" 2>/dev/null | awk ${shQuote(DF_AWK)}`,
  `t="$HOME"/${shQuote(REMOTE_TILL)}`,
  'if [ -x "$t" ]; then echo "till_version=$("$t" --version 2>/dev/null | head -n 1)"; fi',
  // A deployed tekton_path is a symlink to releases/<id> (SPEC §5): the release is its basename.
  'if [ -L "$p" ]; then r=$(readlink "$p"); r=${r%/}; echo "release=${r##*/}"; fi',
  `echo ${HEALTH_END}`,
  'exit 0',
];

/**
 * The first probe script (registered as `health`, kept for gates that know no other):
 * its one argument is tekton_path as stored, a `~/` value expanded here with "$HOME".
 * One line: a csh/tcsh login shell cannot take a newline inside the quoted `sh -c` argument.
 */
export const HEALTH_SCRIPT = PROBE_LINES.join('; ');

/** The v2 script's first line: till answers it on stdin; the answer's echo ends the timed round trip. */
export const HEALTH_PING = 'till_health_ping=1';
export const HEALTH_PONG = 'till_health_pong=1';

/**
 * The probe script sent today (registered as `health-v2`): as v1, preceded by one
 * round trip over the session itself: it prints HEALTH_PING, waits for a line on
 * stdin (till sends it the moment it reads the ping), then prints HEALTH_PONG. The
 * time from till's answer to the pong is the ssh latency, in the same ssh call as the
 * probe. Without an answer (stdin closed) `read` returns at once and the probe runs.
 */
export const HEALTH_SCRIPT_V2 = [`echo ${HEALTH_PING}`, 'read -r _l', `echo ${HEALTH_PONG}`, ...PROBE_LINES].join('; ');

/** The remote command line for a host whose installations live at `tektonPath`: the script runs under sh whatever the user's login shell is. */
export function healthCommand(tektonPath: string, script: string = HEALTH_SCRIPT_V2): string {
  return remoteScript(script, [tektonPath]);
}

export interface HealthProbe {
  /** The end marker was seen: the script ran to completion. */
  complete: boolean;
  uptimeSec: number | null;
  load1: number | null;
  load5: number | null;
  load15: number | null;
  cpus: number | null;
  memTotalBytes: number | null;
  memAvailableBytes: number | null;
  diskFreeBytes: number | null;
  diskTotalBytes: number | null;
  diskPath: string | null;
  os: string | null;
  arch: string | null;
  tillVersion: string | null;
  release: string | null;
}

const NUMBER_RE = /^\d+(\.\d+)?$/;

function numberOf(value: string | undefined, scale = 1): number | null {
  if (value === undefined || !NUMBER_RE.test(value)) return null;
  return Math.round(Number(value) * scale * 1000) / 1000;
}

/** Remote text for a table, a label or a page: no control characters (no terminal escapes), at most 200 characters. */
export function textOf(value: string | undefined): string | null {
  if (value === undefined) return null;
  const clean = value
    // eslint-disable-next-line no-control-regex
    .replace(/[\x00-\x1f\x7f-\x9f]/g, '')
    .trim()
    .slice(0, 200);
  return clean === '' ? null : clean;
}

/** Reads the script's `key=value` lines; anything else (a noisy login shell) is ignored. Pure. */
export function parseHealthOutput(stdout: string): HealthProbe {
  const lines = stdout.split('\n').map((l) => l.replace(/\r$/, ''));
  const begin = lines.indexOf(HEALTH_BEGIN);
  const end = lines.lastIndexOf(HEALTH_END);
  const values = new Map<string, string>();
  for (const line of lines.slice(begin === -1 ? 0 : begin + 1, end === -1 ? undefined : end)) {
    const at = line.indexOf('=');
    if (at > 0) values.set(line.slice(0, at), line.slice(at + 1).trim());
  }
  const load = (values.get('load') ?? '').trim().split(/\s+/);
  const kb = (key: string) => numberOf(values.get(key), 1024);
  const version = textOf(values.get('till_version'));
  return {
    complete: begin !== -1 && end > begin,
    uptimeSec: numberOf(values.get('uptime')) === null ? null : Math.floor(numberOf(values.get('uptime'))!),
    load1: numberOf(load[0]),
    load5: numberOf(load[1]),
    load15: numberOf(load[2]),
    cpus: numberOf(values.get('cpus')),
    memTotalBytes: kb('mem_total_kb') ?? numberOf(values.get('mem_total_bytes')),
    // MemAvailable exists since Linux 3.14; MemFree is the (pessimistic) fallback.
    memAvailableBytes: kb('mem_available_kb') ?? numberOf(values.get('mem_available_bytes')) ?? kb('mem_free_kb'),
    diskFreeBytes: kb('disk_free_kb'),
    diskTotalBytes: kb('disk_total_kb'),
    diskPath: textOf(values.get('disk_path')),
    os: textOf(values.get('os')),
    arch: textOf(values.get('arch')),
    tillVersion: version !== null && /^\d+\.\d+\.\d+\S*$/.test(version) ? version : null,
    release: textOf(values.get('release')),
  };
}

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
      reasons.push(`load: load1 ${probe.load1} above ${max} (${t.loadMaxPerCore} × ${probe.cpus} cores)`);
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

/**
 * The `exit 0` the first version timed in a second ssh call: no longer sent, but
 * registered (and pinned) in remote/allowlist.ts, so it stays.
 */
export const LATENCY_COMMAND = 'exit 0';

export interface HealthJobOptions {
  thresholds: HealthThresholds;
  connectTimeout?: number;
  timeoutMs?: number;
  /** The engine's bound on the whole host (hostTimeoutMs), named in the verdict when it passes. */
  boundMs?: number;
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
 * The engine job: ONE ssh call per host, the v2 script, answered on the fly
 * (PingTimer). A restricted host whose gate predates v2 refuses it as an unknown
 * script: that host gets the v1 script in a second call, timed from the call's start
 * to the script's first line (which includes opening the session). Every outcome that
 * reached a verdict carries a snapshot in `data`: a host that cannot be reached gets
 * `up: false`; one over a threshold is a failed result (so the run exits 1) with
 * `degraded: true` and its reasons.
 */
export function healthJob(paths: TillPaths, opts: HealthJobOptions): HostJob<HealthSnapshot> {
  return async ({ name, entry, signal }): Promise<JobOutcome<HealthSnapshot>> => {
    const call = { signal, connectTimeout: opts.connectTimeout, timeoutMs: opts.timeoutMs };
    const timer = new PingTimer();
    let result = await sshRun(paths, name, healthCommand(entry.tekton_path), {
      ...call,
      onStdin: timer.attach,
      onStdout: timer.onStdout,
    });
    let latencyMs = timer.latencyMs;
    let answered = timer.answered;
    if (result.exitCode === 1 && gateRefusal(result.stderr) === GATE_UNKNOWN_SCRIPT) {
      const started = performance.now();
      let firstLine: number | null = null;
      result = await sshRun(paths, name, healthCommand(entry.tekton_path, HEALTH_SCRIPT), {
        ...call,
        onStdout: () => (firstLine ??= Math.max(1, Math.round(performance.now() - started))),
      });
      latencyMs = firstLine;
      answered = firstLine !== null;
    }
    const base = { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr };
    if (result.timedOut && !answered) {
      // Not one line back before the bound: the host is down (frozen, or its sshd hangs), not slow.
      const failure = noAnswer(opts.boundMs ?? opts.timeoutMs);
      return {
        ok: false,
        failure,
        ...base,
        exitCode: null,
        data: downSnapshot(new Date(), failure.message, failure.kind),
      };
    }
    const failure = classifySsh(result);
    if (failure?.kind === 'cancelled') return { ok: false, failure, ...base };
    if (failure?.connection)
      return { ok: false, failure, ...base, data: downSnapshot(new Date(), failure.message, failure.kind) };
    if (failure) {
      // The remote's own words, cleaned: they reach terminals and pages.
      const why = textOf(result.stderr.trim().split('\n').pop()) ?? '';
      const data: HealthSnapshot = {
        ...downSnapshot(new Date(), ''),
        up: true,
        downKind: null,
        degraded: true,
        reasons: [`probe: ${failure.message}${why ? `: ${why}` : ''}`],
      };
      return { ok: false, failure, ...base, data };
    }
    const probe = parseHealthOutput(result.stdout);
    const data = snapshotOf(new Date(), probe, latencyMs, opts.thresholds);
    if (!data.degraded) return { ok: true, ...base, data };
    return {
      ok: false,
      failure: { kind: 'remote', connection: false, retryable: false, message: `degraded: ${data.reasons.join('; ')}` },
      ...base,
      data,
    };
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
