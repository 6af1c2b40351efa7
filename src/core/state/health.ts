import { join } from 'node:path';
import * as z from 'zod';
import './zod.js';
import type { TillPaths } from '../paths.js';
import { JsonFileStore, UNCHANGED } from './store.js';

/**
 * One `till host health` snapshot of one host: what `host health --json` prints per
 * host, what the host entry keeps as `health`, and (without the per-run extras) what
 * the history file keeps. Every measurement is nullable: a host that is down, or a
 * platform that lacks a probe (no /proc, no sysctl), yields null, not a guess.
 */
const num = z.number().nullable();

export const healthSnapshotSchema = z.looseObject({
  at: z.string(),
  up: z.boolean(),
  latencyMs: num,
  uptimeSec: num,
  load1: num,
  load5: num,
  load15: num,
  cpus: num,
  memTotalBytes: num,
  memAvailableBytes: num,
  diskFreeBytes: num,
  diskTotalBytes: num,
  /** Where free disk was measured: tekton_path, or its nearest existing parent before the first deploy. */
  diskPath: z.string().nullable().optional(),
  os: z.string().nullable(),
  arch: z.string().nullable(),
  tillVersion: z.string().nullable(),
  release: z.string().nullable(),
  degraded: z.boolean(),
  reasons: z.array(z.string()),
  /** Why a down host is down, as a short kind (refused, timeout, auth, hostkey-changed…): the metrics' reason label. */
  downKind: z.string().nullable().optional(),
  /**
   * `host health --drift` only: how many files of the live release differ from the
   * source (docs/operations.md), and whether the live release is the one till recorded.
   * Absent from a run without --drift, null when the comparison could not be made.
   */
  drift: z
    .object({
      changed: z.number().int(),
      added: z.number().int(),
      removed: z.number().int(),
      liveIsRecorded: z.boolean().nullable(),
    })
    .nullable()
    .optional(),
});
export type HealthSnapshot = z.output<typeof healthSnapshotSchema>;

/** What `host health` learns about the machine itself (SPEC §2's `metadata`). */
export const hostMetadataSchema = z.looseObject({
  os: z.string().nullable().optional(),
  arch: z.string().nullable().optional(),
  cores: z.number().nullable().optional(),
  /** Total memory in bytes. */
  memory: z.number().nullable().optional(),
});
export type HostMetadata = z.output<typeof hostMetadataSchema>;

/** One history point: the numbers a trend needs, nothing per-run (no reasons text). */
export const healthPointSchema = z.looseObject({
  at: z.string(),
  up: z.boolean(),
  degraded: z.boolean().optional(),
  latencyMs: num.optional(),
  load1: num.optional(),
  load5: num.optional(),
  load15: num.optional(),
  cpus: num.optional(),
  memAvailableBytes: num.optional(),
  memTotalBytes: num.optional(),
  diskFreeBytes: num.optional(),
  diskTotalBytes: num.optional(),
});
export type HealthPoint = z.output<typeof healthPointSchema>;

/** state/health-history.json: per host, oldest first, newest kept within both bounds. */
export const healthHistorySchema = z.looseObject({
  version: z.literal(1),
  hosts: z.record(z.string(), z.array(healthPointSchema)),
});
export type HealthHistory = z.output<typeof healthHistorySchema>;

export function emptyHealthHistory(): HealthHistory {
  return { version: 1, hosts: {} };
}

/** Newest points kept per host (a day of checks every 15 minutes). */
export const DEFAULT_HISTORY_PER_HOST = 100;
/** Newest points kept over all hosts: keeps the file a few MB for a 10,000-host fleet. */
export const DEFAULT_HISTORY_TOTAL = 20_000;

export interface HistoryLimits {
  perHost: number;
  total: number;
}

export function healthHistoryFile(paths: TillPaths): string {
  return join(paths.stateDir, 'health-history.json');
}

export function healthHistoryStore(paths: TillPaths) {
  return new JsonFileStore(healthHistoryFile(paths), healthHistorySchema, emptyHealthHistory);
}

/** `host remove`: the host's health history goes with it (a new host of that name is another machine). */
export async function removeHealthHistory(paths: TillPaths, host: string): Promise<void> {
  await healthHistoryStore(paths).update((history) => {
    if (!Object.hasOwn(history.hosts, host)) return UNCHANGED;
    delete history.hosts[host];
  });
}

export function pointOf(s: HealthSnapshot): HealthPoint {
  return {
    at: s.at,
    up: s.up,
    degraded: s.degraded,
    latencyMs: s.latencyMs,
    load1: s.load1,
    load5: s.load5,
    load15: s.load15,
    cpus: s.cpus,
    memAvailableBytes: s.memAvailableBytes,
    memTotalBytes: s.memTotalBytes,
    diskFreeBytes: s.diskFreeBytes,
    diskTotalBytes: s.diskTotalBytes,
  };
}

/**
 * Appends snapshots and enforces the bounds: at most `perHost` newest points per host,
 * then at most `total` newest points over all hosts (the oldest go first, whoever
 * they belong to). Hosts no longer in the database (`known`) are dropped.
 */
export function appendHistory(
  history: HealthHistory,
  snapshots: ReadonlyMap<string, HealthSnapshot>,
  limits: HistoryLimits,
  known?: ReadonlySet<string>,
): void {
  const perHost = Math.max(1, Math.floor(limits.perHost));
  const total = Math.max(1, Math.floor(limits.total));
  if (known) for (const name of Object.keys(history.hosts)) if (!known.has(name)) delete history.hosts[name];
  for (const [name, snapshot] of snapshots) {
    const list = history.hosts[name] ?? [];
    list.push(pointOf(snapshot));
    history.hosts[name] = list.length > perHost ? list.slice(-perHost) : list;
  }
  let count = 0;
  for (const list of Object.values(history.hosts)) count += list.length;
  if (count <= total) return;
  // Keep exactly the `total` newest points over all hosts (ties broken by host name).
  const all: Array<{ t: number; name: string; i: number }> = [];
  for (const [name, list] of Object.entries(history.hosts))
    list.forEach((p, i) => all.push({ t: Date.parse(p.at) || 0, name, i }));
  all.sort((a, b) => b.t - a.t || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const keep = new Map<string, Set<number>>();
  for (const k of all.slice(0, total)) {
    let set = keep.get(k.name);
    if (!set) keep.set(k.name, (set = new Set()));
    set.add(k.i);
  }
  for (const [name, list] of Object.entries(history.hosts)) {
    const kept = list.filter((_, i) => keep.get(name)?.has(i) === true);
    if (kept.length === 0) delete history.hosts[name];
    else history.hosts[name] = kept;
  }
}
