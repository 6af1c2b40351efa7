import { TILL_VERSION } from '../core/build.js';
import { formatHostSpec } from '../core/validate.js';
import { gateOutdated } from '../core/versions.js';
import type { HealthPoint } from '../core/state/health.js';
import { deployOf, reachabilityOf, releaseOf, type FleetState } from '../metrics/fleet.js';

/**
 * `till status`: the fleet at a glance, computed from the local files alone. One
 * view model feeds the terminal table, `--json` and the HTML page, so they always
 * agree. Pure.
 */
export type HostState = 'ok' | 'degraded' | 'down' | 'unknown';

export interface HostRow {
  name: string;
  address: string;
  status: string;
  state: HostState;
  /** Last known reachability (null: never contacted). */
  up: boolean | null;
  groups: string[];
  lastTest: string | null;
  lastSync: string | null;
  lastDeploy: string | null;
  lastHealth: string | null;
  release: string | null;
  /** Who deployed that release, from which commit, why (its release record), when till knows. */
  deployedBy: string | null;
  commit: string | null;
  dirty: boolean | null;
  deployMessage: string | null;
  /** The manual lock (`till host lock`) as this TILL_HOME last saw it on the host. */
  lock: { by: string | null; when: string | null; from: string | null; message: string | null } | null;
  tillVersion: string | null;
  /** The key is restricted and the host's till (its gate) is older than this till's `version`; null: restricted, version unknown. */
  gateOutdated: boolean | null;
  latencyMs: number | null;
  load1: number | null;
  cpus: number | null;
  memAvailableBytes: number | null;
  memTotalBytes: number | null;
  diskFreeBytes: number | null;
  diskTotalBytes: number | null;
  reasons: string[];
  /** Oldest first; null where the host was down. */
  latencyTrend: Array<number | null>;
  loadTrend: Array<number | null>;
}

export interface StateCounts {
  total: number;
  ok: number;
  degraded: number;
  down: number;
  unknown: number;
}

export interface GroupRow extends StateCounts {
  name: string;
}

export interface StatusView {
  generatedAt: string;
  /** This till's version: what `gateOutdated` compares with. */
  version: string;
  summary: StateCounts;
  schedule: { enabled: boolean; lastRun: string | null; lastStatus: string | null; nextRun: string | null };
  groups: GroupRow[];
  hosts: HostRow[];
}

/** Points of history per trend: enough for a shape, few enough for one line. */
export const TREND_POINTS = 24;

function emptyCounts(): StateCounts {
  return { total: 0, ok: 0, degraded: 0, down: 0, unknown: 0 };
}

/**
 * A measurement as the views show it: a finite number or null. The files are validated
 * on read; this keeps a value that got past that (a bug, a seal made with a stolen key)
 * from reaching the page as text, let alone markup.
 */
