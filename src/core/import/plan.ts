import { isIP } from 'node:net';
import { UsageError } from '../errors.js';
import { addToGroup, resetConnection } from '../host-admin.js';
import { DEFAULT_TEKTON_PATH, type HostEntry, type HostsFile } from '../state/hosts.js';
import {
  formatHostSpec,
  NAME_RE,
  validateAddress,
  validateName,
  validatePort,
  validateTektonPath,
  validateUser,
} from '../validate.js';
import type { FoundHost, FoundInventory } from './source.js';

/**
 * What an import would do to the database, computed from the file and the database
 * alone (pure): which hosts it adds, changes (with --replace), leaves as they are,
 * skips (with the reason) and refuses (a value `host add` would refuse, with the reason
 * and, for a name, a suggested one), and the groups it creates or fills. Every value is
 * validated exactly as `host add` validates it; nothing is renamed or fixed in silence.
 */
export type ImportAction = 'add' | 'change' | 'unchanged' | 'skip' | 'refused';

export interface PlannedHost {
  name: string;
  action: ImportAction;
  /** The entry as it will be (add, change, unchanged). */
  entry?: HostEntry;
  groups: string[];
  /** What --replace changes, as "port 22 → 2222". */
  changes: string[];
  /** The address, user, port or jump changed: the old master must be closed. */
  moved?: HostEntry;
  reason?: string;
  suggestion?: string;
  notes: string[];
  where: string;
}

export interface PlannedGroup {
  name: string;
  action: 'create' | 'add' | 'unchanged' | 'refused';
  hosts: string[];
  reason?: string;
  suggestion?: string;
}

export interface ImportPlan {
  hosts: PlannedHost[];
  groups: PlannedGroup[];
  notes: string[];
}

export interface PlanOptions {
  replace: boolean;
  /** --group: every imported host joins these. */
  groups: string[];
  /** User of hosts whose file names none (the current user, as ssh and Ansible do). */
  defaultUser: string;
  now: Date;
}

/** A name till can use, close to `raw` (for the message that refuses `raw`), unused in `taken`. */
export function suggestName(raw: string, taken: (n: string) => boolean): string {
  let base = raw
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 63)
    .replace(/[-.]+$/, '');
  if (base === '') base = 'host';
  let candidate = base;
  for (let i = 2; taken(candidate) || !NAME_RE.test(candidate); i++) {
    const suffix = `-${i}`;
    candidate = `${base.slice(0, 63 - suffix.length)}${suffix}`;
  }
  return candidate;
}

function reasonOf(err: unknown): string {
  if (err instanceof UsageError) return err.hint ? `${err.message} (${err.hint})` : err.message;
  throw err;
}

/** user, address, port and tekton path exactly as `host add` takes them apart and checks them. */
function validateFound(
  h: FoundHost,
  defaultUser: string,
): { user: string; host: string; port: number; tektonPath: string } {
  const user = validateUser(h.user ?? defaultUser);
  if (isIP(h.address) !== 6 && !/^[A-Za-z0-9]/.test(h.address))
    throw new UsageError(`invalid host address ${JSON.stringify(h.address)}: it must start with a letter or a digit`);
  const host = validateAddress(h.address);
  const port = validatePort(h.port ?? 22);
  const tektonPath = validateTektonPath(h.tektonPath ?? DEFAULT_TEKTON_PATH, 'tekton_path');
  return { user, host, port, tektonPath };
}

interface JumpSpec {
  user?: string;
  host: string;
  port?: number;
}

