import { Inventory } from '../inventory/inventory.js';
import type { TillPaths } from '../core/paths.js';
import { emptyHealthHistory, healthHistoryStore, type HealthHistory } from '../core/state/health.js';
import type { HostEntry, HostsFile } from '../core/state/hosts.js';
import { scheduleStore, type ScheduleFile } from '../core/state/schedule.js';
import type { MetricFamily, Sample } from './prometheus.js';

/**
 * The fleet as metric families, from the local files alone (no network): the host
 * database (statuses, last sync/deploy, the last health snapshot per host) and
 * schedule.json. What `till metrics` prints and `/metrics` serves.
 */
export interface FleetState {
  db: HostsFile;
  history: HealthHistory;
  schedule: ScheduleFile;
}

/**
 * The local files. The health history is read only when asked for (`till status`'s
 * trends): no metric uses it, so a broken history file must not take `/metrics` down.
 */
export async function loadFleetState(paths: TillPaths, opts: { history?: boolean } = {}): Promise<FleetState> {
  const [db, history, schedule] = await Promise.all([
    new Inventory(paths).read(),
    opts.history ? healthHistoryStore(paths).read() : emptyHealthHistory(),
    scheduleStore(paths).read(),
  ]);
  return { db, history, schedule };
}

/** `deploy: {current, previous, at}` is written by `host deploy`; read it without trusting its shape. */
export function deployOf(entry: HostEntry): { current: string | null; at: string | null } {
  const d = (entry as { deploy?: unknown }).deploy;
  if (typeof d !== 'object' || d === null) return { current: null, at: null };
  const { current, at } = d as { current?: unknown; at?: unknown };
  return { current: typeof current === 'string' ? current : null, at: typeof at === 'string' ? at : null };
}

/**
 * Last known reachability: 1 or 0, or null when till never contacted the host. A
 * failed contact since (failures > 0, or `unreachable`) wins over an older snapshot.
 */
export function reachabilityOf(entry: HostEntry): boolean | null {
  if (entry.status === 'unreachable' || (entry.failures ?? 0) > 0) return false;
  if (entry.health) return entry.health.up;
  if (entry.status === 'untested' && !entry.last_test) return null;
  return true;
}

/**
 * The reason label of a down host: the kind its last health check recorded, or
 * `failed-contact` when another command's contact failed since (or the check predates kinds).
 */
export function downReasonOf(entry: HostEntry): string {
  const kind = entry.health && !entry.health.up ? entry.health.downKind : undefined;
  return typeof kind === 'string' && /^[a-z][a-z-]{0,30}$/.test(kind) ? kind : 'failed-contact';
}

/** The release a host runs: what its last health check saw, else what the last deploy recorded. */
export function releaseOf(entry: HostEntry): string | null {
  return (entry.health?.up ? entry.health.release : null) ?? deployOf(entry).current;
}

function seconds(iso: string | null | undefined): number | null {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t / 1000;
}

function family(name: string, help: string, samples: Sample[], type: MetricFamily['type'] = 'gauge'): MetricFamily {
  return { name, help, type, samples };
}