function measured(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function trend(
  points: readonly HealthPoint[] | undefined,
  pick: (p: HealthPoint) => number | null | undefined,
  n: number,
): Array<number | null> {
  return (points ?? []).slice(-n).map((p) => (p.up ? measured(pick(p)) : null));
}

export function buildStatusView(
  state: FleetState,
  now: Date,
  trendPoints = TREND_POINTS,
  version = TILL_VERSION,
): StatusView {
  const { db, history, schedule } = state;
  const membership = new Map<string, string[]>();
  for (const [g, members] of Object.entries(db.groups ?? {}))
    for (const m of members) membership.set(m, [...(membership.get(m) ?? []), g]);

  const hosts: HostRow[] = Object.keys(db.hosts)
    .sort()
    .map((name) => {
      const e = db.hosts[name]!;
      const up = reachabilityOf(e);
      const h = e.health?.up ? e.health : undefined;
      const stateOf: HostState = up === false ? 'down' : up === null ? 'unknown' : h?.degraded ? 'degraded' : 'ok';
      const reasons =
        stateOf === 'down'
          ? e.last_error
            ? [e.last_error]
            : (e.health?.reasons ?? [])
          : stateOf === 'degraded'
            ? (h?.reasons ?? [])
            : [];
      const points = history.hosts[name];
      const release = releaseOf(e);
      // The record is the deploy's: shown only while that release is the one the host runs.
      const record = e.deploy !== undefined && e.deploy.current === release ? e.deploy : undefined;
      const lock = e.manual_lock;
      return {
        name,
        address: formatHostSpec(e),
        status: e.status,
        state: stateOf,
        up,
        groups: (membership.get(name) ?? []).sort(),
        lastTest: e.last_test ?? null,
        lastSync: e.last_sync ?? null,
        lastDeploy: deployOf(e).at,
        lastHealth: e.health?.at ?? null,
        release,
        deployedBy: record?.deployer ?? null,
        commit: record?.commit ?? null,
        dirty: record?.dirty ?? null,
        deployMessage: record?.message ?? null,
        lock: lock
          ? { by: lock.by ?? null, when: lock.when ?? null, from: lock.from ?? null, message: lock.message ?? null }
          : null,
        // Every contact records till_version (a health check too): never older than health's, which a setup since outdated.
        tillVersion: e.till_version !== undefined ? e.till_version : (h?.tillVersion ?? null),
        gateOutdated: gateOutdated(e, version),
        latencyMs: measured(h?.latencyMs),
        load1: measured(h?.load1),
        cpus: measured(h?.cpus ?? e.metadata?.cores),
        memAvailableBytes: measured(h?.memAvailableBytes),
        memTotalBytes: measured(h?.memTotalBytes),
        diskFreeBytes: measured(h?.diskFreeBytes),
        diskTotalBytes: measured(h?.diskTotalBytes),
        reasons,
        latencyTrend: trend(points, (p) => p.latencyMs, trendPoints),
        loadTrend: trend(points, (p) => p.load1, trendPoints),
      };
    });

  const summary = emptyCounts();
  const byName = new Map(hosts.map((h) => [h.name, h]));
  for (const h of hosts) {
    summary.total += 1;
    summary[h.state] += 1;
  }
  const groups: GroupRow[] = Object.keys(db.groups ?? {})
    .sort()
    .map((name) => {
      const counts = emptyCounts();
      for (const m of db.groups![name]!) {
        const h = byName.get(m);
        if (!h) continue;
        counts.total += 1;
        counts[h.state] += 1;
      }
      return { name, ...counts };
    });

  const sync = schedule.sync;
  return {
    generatedAt: now.toISOString(),
    version,
    summary,
    schedule: {
      enabled: sync.enabled,
      lastRun: sync.last_run ?? null,
      lastStatus: sync.status ?? null,
      nextRun: sync.enabled ? (sync.next_run ?? null) : null,
    },
    groups,
    hosts,
  };
}

const SEVERITY: Record<HostState, number> = { down: 0, degraded: 1, unknown: 2, ok: 3 };

/**
 * The rows to show when only `max` fit: all of them if they fit (by name); otherwise
 * problems first (down, degraded, unknown), then healthy hosts, and a count of the rest.
 */
export function pickRows(hosts: readonly HostRow[], max: number): { shown: HostRow[]; hidden: StateCounts } {
  const hidden = emptyCounts();
  if (hosts.length <= max) return { shown: [...hosts], hidden };
  const limit = Math.max(1, max - 1); // one line says what was left out
  const ordered = [...hosts].sort((a, b) => SEVERITY[a.state] - SEVERITY[b.state] || (a.name < b.name ? -1 : 1));
  for (const h of ordered.slice(limit)) {
    hidden.total += 1;
    hidden[h.state] += 1;
  }
  return { shown: ordered.slice(0, limit), hidden };
}

const BLOCKS = '▁▂▃▄▅▆▇█';

/** ▁▂▃▄▅▆▇█ scaled between the series' min and max; a gap (down) is a space. Pure. */
export function sparkline(values: ReadonlyArray<number | null>, width = values.length): string {
  const series = values.slice(-width);
  const nums = series.filter((v): v is number => v !== null && Number.isFinite(v));
  if (nums.length === 0) return series.map(() => ' ').join('');
  const min = Math.min(...nums);
  const max = Math.max(...nums);
  return series
    .map((v) => {
      if (v === null || !Number.isFinite(v)) return ' ';
      if (max === min) return BLOCKS[0];
      return BLOCKS[Math.min(BLOCKS.length - 1, Math.floor(((v - min) / (max - min)) * BLOCKS.length))];
    })
    .join('');
}
