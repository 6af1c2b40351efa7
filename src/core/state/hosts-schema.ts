import * as z from 'zod';
import './zod.js';
import { NAME_RE, USER_RE, isValidAddress, remotePathProblem } from '../validate.js';
import { healthSnapshotSchema, hostMetadataSchema } from './health.js';
import {
  DEFAULT_TEKTON_PATH,
  dropPrototypes,
  HOST_STATUSES,
  withoutPrototype,
  type HostsFile,
  type HostStatus,
} from './hosts.js';

/**
 * The schema of hosts-local.json (hosts.ts has what the rest of till uses of it). Loaded
 * only to validate: a file till sealed after writing it is read without it, so a command
 * that only reads the database (host list, host exec) never loads zod.
 */
const name = z.string().regex(NAME_RE, 'not a valid name');
const isoTime = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'not an ISO-8601 time');

/**
 * The original Till (the C implementation) wrote a host with fewer fields and its own
 * words: status `ready` (its SSH test passed: till's `connected`; `host test` finds out
 * more; its `till-ready` meant its own C till, also `connected` here), `added` as ctime() text in local time ("Sun Dec  6 16:36:27 2026\n", or with a
 * zero-padded day), no `tekton_path` (the default `host add` uses) and, when a port did
 * not parse, port 0 (which it read as 22). Read as till's own forms, which the next
 * write stores; every other field is kept as it is.
 */
