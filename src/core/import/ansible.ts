import { parse as parseYaml } from 'yaml';
import { UsageError } from '../errors.js';
import type { FoundHost, FoundInventory, SourceFile } from './source.js';
import { splitConfigWords } from './ssh-config.js';

/**
 * Ansible inventories, INI and YAML, as hosts and groups. A host's address, port and
 * user come from `ansible_host`, `ansible_port`, `ansible_user` (or their `ansible_ssh_*`
 * forms, and till's own `till_*` variables in an exported inventory), set on the host
 * or on any group that holds it, with Ansible's precedence: `all`, then groups from the
 * shallowest to the deepest (by name within a depth), then the host itself; where a name
 * and its `ansible_ssh_*` form are both set, at any levels, the `ansible_ssh_*` one wins,
 * as it does in Ansible (see FIELDS). A parent
 * group holds its children's hosts (till's groups are flat). Ranges `web[01:03]`,
 * `db-[a:c]` and strides `[1:9:2]` expand as Ansible expands them.
 */

interface Group {
  hosts: Map<string, Record<string, string>>;
  vars: Record<string, string>;
  children: Set<string>;
}

interface Tree {
  groups: Map<string, Group>;
  /** Host names in order of first appearance, with where they were first seen. */
  hosts: Map<string, string>;
  notes: string[];
}

function newTree(): Tree {
  return { groups: new Map([['all', emptyGroup()]]), hosts: new Map(), notes: [] };
}

function emptyGroup(): Group {
  return { hosts: new Map(), vars: {}, children: new Set() };
}

function group(tree: Tree, name: string): Group {
  let g = tree.groups.get(name);
  if (!g) tree.groups.set(name, (g = emptyGroup()));
  return g;
}

const ALPHA = 'abcdefghijklmnopqrstuvwxyz';

/** Ansible's host range: `web[01:03]`, `[a:c]`, `[0:10:2]`, several per name; the name alone when it has none. */
export function expandAnsibleRange(pattern: string): string[] {
  const m = /^(.*?)\[([^\]:]+):([^\]:]+)(?::([^\]]+))?\](.*)$/.exec(pattern);
  if (!m) return [pattern];
  const [head, beg, end, strideText, tail] = [m[1]!, m[2]!, m[3]!, m[4], m[5]!];
  const stride = strideText === undefined ? 1 : Number(strideText);
  if (!Number.isInteger(stride) || stride < 1) throw new UsageError(`invalid range stride in ${pattern}`);
  const values: string[] = [];
  if (/^\d+$/.test(beg) && /^\d+$/.test(end)) {
    const width = beg.length > 1 && beg.startsWith('0') ? beg.length : 0;
    for (let n = Number(beg); n <= Number(end); n += stride) values.push(String(n).padStart(width, '0'));
  } else if (/^[a-z]$/.test(beg) && /^[a-z]$/.test(end)) {
    for (let i = ALPHA.indexOf(beg); i <= ALPHA.indexOf(end); i += stride) values.push(ALPHA[i]!);
  } else throw new UsageError(`invalid range in ${pattern}: [${beg}:${end}] (digits or single letters)`);
  if (values.length === 0) throw new UsageError(`range in ${pattern} is empty (its start is after its end)`);
  if (values.length > 100_000) throw new UsageError(`range in ${pattern} expands to more than 100000 names`);
  const tails = expandAnsibleRange(tail);
  return values.flatMap((v) => tails.map((t) => `${head}${v}${t}`));
}

function unquote(value: string): string {
  const v = value.trim();
  return v.length >= 2 && (v[0] === '"' || v[0] === "'") && v.at(-1) === v[0] ? v.slice(1, -1) : v;
}

/** An INI host line's `key=value` words (quotes already removed by the word split). */
function lineVars(words: string[], where: string, notes: string[]): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const w of words) {
    const eq = w.indexOf('=');
    if (eq <= 0) notes.push(`${where}: ${JSON.stringify(w)} is not key=value; left out`);
    else vars[w.slice(0, eq)] = w.slice(eq + 1);
  }
  return vars;
}

