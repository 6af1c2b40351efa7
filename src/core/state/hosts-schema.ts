import * as z from 'zod';
import { NAME_RE, USER_RE, isValidAddress, remotePathProblem } from '../validate.js';
import { healthSnapshotSchema, hostMetadataSchema } from './health.js';
import { HOST_STATUSES, withoutPrototype } from './hosts.js';

/**
 * The schema of hosts-local.json (hosts.ts has what the rest of till uses of it). Loaded
 * only to validate: a file till sealed after writing it is read without it, so a command
 * that only reads the database (host list, host exec) never loads zod.
 */
const name = z.string().regex(NAME_RE, 'not a valid name');
const isoTime = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'not an ISO-8601 time');

export const hostEntrySchema = z.looseObject({
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
  /** The deployed release (`host deploy`/`rollback`): current, previous and when. */
  deploy: z.looseObject({ current: z.string().nullable(), previous: z.string().nullable(), at: isoTime }).optional(),
  /** till's key on this host is restricted to `till gate` (host setup --restrict; docs/gate.md). */
  restricted: z.boolean().optional(),
  /** Fingerprint of till's key this host accepts (set by authorize and rotate-key); absent: the current key. */
  key_fingerprint: z
    .string()
    .regex(/^SHA256:[A-Za-z0-9+/]{43}$/, 'not a SHA256 key fingerprint')
    .optional(),
});

/** zod's record silently drops a `__proto__` key: refuse such a file instead of rewriting it without. */
const noProtoKey = (value: unknown, ctx: z.RefinementCtx) => {
  if (typeof value === 'object' && value !== null && Object.hasOwn(value, '__proto__'))
    ctx.addIssue({ code: 'custom', message: '"__proto__" is not a valid name' });
};

export const hostsFileSchema = z
  .looseObject({
    hosts: z.unknown().superRefine(noProtoKey).pipe(z.record(name, hostEntrySchema)).transform(withoutPrototype),
    groups: z
      .unknown()
      .superRefine(noProtoKey)
      .pipe(z.record(name, z.array(name)))
      .transform(withoutPrototype)
      .optional(),
    updated: z.string().optional(),
  })
  .superRefine((db, ctx) => {
    for (const [hostName, entry] of Object.entries(db.hosts)) {
      if (entry.jump !== undefined && !Object.hasOwn(db.hosts, entry.jump)) {
        ctx.addIssue({
          code: 'custom',
          path: ['hosts', hostName, 'jump'],
          message: `jump host ${entry.jump} is not in the database`,
        });
      }
      if (entry.jump === hostName) {
        ctx.addIssue({
          code: 'custom',
          path: ['hosts', hostName, 'jump'],
          message: 'a host cannot jump through itself',
        });
      }
    }
    for (const [group, members] of Object.entries(db.groups ?? {})) {
      members.forEach((m, i) => {
        if (!Object.hasOwn(db.hosts, m))
          ctx.addIssue({ code: 'custom', path: ['groups', group, i], message: `host ${m} is not in the database` });
      });
    }
  })
  // Prototype-less maps: a host or group named `constructor` or `toString` is just a name.
  .transform((db) => {
    Object.setPrototypeOf(db.hosts, null);
    if (db.groups) Object.setPrototypeOf(db.groups, null);
    return db;
  });