const ORIGINAL_STATUS: Record<string, HostStatus> = { ready: 'connected' };
const CTIME = /^[A-Z][a-z]{2} +([A-Z][a-z]{2}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (\d{4})\n?$/;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** ctime() text (local time, as the original wrote it) to ISO-8601 UTC; undefined for any other text. */
export function isoFromCtime(text: string): string | undefined {
  const m = CTIME.exec(text);
  if (!m || !MONTHS.includes(m[1]!)) return undefined;
  const [year, month, day] = [Number(m[6]), MONTHS.indexOf(m[1]!), Number(m[2])];
  const date = new Date(year, month, day, Number(m[3]), Number(m[4]), Number(m[5]));
  return Number.isNaN(date.getTime()) || date.getDate() !== day ? undefined : date.toISOString();
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fromOriginalTill(value: unknown): unknown {
  if (!isRecord(value)) return value;
  const entry = { ...value };
  if (typeof entry.status === 'string' && Object.hasOwn(ORIGINAL_STATUS, entry.status))
    entry.status = ORIGINAL_STATUS[entry.status];
  // An entry without tekton_path is the original's: its till-ready meant the C till, which this till cannot use.
  if (entry.tekton_path === undefined && entry.status === 'till-ready') entry.status = 'connected';
  for (const key of ['added', 'last_sync', 'last_test'])
    if (typeof entry[key] === 'string') entry[key] = isoFromCtime(entry[key]) ?? entry[key];
  entry.tekton_path ??= DEFAULT_TEKTON_PATH;
  if (entry.port === 0 || entry.port === undefined) entry.port = 22;
  return entry;
}

/**
 * Versions of the original Till kept a removed host in the file, marked
 * `"state": "removed"`: such an entry moves to `removed_hosts`, which till keeps and
 * never targets (a host its operator removed must not come back with --all).
 */
function removedByOriginalTill(value: unknown): unknown {
  if (!isRecord(value) || !isRecord(value.hosts)) return value;
  const removed = Object.entries(value.hosts).filter(([, h]) => isRecord(h) && h.state === 'removed');
  if (removed.length === 0) return value;
  const hosts = { ...value.hosts };
  const kept = isRecord(value.removed_hosts) ? { ...value.removed_hosts } : {};
  for (const [name, entry] of removed) {
    delete hosts[name];
    kept[name] = entry;
  }
  return { ...value, hosts, removed_hosts: kept };
}

export const hostEntryFields = z.looseObject({
  user: z.string().regex(USER_RE, 'not a valid user name'),
  host: z.string().refine(isValidAddress, 'not a valid host address'),
  port: z.number().int().min(1).max(65535),
  status: z.enum(HOST_STATUSES),
  added: isoTime,
  last_sync: isoTime.nullable().optional(),
  last_test: isoTime.nullable().optional(),
  tekton_path: z.string().refine((p) => remotePathProblem(p) === undefined, 'not a safe remote path'),
  installations: z.array(name).default([]),
  failures: z.number().int().min(0).optional(),
  last_error: z.string().nullable().optional(),
  /** The lifecycle stage to restore when an unreachable host answers again. */
  previous_status: z.enum(['untested', 'connected', 'till-ready', 'deployed']).optional(),
  latency_ms: z.number().optional(),
  till_version: z.string().nullable().optional(),
  jump: name.optional(),
  /** The last `till host health` snapshot (also kept for a host found down). */
  health: healthSnapshotSchema.optional(),
  /** os, arch, cores, memory (bytes), as the last successful `host health` saw them. */
  metadata: hostMetadataSchema.optional(),
  /**
   * The deployed release (`host deploy`/`rollback`): current, previous and when; who
   * deployed the current one, from which commit, why (its release record on the host).
   */
  deploy: z
    .looseObject({
      current: z.string().nullable(),
      previous: z.string().nullable(),
      at: isoTime,
      deployer: z.string().optional(),
      commit: z.string().optional(),
      dirty: z.boolean().optional(),
      message: z.string().optional(),
    })
    .optional(),
  /** The manual lock (`till host lock`) as this TILL_HOME last saw it on the host (host text); absent: none seen. */
  manual_lock: z
    .looseObject({
      by: z.string().optional(),
      when: z.string().optional(),
      from: z.string().optional(),
      message: z.string().optional(),
      seen: isoTime,
    })
    .optional(),
  /** till's key on this host is restricted to `till gate` (host setup --restrict; docs/gate.md). */
  restricted: z.boolean().optional(),
  /** Its gate.json allows release hooks (`host setup --restrict --allow-hooks`). */
  gate_hooks: z.boolean().optional(),
  /** Fingerprint of till's key this host accepts (set by authorize and rotate-key); absent: the current key. */
  key_fingerprint: z
    .string()
    .regex(/^SHA256:[A-Za-z0-9+/]{43}$/, 'not a SHA256 key fingerprint')
    .optional(),
});
export const hostEntrySchema = z.preprocess(fromOriginalTill, hostEntryFields);

/**
 * zod's record silently drops a `__proto__` key: refuse such a file instead of rewriting
 * it without. The issue ends the check (`continue: false`): the checks across hosts
 * below would otherwise run on the unchecked map (a `"__proto__": null` entry was a crash).
 */
const noProtoKey = (value: unknown, ctx: z.RefinementCtx) => {
  if (typeof value === 'object' && value !== null && Object.hasOwn(value, '__proto__'))
    ctx.addIssue({ code: 'custom', message: '"__proto__" is not a valid name', continue: false });
};

/** A record's refused key, in words (zod's own: "Invalid key in record"); its other issues keep theirs. */
const badKey =
  (what: 'host' | 'group') =>
  (issue: { code?: string; input?: unknown }): string | undefined =>
    issue.code === 'invalid_key'
      ? `${JSON.stringify(issue.input)} is not a valid ${what} name (letters, digits, . _ -, starting with a letter or digit, at most 63 characters)`
      : undefined;

/** The hosts map: every name and every entry checked on its own (crossIssues checks what they name). */
const hostsRecord = z
  .unknown()
  .superRefine(noProtoKey)
  .pipe(z.record(name, hostEntrySchema, { error: badKey('host') }))
  .transform(withoutPrototype);

/** The file's fields, each checked on its own. */
const hostsFileFields = z.looseObject({
  hosts: hostsRecord,
  groups: z
    .unknown()
    .superRefine(noProtoKey)
    .pipe(z.record(name, z.array(name), { error: badKey('group') }))
    .transform(withoutPrototype)
    .optional(),
  updated: z.string().optional(),
});
type HostsFileFields = z.output<typeof hostsFileFields>;

/** What the hosts and groups name that is not there: a jump host, a group's member. */
function crossIssues(db: HostsFileFields): { path: (string | number)[]; message: string }[] {
  const issues: { path: (string | number)[]; message: string }[] = [];
  for (const [hostName, entry] of Object.entries(db.hosts)) {
    if (entry.jump !== undefined && !Object.hasOwn(db.hosts, entry.jump))
      issues.push({ path: ['hosts', hostName, 'jump'], message: `jump host ${entry.jump} is not in the database` });
    if (entry.jump === hostName)
      issues.push({ path: ['hosts', hostName, 'jump'], message: 'a host cannot jump through itself' });
  }
  for (const [group, members] of Object.entries(db.groups ?? {}))
    members.forEach((m, i) => {
      if (!Object.hasOwn(db.hosts, m))
        issues.push({ path: ['groups', group, i], message: `host ${m} is not in the database` });
    });
  return issues;
}

export const hostsFileSchema = z
  .preprocess(removedByOriginalTill, hostsFileFields)
  .superRefine((db, ctx) => {
    for (const issue of crossIssues(db)) ctx.addIssue({ code: 'custom', ...issue });
  })
  // Prototype-less maps: a host or group named `constructor` or `toString` is just a name.
  .transform(dropPrototypes);

/**
 * Whether `value` has the JSON text of `json` (a value JSON.parse made), and nothing that
 * JSON.stringify would show otherwise: plain objects and arrays only (no Date, no
 * toJSON from a prototype), the same keys in the same order, the same primitives.
 */
function sameJson(value: unknown, json: unknown): boolean {
  if (value === json) return true;
  if (typeof value !== 'object' || value === null || typeof json !== 'object' || json === null) return false;
  if (Array.isArray(json)) {
    if (!Array.isArray(value) || Object.getPrototypeOf(value) !== Array.prototype || value.length !== json.length)
      return false;
    for (let i = 0; i < json.length; i++) if (!sameJson(value[i], json[i])) return false;
    return true;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype) return false;
  const keys = Object.keys(value);
  const jsonKeys = Object.keys(json);
  if (keys.length !== jsonKeys.length) return false;
  for (let i = 0; i < keys.length; i++)
    if (keys[i] !== jsonKeys[i] || !sameJson((value as never)[keys[i]!], (json as never)[keys[i]!])) return false;
  return true;
}

/**
 * The check of an update's result (JsonFileStore's `changes`), for the cost of what it
 * changed: `prior` is the sealed text the update read, parsed. Till wrote that text
 * after the full check, as the check's output, which the check maps to itself (a fixed
 * point). So an entry with the same JSON as before needs no check; only the changed and
 * new entries, their names, the groups and the top-level fields go through zod, and the
 * checks across hosts (crossIssues, a plain loop) run on the whole file as before.
 *
 * Returns the output the full check would give, with the same text; or undefined when
 * it cannot vouch for that (anything unusual: a `__proto__` or symbol key, an entry the
 * original Till marked removed, or any issue at all), and the caller runs the full check,
 * which then also words the refusal. test/unit/hosts-changes.test.ts holds the property.
 */
export function checkHostsChange(prior: unknown, data: unknown): HostsFile | undefined {
  if (!isRecord(prior) || !isRecord(prior.hosts) || !isRecord(data) || !isRecord(data.hosts)) return undefined;
  const [was, hosts] = [prior.hosts, data.hosts];
  if (Object.hasOwn(hosts, '__proto__')) return undefined;
  // The keys zod's record walks: own, enumerable, symbols too.
  const keys = Reflect.ownKeys(hosts).filter((k) => Object.prototype.propertyIsEnumerable.call(hosts, k));
  const changed: [string, unknown][] = [];
  for (const key of keys) {
    if (typeof key !== 'string') return undefined;
    const entry = hosts[key];
    if (Object.hasOwn(was, key) && sameJson(entry, was[key])) continue;
    if (isRecord(entry) && entry.state === 'removed') return undefined;
    changed.push([key, entry]);
  }
  const checked = hostsFileFields.safeParse({ ...data, hosts: Object.fromEntries(changed) });
  if (!checked.success) return undefined;
  // A plain map, as zod's record builds (`__proto__` was left to the full check above).
  const merged: HostsFileFields['hosts'] = {};
  for (const key of keys as string[])
    merged[key] = Object.hasOwn(checked.data.hosts, key) ? checked.data.hosts[key]! : (hosts[key] as never);
  const db = { ...checked.data, hosts: merged };
  if (crossIssues(db).length > 0) return undefined;
  return dropPrototypes(db);
}