/** The INI form: [group], [group:vars], [group:children]; hosts before any section are ungrouped. */
export function readAnsibleIni(file: SourceFile): Tree {
  const tree = newTree();
  let section = { group: 'ungrouped', kind: 'hosts' as 'hosts' | 'vars' | 'children' };
  file.text.split(/\r?\n/).forEach((raw, i) => {
    const where = `${file.path}:${i + 1}`;
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      const [name, kind = 'hosts'] = header[1]!.trim().split(':') as [string, string?];
      if (kind !== 'hosts' && kind !== 'vars' && kind !== 'children') {
        tree.notes.push(`${where}: unknown section kind :${kind}; its lines are left out`);
        section = { group: name, kind: 'vars' };
        return;
      }
      section = { group: name, kind };
      group(tree, name);
      return;
    }
    if (section.kind === 'vars') {
      const eq = line.indexOf('=');
      if (eq <= 0) tree.notes.push(`${where}: ${JSON.stringify(line)} is not key=value; left out`);
      else group(tree, section.group).vars[line.slice(0, eq).trim()] = unquote(line.slice(eq + 1));
      return;
    }
    if (section.kind === 'children') {
      group(tree, line);
      group(tree, section.group).children.add(line);
      return;
    }
    const words = splitConfigWords(line.replace(/\s+#.*$/, ''));
    const [pattern, port] = splitHostPort(words[0]!);
    const vars = lineVars(words.slice(1), where, tree.notes);
    if (port !== undefined) vars.ansible_port ??= port;
    for (const host of expandAnsibleRange(pattern)) addHost(tree, section.group, host, vars, where);
  });
  return tree;
}

/**
 * A host pattern's `host:port`, in INI lines and YAML keys alike: one colon outside the
 * range brackets (more is an IPv6 address). The port is the host's `ansible_port` unless
 * its own variables set one.
 */
function splitHostPort(pattern: string): [string, string | undefined] {
  const masked = pattern.replace(/\[[^\]]*\]/g, (m) => m.replace(/:/g, '\0'));
  const port = /^([^:]+):(\d+)$/.exec(masked);
  return port ? [port[1]!.replace(/\0/g, ':'), port[2]!] : [pattern, undefined];
}

function addHost(tree: Tree, groupName: string, host: string, vars: Record<string, string>, where: string): void {
  const g = group(tree, groupName);
  g.hosts.set(host, { ...(g.hosts.get(host) ?? {}), ...vars });
  if (!tree.hosts.has(host)) tree.hosts.set(host, where);
}

function scalarVars(value: unknown, where: string, notes: string[]): Record<string, string> {
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    notes.push(`${where}: expected a mapping of variables; left out`);
    return {};
  }
  const vars: Record<string, string> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    vars[k] = typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
  }
  return vars;
}

