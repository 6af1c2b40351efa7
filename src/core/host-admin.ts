import { UsageError } from './errors.js';
import { DEFAULT_TEKTON_PATH, lifecycleOf, type HostEntry, type HostsFile } from './state/hosts.js';
import { UNCHANGED } from './state/store.js';
import { didYouMean } from './suggest.js';
import { parseHostSpec, validateName, validatePort, validateTektonPath, validateUser } from './validate.js';

/** "no such host", with the nearest names as the hint ("did you mean web1?"). */
export function noSuchHost(db: HostsFile, name: string, message = `no such host: ${name}`): UsageError {
  return new UsageError(message, didYouMean(name, Object.keys(db.hosts), 'see: till host list'));
}

/** "no such group", with the nearest group names as the hint. */
export function noSuchGroup(db: HostsFile, name: string, fallback = 'see: till host group list'): UsageError {
  return new UsageError(`no such group: ${name}`, didYouMean(name, Object.keys(db.groups ?? {}), fallback));
}

/** The entry of a named host, or a usage error that says "did you mean …?". */
export function requireHost(db: HostsFile, name: string): HostEntry {
  if (!Object.hasOwn(db.hosts, name)) throw noSuchHost(db, name);
  return db.hosts[name]!;
}

/** What adding a host needs of the database: one locked update (the Inventory, which also renders ssh/config). */
export interface HostDatabase {
  update<R>(change: (db: HostsFile) => R | Promise<R>): Promise<R>;
}

export interface AddHostInput {
  name: string;
  spec: string;
  port?: string | number;
  tektonPath?: string;
  groups?: string[];
  jump?: string;
}

/** Validates everything before touching the database; makes no network contact. */
export async function addHost(inventory: HostDatabase, input: AddHostInput, now = new Date()): Promise<HostEntry> {
  const name = validateName(input.name, 'host');
  const spec = parseHostSpec(input.spec);
  if (input.port !== undefined && spec.port !== undefined && validatePort(input.port) !== spec.port) {
    throw new UsageError(`port given twice: ${spec.port} in ${input.spec} and ${input.port} in --port`);
  }
  const port = input.port !== undefined ? validatePort(input.port) : (spec.port ?? 22);
  const tektonPath = validateTektonPath(input.tektonPath ?? DEFAULT_TEKTON_PATH, '--tekton-path');
  const groups = (input.groups ?? []).map((g) => validateName(g, 'group'));
  const jump = input.jump === undefined ? undefined : validateName(input.jump, 'host');
  return inventory.update((db) => {
    if (Object.hasOwn(db.hosts, name))
      throw new UsageError(
        `host ${name} already exists`,
        `remove it first (till host remove ${name}) or choose another name`,
      );
    if (jump !== undefined && !Object.hasOwn(db.hosts, jump))
      throw noSuchHost(db, jump, `--jump ${jump}: no such host (add the jump host first)`);
    const entry: HostEntry = {
      user: spec.user,
      host: spec.host,
      port,
      status: 'untested',
      added: now.toISOString(),
      last_sync: null,
      tekton_path: tektonPath,
      installations: [],
      ...(jump !== undefined ? { jump } : {}),
    };
    db.hosts[name] = entry;
    for (const g of groups) addToGroup(db, g, [name], true);
    return entry;
  });
}

/** Removes a host from the database and from every group. Jump dependants block it. */
export function removeHostFrom(db: HostsFile, name: string): HostEntry {
  const entry = requireHost(db, name);
  const dependants = Object.entries(db.hosts)
    .filter(([, h]) => h.jump === name)
    .map(([n]) => n);
  if (dependants.length > 0)
    throw new UsageError(
      `host ${name} is the jump host of ${dependants.join(', ')}`,
      'remove or re-add those hosts first',
    );
  delete db.hosts[name];
  for (const [g, members] of Object.entries(db.groups ?? {})) {
    db.groups![g] = members.filter((m) => m !== name);
  }
  return entry;
}

/** Adds hosts to a group, each once: which were added, and which were members already (a name given twice counts once). */
export function addToGroup(
  db: HostsFile,
  group: string,
  hosts: string[],
  create = false,
): { added: string[]; already: string[] } {
  validateName(group, 'group');
  db.groups ??= Object.create(null) as Record<string, string[]>;
  if (!Object.hasOwn(db.groups, group)) {
    if (!create) throw noSuchGroup(db, group, `create it with: till host group create ${group}`);
    db.groups[group] = [];
  }
  const members = db.groups[group]!;
  const before = new Set(members);
  const added: string[] = [];
  const already: string[] = [];
  for (const h of new Set(hosts)) {
    if (!Object.hasOwn(db.hosts, h)) throw noSuchHost(db, h);
    if (before.has(h)) already.push(h);
    else {
      members.push(h);
      added.push(h);
    }
  }
  return { added, already };
}

/**
 * A host that now points elsewhere: what was learnt about reaching it (failures, last
 * error, latency, unreachable) is about the old address; its lifecycle stage stays
 * (the next `host test` finds out).
 */
