import { UsageError } from './errors.js';
import { DEFAULT_TEKTON_PATH, type HostEntry, type HostsFile } from './state/hosts.js';
import { parseHostSpec, validateName, validatePort, validateRemotePath } from './validate.js';

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
  const tektonPath = validateRemotePath(input.tektonPath ?? DEFAULT_TEKTON_PATH, '--tekton-path');
  const groups = (input.groups ?? []).map((g) => validateName(g, 'group'));
  const jump = input.jump === undefined ? undefined : validateName(input.jump, 'host');
  return inventory.update((db) => {
    if (Object.hasOwn(db.hosts, name))
      throw new UsageError(
        `host ${name} already exists`,
        `remove it first (till host remove ${name}) or choose another name`,
      );
    if (jump !== undefined && !Object.hasOwn(db.hosts, jump))
      throw new UsageError(`--jump ${jump}: no such host`, 'add the jump host first');
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
  const entry = db.hosts[name];
  if (!entry) throw new UsageError(`no such host: ${name}`, 'see: till host list');
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

export function addToGroup(db: HostsFile, group: string, hosts: string[], create = false): void {
  validateName(group, 'group');
  db.groups ??= Object.create(null) as Record<string, string[]>;
  if (!Object.hasOwn(db.groups, group)) {
    if (!create) throw new UsageError(`no such group: ${group}`, `create it with: till host group create ${group}`);
    db.groups[group] = [];
  }
  const members = db.groups[group]!;
  for (const h of hosts) {
    if (!Object.hasOwn(db.hosts, h)) throw new UsageError(`no such host: ${h}`);
    if (!members.includes(h)) members.push(h);
  }
}