export function hostMetricFamilies(db: HostsFile): MetricFamily[] {
  const names = Object.keys(db.hosts).sort();
  const perHost = (pick: (e: HostEntry) => number | null | undefined): Sample[] => {
    const out: Sample[] = [];
    for (const host of names) {
      const v = pick(db.hosts[host]!);
      if (v !== null && v !== undefined) out.push({ labels: { host }, value: v });
    }
    return out;
  };
  const perHostLabelled = (reason: (e: HostEntry) => string | null): Sample[] => {
    const out: Sample[] = [];
    for (const host of names) {
      const r = reason(db.hosts[host]!);
      if (r !== null) out.push({ labels: { host, reason: r }, value: 1 });
    }
    return out;
  };
  const live = (pick: (h: NonNullable<HostEntry['health']>) => number | null) => (e: HostEntry) =>
    e.health?.up ? pick(e.health) : null;
  const byStatus = new Map<string, number>();
  for (const host of names) byStatus.set(db.hosts[host]!.status, (byStatus.get(db.hosts[host]!.status) ?? 0) + 1);

  return [
    family(
      'till_hosts',
      'Hosts in the till database, by status.',
      [...byStatus].sort().map(([status, n]) => ({ labels: { status }, value: n })),
    ),
    family(
      'till_host_up',
      'Whether the host answered till at its last contact (1 up, 0 down, NaN never contacted).',
      perHost((e) => {
        const r = reachabilityOf(e);
        return r === null ? NaN : r ? 1 : 0;
      }),
    ),
    family(
      'till_host_down_reason',
      'Why a down host is down, as a reason label (refused, timeout, auth, hostkey-changed, closed, failed-contact…); the value is always 1. No sample for a host that is up.',
      perHostLabelled((e) => (reachabilityOf(e) === false ? downReasonOf(e) : null)),
    ),
    family(
      'till_host_ssh_latency_seconds',
      'One round trip over the open ssh session of the last health check.',
      perHost(live((h) => (h.latencyMs === null ? null : h.latencyMs / 1000))),
    ),
    family('till_host_load1', 'Load average over 1 minute, at the last health check.', perHost(live((h) => h.load1))),
    family('till_host_load5', 'Load average over 5 minutes, at the last health check.', perHost(live((h) => h.load5))),
    family(
      'till_host_load15',
      'Load average over 15 minutes, at the last health check.',
      perHost(live((h) => h.load15)),
    ),
    family('till_host_cpus', 'Online CPUs, at the last health check.', perHost(live((h) => h.cpus))),
    family(
      'till_host_memory_total_bytes',
      'Total memory, at the last health check.',
      perHost(live((h) => h.memTotalBytes)),
    ),
    family(
      'till_host_memory_available_bytes',
      'Available memory, at the last health check.',
      perHost(live((h) => h.memAvailableBytes)),
    ),
    family(
      'till_host_disk_free_bytes',
      "Free disk at the host's tekton_path (or its nearest existing parent), at the last health check.",
      perHost(live((h) => h.diskFreeBytes)),
    ),
    family(
      'till_host_disk_total_bytes',
      'Size of the file system holding tekton_path, at the last health check.',
      perHost(live((h) => h.diskTotalBytes)),
    ),
    family(
      'till_host_uptime_seconds',
      'Time since the host booted, at the last health check.',
      perHost(live((h) => h.uptimeSec)),
    ),
    family(
      'till_host_degraded',
      'Whether the last health check found the host over a threshold (1) or not (0).',
      perHost((e) => (e.health?.up ? (e.health.degraded ? 1 : 0) : null)),
    ),
    family(
      'till_host_drift_files',
      'Files of the live release that differ from the source, by kind (changed, added, removed on the host), at the last health check run with --drift.',
      names.flatMap((host) => {
        const h = db.hosts[host]!.health;
        const d = h?.up ? h.drift : undefined;
        if (!d) return [];
        return (['changed', 'added', 'removed'] as const).map((kind) => ({ labels: { host, kind }, value: d[kind] }));
      }),
    ),
    family(
      'till_host_health_timestamp_seconds',
      'When the last health check of the host ran (Unix time).',
      perHost((e) => seconds(e.health?.at)),
    ),
    family(
      'till_host_last_test_timestamp_seconds',
      'When the host was last tested (Unix time).',
      perHost((e) => seconds(e.last_test)),
    ),
    family(
      'till_host_last_sync_timestamp_seconds',
      'When the host last synced successfully (Unix time).',
      perHost((e) => seconds(e.last_sync)),
    ),
    family(
      'till_host_last_deploy_timestamp_seconds',
      'When an installation was last deployed to the host (Unix time).',
      perHost((e) => seconds(deployOf(e).at)),
    ),
    family(
      'till_host_info',
      'Host status, remote till version and current release as labels; the value is always 1.',
      names.map((host) => {
        const e = db.hosts[host]!;
        return {
          labels: {
            host,
            status: e.status,
            // Every contact records till_version (a health check too): a setup since the last health check is newer.
            version: (e.till_version !== undefined ? e.till_version : e.health?.tillVersion) ?? '',
            release: releaseOf(e) ?? '',
          },
          value: 1,
        };
      }),
    ),
  ];
}

export function scheduleMetricFamilies(schedule: ScheduleFile): MetricFamily[] {
  const sync = schedule.sync;
  const last = seconds(sync.last_run);
  const next = seconds(sync.next_run);
  return [
    family('till_schedule_enabled', 'Whether the scheduled sync is enabled (1) or not (0).', [
      { value: sync.enabled ? 1 : 0 },
    ]),
    family(
      'till_schedule_last_run_timestamp_seconds',
      'When the last scheduled sync run started (Unix time).',
      last === null ? [] : [{ value: last }],
    ),
    family(
      'till_schedule_last_run_success',
      'Whether the last sync run succeeded (1) or not (0).',
      last === null ? [] : [{ value: sync.status === 'success' ? 1 : 0 }],
    ),
    family(
      'till_schedule_next_run_timestamp_seconds',
      'When the next sync run is due (Unix time).',
      next === null ? [] : [{ value: next }],
    ),
  ];
}

/** Every family till exposes today; other features append theirs to this list. */
export function fleetMetricFamilies(state: FleetState): MetricFamily[] {
  return [...hostMetricFamilies(state.db), ...scheduleMetricFamilies(state.schedule)];
}