export function resetConnection(entry: HostEntry): void {
  entry.status = lifecycleOf(entry);
  delete entry.previous_status;
  entry.failures = 0;
  entry.last_error = null;
  delete entry.latency_ms;
}

export interface EditHostInput {
  name: string;
  /** `user@host[:port]`, or `host[:port]` keeping the user. */
  address?: string;
  user?: string;
  port?: string | number;
  tektonPath?: string;
  /** A till host to jump through; null: no jump host. */
  jump?: string | null;
  rename?: string;
}

export interface EditHostResult {
  /** The host's name now. */
  name: string;
  before: HostEntry;
  after: HostEntry;
  /** What changed, as "port 22 → 2222". Empty: nothing did, and nothing was written. */
  changes: string[];
  /** The master connection, if any, went to `before`'s address: close it there. */
  moved: boolean;
}

/** The jump chain from `start` reaches `name`: making `name` jump through `start` would loop. */
function jumpLoops(db: HostsFile, name: string, start: string): boolean {
  const seen = new Set<string>();
  for (let j: string | undefined = start; j !== undefined && !seen.has(j); j = db.hosts[j]?.jump) {
    if (j === name) return true;
    seen.add(j);
  }
  return false;
}

/**
 * `till host edit`: validates every value as `host add` does, then changes the entry
 * (and, for a rename, the groups, other hosts' jumps and every state file keyed by the
 * name) in one locked write; ssh/config follows. Makes no network contact: the caller
 * closes the master to the old address.
 */
export async function editHost(
  inventory: HostDatabase,
  input: EditHostInput,
  moveState: (from: string, to: string) => Promise<void>,
): Promise<EditHostResult> {
  const name = validateName(input.name, 'host');
  const rename = input.rename === undefined ? undefined : validateName(input.rename, 'host');
  const user = input.user === undefined ? undefined : validateUser(input.user);
  const port = input.port === undefined ? undefined : validatePort(input.port);
  const tektonPath = input.tektonPath === undefined ? undefined : validateTektonPath(input.tektonPath, '--tekton-path');
  const jump = typeof input.jump === 'string' ? validateName(input.jump, 'host') : input.jump;
  let result: EditHostResult | undefined;
  await inventory.update(async (db) => {
    const before = requireHost(db, name);
    const after: HostEntry = { ...before };
    if (input.address !== undefined) {
      const spec = parseHostSpec(input.address.includes('@') ? input.address : `${before.user}@${input.address}`);
      if (user !== undefined && input.address.includes('@') && spec.user !== user)
        throw new UsageError(`user given twice: ${spec.user} in --address and ${user} in --user`);
      if (port !== undefined && spec.port !== undefined && spec.port !== port)
        throw new UsageError(`port given twice: ${spec.port} in --address and ${port} in --port`);
      after.user = spec.user;
      after.host = spec.host;
      if (spec.port !== undefined) after.port = spec.port;
    }
    if (user !== undefined) after.user = user;
    if (port !== undefined) after.port = port;
    if (tektonPath !== undefined) after.tekton_path = tektonPath;
    if (jump === null) delete after.jump;
    else if (jump !== undefined) {
      if (jump === name) throw new UsageError(`--jump ${jump}: a host cannot jump through itself`);
      if (!Object.hasOwn(db.hosts, jump))
        throw noSuchHost(db, jump, `--jump ${jump}: no such host (add the jump host first)`);
      if (jumpLoops(db, name, jump))
        throw new UsageError(`--jump ${jump}: ${jump} already reaches ${name} through its own jumps; that would loop`);
      after.jump = jump;
    }
    const changes: string[] = [];
    const diff = (what: string, a: unknown, b: unknown) => {
      if (a !== b) changes.push(`${what} ${a ?? 'none'} → ${b ?? 'none'}`);
    };
    diff('user', before.user, after.user);
    diff('host', before.host, after.host);
    diff('port', before.port, after.port);
    diff('jump', before.jump, after.jump);
    const moved = changes.length > 0;
    diff('tekton_path', before.tekton_path, after.tekton_path);
    if (rename !== undefined && rename !== name) {
      if (Object.hasOwn(db.hosts, rename))
        throw new UsageError(`host ${rename} already exists`, `choose another name, or remove ${rename} first`);
      changes.push(`name ${name} → ${rename}`);
    }
    result = { name: rename ?? name, before, after, changes, moved: moved || rename !== undefined };
    if (changes.length === 0) return UNCHANGED;
    if (moved) resetConnection(after);
    if (rename === undefined || rename === name) {
      db.hosts[name] = after;
      return;
    }
    // The other state files first: interrupted here, running the same rename again finishes it.
    await moveState(name, rename);
    const hosts = Object.create(null) as HostsFile['hosts'];
    for (const [n, e] of Object.entries(db.hosts)) {
      const entry = n === name ? after : e;
      if (entry.jump === name) entry.jump = rename;
      hosts[n === name ? rename : n] = entry;
    }
    db.hosts = hosts;
    for (const [g, members] of Object.entries(db.groups ?? {}))
      db.groups![g] = members.map((m) => (m === name ? rename : m));
  });
  return result!;
}