/** The YAML form: groups with `hosts`, `vars` and `children`, nested. */
export function readAnsibleYaml(file: SourceFile): Tree {
  const tree = newTree();
  let doc: unknown;
  try {
    doc = parseYaml(file.text);
  } catch (err) {
    throw new UsageError(`${file.path} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc))
    throw new UsageError(`${file.path}: an Ansible YAML inventory is a mapping of groups (all: …)`);
  const walk = (name: string, node: unknown, parent: string | undefined) => {
    const where = `${file.path}: group ${name}`;
    group(tree, name);
    if (parent !== undefined) group(tree, parent).children.add(name);
    if (node === null || node === undefined) return;
    if (typeof node !== 'object' || Array.isArray(node)) {
      tree.notes.push(`${where}: expected hosts, vars or children; left out`);
      return;
    }
    for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
      if (key === 'hosts') {
        if (value === null) continue;
        if (typeof value !== 'object' || Array.isArray(value)) {
          tree.notes.push(`${where}: hosts is not a mapping; left out`);
          continue;
        }
        for (const [key, vars] of Object.entries(value as Record<string, unknown>)) {
          const [pattern, port] = splitHostPort(key);
          const hostVars = scalarVars(vars, `${where}, host ${key}`, tree.notes);
          if (port !== undefined) hostVars.ansible_port ??= port;
          for (const host of expandAnsibleRange(pattern)) addHost(tree, name, host, hostVars, where);
        }
      } else if (key === 'vars') Object.assign(group(tree, name).vars, scalarVars(value, where, tree.notes));
      else if (key === 'children') {
        if (value === null) continue;
        if (typeof value !== 'object' || Array.isArray(value)) {
          tree.notes.push(`${where}: children is not a mapping; left out`);
          continue;
        }
        for (const [child, sub] of Object.entries(value as Record<string, unknown>)) walk(child, sub, name);
      } else tree.notes.push(`${where}: unknown key ${JSON.stringify(key)}; left out`);
    }
  };
  for (const [name, node] of Object.entries(doc as Record<string, unknown>)) walk(name, node, undefined);
  return tree;
}

/**
 * The variables that make each field of a till host, in Ansible's order: its ssh
 * connection reads the names of an option one after the other and keeps the LAST that is
 * set in the host's merged variables (so `ansible_ssh_user` from a group beats the host's
 * own `ansible_user`: `ansible -vvv` connects as the group's). till_* (what `host export`
 * writes) come last: an exported inventory says what till had.
 */
const FIELDS: readonly [field: 'address' | 'port' | 'user' | 'jump' | 'tektonPath', names: readonly string[]][] = [
  ['address', ['ansible_host', 'ansible_ssh_host', 'till_host']],
  ['port', ['ansible_port', 'ansible_ssh_port', 'till_port']],
  ['user', ['ansible_user', 'ansible_ssh_user', 'till_user']],
  ['jump', ['till_jump']],
  ['tektonPath', ['till_tekton_path']],
];
const CARRIED = new Set(FIELDS.flatMap(([, names]) => names));
/** Connections till can take over: everything else is not ssh (local, docker, winrm…). */
const SSH_CONNECTIONS = new Set(['ssh', 'smart', 'paramiko', 'paramiko_ssh']);

/**
 * The tree as hosts. `isTillsOwn(name, value)`: a variable that says what till does
 * anyway (an exported inventory's ssh arguments), not reported.
 */
export function ansibleHosts(
  tree: Tree,
  isTillsOwn: (name: string, value: string) => boolean = () => false,
): FoundInventory {
  const parents = new Map<string, Set<string>>();
  for (const [name, g] of tree.groups)
    for (const child of g.children) {
      if (!parents.has(child)) parents.set(child, new Set());
      parents.get(child)!.add(name);
    }
  const depthMemo = new Map<string, number>();
  const depth = (name: string, seen = new Set<string>()): number => {
    if (name === 'all') return 0;
    if (depthMemo.has(name)) return depthMemo.get(name)!;
    if (seen.has(name)) return 1; // a cycle: Ansible refuses it; we just stop
    seen.add(name);
    const ps = [...(parents.get(name) ?? [])].filter((p) => p !== 'all');
    const d = ps.length === 0 ? 1 : 1 + Math.max(...ps.map((p) => depth(p, seen)));
    depthMemo.set(name, d);
    return d;
  };
  // Every group that holds a host, directly or through a child: ancestors of its direct groups.
  const ancestors = (name: string): Set<string> => {
    const out = new Set<string>([name]);
    const queue = [name];
    while (queue.length > 0) {
      for (const p of parents.get(queue.shift()!) ?? []) {
        if (out.has(p)) continue;
        out.add(p);
        queue.push(p);
      }
    }
    return out;
  };
  const direct = new Map<string, string[]>();
  for (const [name, g] of tree.groups) for (const h of g.hosts.keys()) direct.set(h, [...(direct.get(h) ?? []), name]);

  const hosts: FoundHost[] = [];
  for (const [name, where] of tree.hosts) {
    const memberOf = new Set<string>();
    for (const g of direct.get(name) ?? []) for (const a of ancestors(g)) memberOf.add(a);
    memberOf.delete('all');
    const ordered = [...memberOf].sort((a, b) => depth(a) - depth(b) || (a < b ? -1 : a > b ? 1 : 0));
    // The levels, weakest first: all, the groups by depth, the host itself.
    const own: Record<string, string> = {};
    for (const g of direct.get(name) ?? []) Object.assign(own, tree.groups.get(g)!.hosts.get(name));
    const levels = [tree.groups.get('all')!.vars, ...ordered.map((g) => tree.groups.get(g)!.vars), own];
    const vars: Record<string, string> = Object.assign({}, ...levels) as Record<string, string>;
    const host: FoundHost = {
      name,
      address: name,
      groups: ordered.filter((g) => g !== 'ungrouped'),
      notes: [],
      where,
    };
    for (const [field, names] of FIELDS) {
      const set = names.filter((n) => vars[n] !== undefined);
      const winner = set.at(-1);
      if (winner === undefined) continue;
      host[field] = vars[winner]!;
      // Said where it surprises: a group's ansible_ssh_user over the host's own ansible_user.
      const lost = set.filter((n) => n.startsWith('ansible_') && vars[n] !== vars[winner]);
      if (winner.startsWith('ansible_') && lost.length > 0)
        host.notes.push(
          `${winner}=${vars[winner]} wins over ${lost.map((n) => `${n}=${vars[n]}`).join(', ')} (as in Ansible)`,
        );
    }
    const others: string[] = [];
    for (const [key, value] of Object.entries(vars)) {
      if (CARRIED.has(key)) continue;
      else if (key === 'ansible_connection') {
        if (!SSH_CONNECTIONS.has(value)) host.skip = `ansible_connection=${value}: not reached over ssh`;
      } else if (isTillsOwn(key, value)) continue;
      else if (key.startsWith('ansible_'))
        host.notes.push(
          `${key}=${value}: not carried${/key_file/.test(key) ? '; till connects with its own key' : ''}`,
        );
      else others.push(key);
    }
    if (others.length > 0)
      host.notes.push(
        `${others.length} variable${others.length === 1 ? '' : 's'} not carried (till keeps no variables): ${others.slice(0, 5).join(', ')}${others.length > 5 ? ', …' : ''}`,
      );
    hosts.push(host);
  }
  const groups = [...tree.groups.keys()].filter((g) => g !== 'all' && g !== 'ungrouped');
  return { format: 'ansible', hosts, groups, notes: tree.notes };
}

/** A YAML document that looks like an Ansible inventory (a mapping of groups with hosts/vars/children). */
export function looksLikeAnsibleYaml(text: string): boolean {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch {
    return false;
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return false;
  const values = Object.values(doc as Record<string, unknown>);
  return (
    values.length > 0 &&
    values.every(
      (v) =>
        v === null ||
        (typeof v === 'object' &&
          !Array.isArray(v) &&
          Object.keys(v as object).every((k) => k === 'hosts' || k === 'vars' || k === 'children')),
    )
  );
}

/** YAML by its looks even when it does not parse (the YAML reader then says why): `---`, `group:` lines, a .yml name. */
function yamlByLooks(file: SourceFile): boolean {
  if (/\.ya?ml$/i.test(file.path)) return true;
  const first = file.text.split(/\r?\n/).find((l) => l.trim() !== '' && !l.trim().startsWith('#'));
  return first !== undefined && (/^---/.test(first) || /^[^\s[=]+:\s*$/.test(first));
}

export function parseAnsible(file: SourceFile, isTillsOwn?: (name: string, value: string) => boolean): FoundInventory {
  const tree = looksLikeAnsibleYaml(file.text) || yamlByLooks(file) ? readAnsibleYaml(file) : readAnsibleIni(file);
  return ansibleHosts(tree, isTillsOwn);
}
