import { stringify } from 'yaml';
import type { TillPaths } from '../core/paths.js';
import { DEFAULT_TEKTON_PATH, type HostsFile } from '../core/state/hosts.js';
import { aliasOf, configPath, type OtherKey } from '../ssh/config.js';

/**
 * `till host export`: the hosts (and their groups) as an Ansible YAML inventory or an
 * ssh config, both of which connect through till's own key, known_hosts and master
 * connections, and both of which `till host import` reads back to the same hosts and
 * groups. Pure renderers.
 */
export type ExportFormat = 'ansible' | 'ssh-config';

/**
 * Groups restricted to the exported hosts. Groups left with none are left out, unless
 * the whole database is exported (`keepEmpty`): then an empty group is exported too.
 */
function groupsOf(db: HostsFile, names: ReadonlySet<string>, keepEmpty: boolean): Array<[string, string[]]> {
  return Object.entries(db.groups ?? {})
    .map(([g, members]) => [g, members.filter((m) => names.has(m))] as [string, string[]])
    .filter(([, members]) => keepEmpty || members.length > 0);
}

function wholeDatabase(db: HostsFile, names: readonly string[]): boolean {
  return names.length === Object.keys(db.hosts).length;
}

/**
 * Ansible reaches each host as `till-<name>` through till's ssh config (`-F`, in
 * `ansible_ssh_args`, which replaces Ansible's own ControlPath options, so its ssh
 * shares till's masters). `till_host`, `till_jump` and `till_tekton_path` carry what
 * Ansible has no variable for, for `host import`.
 */
export function renderAnsibleInventory(db: HostsFile, names: readonly string[], paths: TillPaths): string {
  const hosts: Record<string, Record<string, string | number>> = {};
  for (const name of names) {
    const h = db.hosts[name]!;
    hosts[name] = {
      ansible_host: aliasOf(name),
      ansible_user: h.user,
      ansible_port: h.port,
      till_host: h.host,
      ...(h.jump !== undefined ? { till_jump: h.jump } : {}),
      ...(h.tekton_path !== DEFAULT_TEKTON_PATH ? { till_tekton_path: h.tekton_path } : {}),
    };
  }
  const children: Record<string, { hosts: Record<string, null> } | null> = {};
  for (const [g, members] of groupsOf(db, new Set(names), wholeDatabase(db, names)))
    children[g] = members.length > 0 ? { hosts: Object.fromEntries(members.map((m) => [m, null])) } : null;
  const config = /\s/.test(paths.sshConfig) ? `"${paths.sshConfig}"` : paths.sshConfig;
  const doc = {
    all: {
      vars: { ansible_ssh_args: `-F ${config}` },
      hosts,
      ...(Object.keys(children).length > 0 ? { children } : {}),
    },
  };
  return `# till host export --format ansible (TILL_HOME ${paths.home}): ansible -i <this file> all -m ping\n# connects through till's key, known_hosts and master connections (ssh -F ${paths.sshConfig}).\n${stringify(doc, { nullStr: '' })}`;
}

/**
 * Host blocks named after the till hosts, to `Include` from ~/.ssh/config: `ssh web1`
 * then connects as till does, with till's key, known_hosts and masters. Groups and a
 * tekton_path other than the default go in a `# till:` comment (ssh has no option for
 * them) that `host import` reads.
 */
export function renderSshConfigExport(
  db: HostsFile,
  names: readonly string[],
  paths: TillPaths,
  otherKeys: readonly OtherKey[] = [],
): string {
  const exported = new Set(names);
  const membership = new Map<string, string[]>();
  const groups = groupsOf(db, exported, wholeDatabase(db, names));
  for (const [g, members] of groups) for (const m of members) membership.set(m, [...(membership.get(m) ?? []), g]);
  const lines = [
    `# till host export --format ssh-config (TILL_HOME ${paths.home})`,
    "# Include it from ~/.ssh/config; these hosts connect with till's key, known_hosts and master connections.",
    ...(groups.length > 0 ? [`# till: groups=${groups.map(([g]) => g).join(',')}`] : []),
    '',
  ];
  // Jump hosts the exported hosts go through but the selection left out come along (their
  // chains too, once each), so every hop connects with till's key and known_hosts.
  const needed: string[] = [];
  for (const name of names) {
    const seen = new Set<string>([name]);
    for (let j = db.hosts[name]!.jump; j !== undefined && !seen.has(j); j = db.hosts[j]?.jump) {
      seen.add(j);
      if (db.hosts[j] !== undefined && !exported.has(j) && !needed.includes(j)) needed.push(j);
    }
  }
  for (const name of [...names, ...needed]) {
    const h = db.hosts[name]!;
    if (!exported.has(name)) lines.push(`# ${name}: not selected; the jump host of an exported host`);
    lines.push(`Host ${name}`, `    HostName ${h.host}`, `    User ${h.user}`, `    Port ${h.port}`);
    if (h.jump !== undefined) lines.push(`    ProxyJump ${h.jump}`);
    // A host still on another of till's keys (mid-rotation) keeps it, as in till's own config.
    const other =
      h.key_fingerprint === undefined ? undefined : otherKeys.find((k) => k.fingerprint === h.key_fingerprint);
    lines.push(
      `    IdentityFile ${configPath(other?.file ?? paths.privateKey)}`,
      '    IdentitiesOnly yes',
      `    UserKnownHostsFile ${configPath(paths.knownHosts)}`,
      '    ControlMaster auto',
      `    ControlPath ${configPath(paths.controlDir)}/%C`,
      '    ControlPersist 10m',
    );
    const till = [
      ...(membership.has(name) ? [`groups=${membership.get(name)!.join(',')}`] : []),
      ...(h.tekton_path !== DEFAULT_TEKTON_PATH ? [`tekton_path=${h.tekton_path}`] : []),
    ];
    if (till.length > 0) lines.push(`    # till: ${till.join(' ')}`);
    lines.push('');
  }
  return lines.join('\n');
}