function parseJumpSpec(text: string): JumpSpec | undefined {
  const m = /^(?:ssh:\/\/)?(?:([^@]+)@)?(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(text.trim());
  if (!m) return undefined;
  return {
    ...(m[1] !== undefined ? { user: m[1] } : {}),
    host: m[2]!.replace(/^\[|\]$/g, ''),
    ...(m[3] !== undefined ? { port: Number(m[3]) } : {}),
  };
}

export function planImport(db: HostsFile, found: FoundInventory, opts: PlanOptions): ImportPlan {
  const existing = (n: string) => Object.hasOwn(db.hosts, n);
  const hosts: PlannedHost[] = [];
  const usedInFile = new Map<string, string>();
  const valid = new Map<string, { found: FoundHost; entry: HostEntry; planned: PlannedHost }>();
  const taken = (n: string) => existing(n) || usedInFile.has(n);

  for (const h of found.hosts) {
    const planned: PlannedHost = {
      name: h.name,
      action: 'add',
      groups: [],
      changes: [],
      notes: [...h.notes],
      where: h.where,
    };
    hosts.push(planned);
    const refuse = (reason: string, suggestion?: string) => {
      planned.action = 'refused';
      planned.reason = reason;
      if (suggestion !== undefined) planned.suggestion = suggestion;
    };
    if (!NAME_RE.test(h.name)) {
      try {
        validateName(h.name);
      } catch (err) {
        refuse(reasonOf(err), suggestName(h.name, taken));
      }
      continue;
    }
    const twice = usedInFile.get(h.name);
    if (twice !== undefined) {
      refuse(`the name ${h.name} is used twice in the file (${twice} and ${h.where})`, suggestName(h.name, taken));
      continue;
    }
    usedInFile.set(h.name, h.where);
    if (h.skip !== undefined) {
      planned.action = 'skip';
      planned.reason = h.skip;
      continue;
    }
    let fields;
    try {
      fields = validateFound(h, opts.defaultUser);
    } catch (err) {
      refuse(reasonOf(err));
      continue;
    }
    const entry: HostEntry = {
      user: fields.user,
      host: fields.host,
      port: fields.port,
      status: 'untested',
      added: opts.now.toISOString(),
      last_sync: null,
      tekton_path: fields.tektonPath,
      installations: [],
    };
    planned.entry = entry;
    valid.set(h.name, { found: h, entry, planned });
  }

  // Jumps: a till host (from the file or the database) by name, or by its address.
  const candidates = (): Array<[string, HostEntry]> => [
    ...[...valid].map(([n, v]) => [n, v.entry] as [string, HostEntry]),
    ...Object.entries(db.hosts).filter(([n]) => !valid.has(n)),
  ];
  const resolveJump = (text: string): string | undefined => {
    const spec = parseJumpSpec(text);
    if (!spec) return undefined;
    if (spec.user === undefined && spec.port === undefined && (valid.has(spec.host) || existing(spec.host)))
      return spec.host;
    const byAddress = candidates().filter(
      ([, e]) =>
        e.host === spec.host &&
        (spec.user === undefined || e.user === spec.user) &&
        (spec.port === undefined || e.port === spec.port),
    );
    return byAddress.length === 1 ? byAddress[0]![0] : undefined;
  };
  const jumpOf = (name: string): string | undefined =>
    valid.has(name) ? valid.get(name)!.entry.jump : Object.hasOwn(db.hosts, name) ? db.hosts[name]!.jump : undefined;
  for (const [name, v] of valid) {
    if (v.found.jump === undefined) continue;
    const chain = v.found.jump.split(',').map((s) => s.trim());
    const last = resolveJump(chain.at(-1)!);
    const planned = v.planned;
    if (last === undefined || last === name) {
      planned.notes.push(
        `ProxyJump ${v.found.jump}: not carried; no till host is ${chain.at(-1)} (add it, then: till host edit ${name} --jump <host>)`,
      );
      continue;
    }
    v.entry.jump = last;
    if (chain.length > 1) {
      // ssh's a,b: through a, then b. The same as b's own jump being a (and so on).
      const rest = chain.slice(0, -1).map(resolveJump);
      const behind: Array<string | undefined> = [];
      for (let j = jumpOf(last); j !== undefined && behind.length < chain.length; j = jumpOf(j)) behind.unshift(j);
      if (rest.some((r) => r === undefined) || rest.join(',') !== behind.join(',')) {
        planned.notes.push(
          `ProxyJump ${v.found.jump}: only ${last} carried; till takes one jump host per host (set ${last}'s own with: till host edit ${last} --jump <host>)`,
        );
      }
    }
  }
  // A jump cycle would make ssh loop: refuse every host on one.
  for (const [name] of valid) {
    const seen: string[] = [name];
    for (let j = jumpOf(name); j !== undefined; j = jumpOf(j)) {
      if (j === name) {
        const planned = valid.get(name)!.planned;
        planned.action = 'refused';
        planned.reason = `ProxyJump cycle: ${[...seen, name].join(' → ')}`;
        break;
      }
      if (seen.includes(j)) break;
      seen.push(j);
    }
  }
  for (const p of hosts) if (p.action === 'refused' && valid.get(p.name)?.planned === p) valid.delete(p.name);
  for (const v of valid.values()) {
    const jump = v.entry.jump;
    if (jump === undefined || valid.has(jump) || existing(jump)) continue;
    delete v.entry.jump;
    v.planned.notes.push(`ProxyJump through ${jump}: not carried; ${jump} is refused`);
  }

  // Against the database: add, change (--replace), unchanged, or skip.
  for (const p of hosts) {
    if (p.action !== 'add' || !p.entry) continue;
    if (!existing(p.name)) continue;
    const old = db.hosts[p.name]!;
    const fromFile = valid.get(p.name)!.found;
    const changes: string[] = [];
    const diff = (what: string, a: unknown, b: unknown) => {
      if (a !== b) changes.push(`${what} ${a ?? 'none'} → ${b ?? 'none'}`);
    };
    diff('user', old.user, p.entry.user);
    diff('host', old.host, p.entry.host);
    diff('port', old.port, p.entry.port);
    diff('jump', old.jump, p.entry.jump);
    if (fromFile.tektonPath !== undefined) diff('tekton_path', old.tekton_path, p.entry.tekton_path);
    if (changes.length === 0) {
      p.action = 'unchanged';
      p.entry = old;
    } else if (!opts.replace) {
      p.action = 'skip';
      p.reason = `already a host, with ${changes.join(', ')} in the file (--replace takes the file's)`;
      delete p.entry;
    } else {
      p.action = 'change';
      p.changes = changes;
      const next: HostEntry = { ...old, user: p.entry.user, host: p.entry.host, port: p.entry.port };
      if (p.entry.jump !== undefined) next.jump = p.entry.jump;
      else delete next.jump;
      if (fromFile.tektonPath !== undefined) next.tekton_path = p.entry.tekton_path;
      if (changes.some((c) => !c.startsWith('tekton_path'))) {
        p.moved = old;
        resetConnection(next);
      }
      p.entry = next;
    }
  }

  // Groups: the file's (parents hold their children's hosts), then --group for every host taken.
  const groups: PlannedGroup[] = [];
  const taking = hosts.filter((p) => p.action === 'add' || p.action === 'change' || p.action === 'unchanged');
  const members = new Map<string, string[]>();
  for (const g of found.groups) members.set(g, []);
  for (const g of opts.groups) members.set(g, []);
  for (const p of taking) {
    const fromFile = found.hosts.find((h) => h.name === p.name)!.groups;
    p.groups = [...new Set([...fromFile, ...opts.groups])];
    for (const g of p.groups) {
      if (!members.has(g)) members.set(g, []);
      members.get(g)!.push(p.name);
    }
  }
  const groupTaken = (n: string) => members.has(n) || Object.hasOwn(db.groups ?? {}, n);
  for (const [name, list] of members) {
    if (!NAME_RE.test(name)) {
      let reason = '';
      try {
        validateName(name, 'group');
      } catch (err) {
        reason = reasonOf(err);
      }
      groups.push({ name, action: 'refused', hosts: list, reason, suggestion: suggestName(name, groupTaken) });
      continue;
    }
    const had = db.groups?.[name];
    const action = had === undefined ? 'create' : list.every((h) => had.includes(h)) ? 'unchanged' : 'add';
    groups.push({ name, action, hosts: list });
  }
  return { hosts, groups, notes: found.notes };
}

export function refusals(plan: ImportPlan): number {
  return (
    plan.hosts.filter((h) => h.action === 'refused').length + plan.groups.filter((g) => g.action === 'refused').length
  );
}

/** Applies a plan to the database (under the caller's lock); refused hosts and groups are left out. */
export function applyImport(db: HostsFile, plan: ImportPlan): void {
  for (const p of plan.hosts) if ((p.action === 'add' || p.action === 'change') && p.entry) db.hosts[p.name] = p.entry;
  for (const g of plan.groups) {
    if (g.action === 'refused') continue;
    addToGroup(db, g.name, [], true);
    addToGroup(
      db,
      g.name,
      g.hosts.filter((h) => Object.hasOwn(db.hosts, h)),
    );
  }
}

export function describeEntry(entry: HostEntry | undefined): string {
  return entry ? `${formatHostSpec(entry)}${entry.jump ? ` via ${entry.jump}` : ''}` : '-';
}
