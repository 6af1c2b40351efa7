import type * as z from 'zod';
import type { TillPaths } from '../paths.js';
import type { hostEntryFields, hostsFileSchema } from './hosts-schema.js';
import { TILL_VERSION } from '../build.js';
import { JsonFileStore } from './store.js';

/**
 * hosts-local.json: the seed's format, extended compatibly. Unknown fields are kept
 * (looseObject) so a newer till's additions survive an older till's write. Values are
 * re-validated on load: a hand-edited file with a hostile host name is refused just
 * as `till host add` would refuse it. The schema is hosts-schema.ts, loaded only when
 * a file must be validated (zod costs a start more than the rest of `host list`).
 */
export const HOST_STATUSES = ['untested', 'connected', 'till-ready', 'deployed', 'unreachable'] as const;
export type HostStatus = (typeof HOST_STATUSES)[number];
export type LifecycleStatus = Exclude<HostStatus, 'unreachable'>;

export type HostEntry = z.output<typeof hostEntryFields>;

/**
 * Maps keyed by user-chosen names get no prototype: a host called `constructor` or
 * `toString` (valid names) must not find Object.prototype's members.
 */
export function withoutPrototype<T>(record: Record<string, T>): Record<string, T> {
  return Object.assign(Object.create(null) as Record<string, T>, record);
}

export type HostsFile = z.output<typeof hostsFileSchema>;

/**
 * The file's maps without a prototype, in place: the schema's last step, and what a
 * sealed read does to the text it parsed (data nothing else holds; a copy of 10,000
 * hosts into a new map cost 12–45 ms with the garbage it left, on every read).
 */
export function dropPrototypes<T extends { hosts: object; groups?: object | undefined }>(db: T): T {
  Object.setPrototypeOf(db.hosts, null);
  if (db.groups) Object.setPrototypeOf(db.groups, null);
  return db;
}

/** A sealed (already validated) file read back: its maps lose their prototype as the schema's do. */
export function reviveHostsFile(data: unknown): HostsFile {
  return dropPrototypes(data as HostsFile);
}

/** The host database's store: sealed, so an unchanged file is not validated again on every read. */
export function hostsStore(paths: TillPaths) {
  return new JsonFileStore(
    paths.hostsDb,
    () => import('./hosts-schema.js').then((m) => m.hostsFileSchema),
    emptyHostsFile,
    {
      seal: { keyFile: paths.sealKey, context: sealContext() },
      sweepStaleTemps: true,
      revive: reviveHostsFile,
      changes: () => import('./hosts-schema.js').then((m) => m.checkHostsChange),
    },
  );
}

/** What the database's seal vouches for beside its text: the version of the till whose schema checked it. */
export function sealContext(version: string = TILL_VERSION): string {
  return `hosts-local.json checked by till ${version}`;
}

export function emptyHostsFile(): HostsFile {
  return { hosts: withoutPrototype({}), groups: withoutPrototype({}), updated: String(Math.floor(Date.now() / 1000)) };
}

export const DEFAULT_TEKTON_PATH = '~/projects/github/Tekton';

/** The lifecycle stage of a host, looking through `unreachable`. */
export function lifecycleOf(entry: HostEntry): LifecycleStatus {
  if (entry.status === 'unreachable') return entry.previous_status ?? 'untested';
  return entry.status;
}

const RANK: Record<LifecycleStatus, number> = { untested: 0, connected: 1, 'till-ready': 2, deployed: 3 };

export function atLeast(status: LifecycleStatus, floor: LifecycleStatus): boolean {
  return RANK[status] >= RANK[floor];
}

export function raiseTo(current: LifecycleStatus, floor: LifecycleStatus): LifecycleStatus {
  return RANK[current] >= RANK[floor] ? current : floor;
}
