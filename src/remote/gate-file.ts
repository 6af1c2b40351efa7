import { posix } from 'node:path';
import * as z from 'zod';
import { remotePathProblem } from '../core/validate.js';

/** ~/.till/gate.json on a restricted host: the host owner's policy for till's key. */
const gateFileSchema = z.looseObject({
  deployRoots: z
    .array(z.string().refine((p) => remotePathProblem(p) === undefined, 'not a safe remote path'))
    .default([]),
  upgrade: z.boolean().default(true),
  checks: z.array(z.string().max(4096)).default([]),
});

export interface GateFile {
  /** Absolute, `~/` expanded against the home. */
  deployRoots: string[];
  upgrade: boolean;
  checks: string[];
}

/** Parses gate.json text (already JSON-decoded); throws with the schema's reasons. */
export function parseGateFile(raw: unknown, home: string): GateFile {
  const parsed = gateFileSchema.safeParse(raw);
  if (!parsed.success) throw new Error(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  const expand = (p: string) => (p.startsWith('~/') ? posix.join(home, p.slice(2)) : p).replace(/\/+$/, '');
  return { deployRoots: parsed.data.deployRoots.map(expand), upgrade: parsed.data.upgrade, checks: parsed.data.checks };
}

/**
 * Why `next` would give till's key more than `current` allows (a new deploy root, a new
 * check, upgrades turned back on), or undefined when it is the same or narrower.
 */
export function wideningOf(current: GateFile, next: GateFile): string | undefined {
  const root = next.deployRoots.find((r) => !current.deployRoots.includes(r));
  if (root !== undefined) return `it adds the deploy root ${root}`;
  const check = next.checks.find((c) => !current.checks.includes(c));
  if (check !== undefined) return `it adds the check ${JSON.stringify(check)}`;
  if (next.upgrade && !current.upgrade) return 'it turns "upgrade" back on';
  return undefined;
}
