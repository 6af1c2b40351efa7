import { readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { Option } from 'commander';
import { fileErrorText, UsageError } from '../../core/errors.js';
import type { ExportFormat } from '../../inventory/export.js';
import { editHost } from '../../core/host-admin.js';
import {
  applyImport,
  describeEntry,
  planImport,
  refusals,
  type ImportPlan,
  type PlanOptions,
} from '../../core/import/plan.js';
import { IMPORT_FORMATS, type FoundInventory, type ImportFormat } from '../../core/import/source.js';
import { Inventory } from '../../inventory/inventory.js';
import { renameHostState } from '../../inventory/rename.js';
import { UNCHANGED } from '../../core/state/store.js';
import { resolveTargets } from '../../core/targets.js';
import { formatHostSpec, validateName } from '../../core/validate.js';
import { closeMaster } from '../../ssh/client.js';
import { otherTillKeys } from '../../ssh/key-set.js';
import type { Cli } from '../context.js';
import { listHostsIfAsked } from '../fleet.js';
import type { TillCommand } from '../help.js';
import { collect } from '../options.js';
import { renderTable } from '../output/table.js';
import { printable } from '../output/terminal.js';

/**
 * `till host import | export | edit`: bring a fleet in, take it out, change one host.
 * The readers and writers of other formats (and the YAML library) load when used, so
 * every other command starts without them.
 */
const EXPORT_FORMATS: readonly ExportFormat[] = ['ansible', 'ssh-config'];

interface ImportOpts {
  format?: ImportFormat;
  group?: string[];
  replace?: boolean;
  skipInvalid?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

async function readSource(file: string): Promise<{ path: string; text: string }> {
  if (file === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return { path: '(stdin)', text: Buffer.concat(chunks).toString('utf8') };
  }
  if (file === '')
    throw new UsageError(
      'host import needs a file name, got an empty string',
      "name an inventory file, or '-' to read stdin",
    );
  try {
    return { path: file, text: await readFile(file, 'utf8') };
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${fileErrorText(err)}`);
  }
}

function currentUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? 'root';
  }
}

function importJson(file: string, found: FoundInventory, plan: ImportPlan, dryRun: boolean, written: boolean) {
  return {
    file,
    format: found.format,
    dryRun,
    written,
    hosts: plan.hosts.map((h) => ({
      name: h.name,
      action: h.action,
      address: h.entry ? formatHostSpec(h.entry) : null,
      jump: h.entry?.jump ?? null,
      groups: h.groups,
      changes: h.changes,
      reason: h.reason ?? null,
      suggestion: h.suggestion ?? null,
      notes: h.notes,
      where: h.where,
    })),
    groups: plan.groups.map((g) => ({
      name: g.name,
      action: g.action,
      hosts: g.hosts,
      reason: g.reason ?? null,
      suggestion: g.suggestion ?? null,
    })),
    notes: plan.notes,
  };
}

/** The plan as a table on stdout; notes (what was not carried) grouped on stderr. */
function renderPlan(cli: Cli, plan: ImportPlan): void {
  const rows = plan.hosts.map((h) => [
    h.action,
    h.name,
    describeEntry(h.entry),
    h.groups.join(','),
    [h.reason, h.suggestion !== undefined ? `suggested name: ${h.suggestion}` : undefined, ...h.changes]
      .filter((x) => x !== undefined)
      .join('; '),
  ]);
  for (const g of plan.groups.filter((x) => x.action === 'refused'))
    rows.push(['refused', `group ${g.name}`, '-', '', `${g.reason ?? ''}; suggested name: ${g.suggestion ?? ''}`]);
  cli.out(renderTable(['ACTION', 'NAME', 'ADDRESS', 'GROUPS', 'DETAIL'], rows));
  // Notes quote the file: its control characters are shown as escapes, never sent to the terminal.
  for (const n of plan.notes) cli.err(`note: ${printable(n)}`);
  const byNote = new Map<string, string[]>();
  for (const h of plan.hosts) for (const n of h.notes) byNote.set(n, [...(byNote.get(n) ?? []), h.name]);
  for (const [n, names] of byNote) {
    const who = names.length > 3 ? `${names.slice(0, 3).join(', ')} and ${names.length - 3} more` : names.join(', ');
    cli.err(`note: ${printable(who)}: ${printable(n)}`);
  }
}

function count(plan: ImportPlan, action: string): number {
  return plan.hosts.filter((h) => h.action === action).length;
}

function nextStep(plan: ImportPlan, groups: string[], everyHost: boolean): string {
  const taken = plan.hosts.filter((h) => h.action === 'add' || h.action === 'change').map((h) => h.name);
  if (taken.length === 0) return '';
  const test =
    groups.length > 0
      ? `till host test @${groups[0]}`
      : everyHost
        ? 'till host test --all'
        : taken.length <= 8
          ? `till host test '${taken.join(',')}'`
          : 'till host test <names> (import with --group <g> to test them as @<g>)';
  return `\nnext: authorize till's key on each host (till host authorize <name>, or append \`till host pubkey\` to its ~/.ssh/authorized_keys), then: ${test}`;
}

function registerImport(host: TillCommand, cli: Cli): void {
  host
    .command('import')
    .description(
      'add hosts from an ssh config, an Ansible inventory (INI or YAML) or a pssh host file, validated as host add does, in one atomic write (all or nothing)',
    )
    .argument('<file>', "the inventory file ('-' reads stdin)")
    .addOption(
      new Option('--format <format>', 'the file format (default: detected from its content)').choices([
        ...IMPORT_FORMATS,
      ]),
    )
    .option('-g, --group <group>', 'add every imported host to this group, creating it (repeatable)', collect)
    .option('--replace', "hosts that already exist take the file's address, user, port and jump (default: skipped)")
    .option('--skip-invalid', 'import the rest when some hosts or groups are refused (they stay reported)')
    .option('-n, --dry-run', 'print what would be added, changed and skipped; write nothing')
    .option(
      '--json',
      'print {file, format, dryRun, written, hosts: [{name, action, address, jump, groups, changes, reason, suggestion, notes, where}], groups: [...], notes}',
    )
    .note(
      'Actions: add, change (--replace), unchanged, skip (exists with other values, or not an ssh host), refused (a value till refuses: the reason and a suggested name).',
    )
    .note(
      'ssh config: every Host alias without wildcards (HostName, User, Port, ProxyJump to a till host; Include followed); other options are reported. Ansible: ansible_host, ansible_port, ansible_user (also from group vars), groups and children, ranges web[01:03]. pssh: [user@]host[:port] per line.',
    )
    .note(
      'Exit codes: 0 imported (or nothing to do), 2 a refused value or a bad file (nothing written), 4 the database is unreadable.',
    )
    .example('till host import ~/.ssh/config --dry-run', 'what would be added, changed and skipped; write nothing')
    .example('till host import inventory.ini -g prod', 'an Ansible inventory, every host also in group prod')
    .action(async (file: string, opts: ImportOpts) => {
      const groups = (opts.group ?? []).map((g) => validateName(g, 'group'));
      const source = await readSource(file);
      const inventory = new Inventory(cli.paths());
      const db = await inventory.read();
      const { readInventory } = await import('../../core/import/load.js');
      const found = readInventory(source, opts.format, inventory.paths);
      if (found.hosts.length === 0)
        throw new UsageError(`no hosts in ${source.path} (read as ${found.format})`, 'give --format if that is wrong');
      const planOpts: PlanOptions = {
        replace: opts.replace === true,
        groups,
        defaultUser: currentUser(),
        now: new Date(),
      };
      const dryRun = opts.dryRun === true;
      const report = (plan: ImportPlan, written: boolean) => {
        if (opts.json) cli.json(importJson(source.path, found, plan, dryRun, written));
        else renderPlan(cli, plan);
      };
      const refusedError = (plan: ImportPlan) =>
        new UsageError(
          `${refusals(plan)} refused (see above); nothing imported`,
          'fix them in the file, or import the rest with --skip-invalid',
        );
      const preview = planImport(db, found, planOpts);
      const refused = refusals(preview) > 0 && opts.skipInvalid !== true;
      if (dryRun || refused) {
        report(preview, false);
        if (refused) throw refusedError(preview);
        if (!opts.json)
          cli.err(
            `dry run: would add ${count(preview, 'add')}, change ${count(preview, 'change')}, skip ${count(preview, 'skip')}${refusals(preview) > 0 ? `, leave out ${refusals(preview)} refused` : ''}; nothing written`,
          );
        return;
      }
      // Planned again under the lock, against the database as it is then: one atomic write, or none.
      let plan = preview;
      let everyHost = false;
      await inventory.update((current) => {
        plan = planImport(current, found, planOpts);
        if (refusals(plan) > 0 && opts.skipInvalid !== true) throw refusedError(plan);
        const before = JSON.stringify(current);
        applyImport(current, plan);
        const taken = new Set(plan.hosts.filter((h) => h.action === 'add' || h.action === 'change').map((h) => h.name));
        everyHost = Object.keys(current.hosts).every((n) => taken.has(n));
        return JSON.stringify(current) === before ? UNCHANGED : undefined;
      });
      for (const h of plan.hosts) if (h.moved) await closeMaster(inventory.paths, h.name, h.moved);
      report(plan, true);
      if (!opts.json) {
        const made = plan.groups.filter((g) => g.action === 'create').length;
        cli.err(
          `imported from ${source.path} (${found.format}): ${count(plan, 'add')} added, ${count(plan, 'change')} changed, ${count(plan, 'unchanged')} unchanged, ${count(plan, 'skip')} skipped${refusals(plan) > 0 ? `, ${refusals(plan)} refused and left out` : ''}; ${made} group${made === 1 ? '' : 's'} created${nextStep(plan, groups, everyHost)}`,
        );
      }
    });
}

interface ExportOpts {
  format: ExportFormat;
  group?: string[];
  limit?: string;
  listHosts?: boolean;
  json?: boolean;
}

function registerExport(host: TillCommand, cli: Cli): void {
  host
    .command('export')
    .description(
      "print hosts as an Ansible YAML inventory or an ssh config, both connecting through till's key, known_hosts and master connections; host import reads them back",
    )
    .argument('[targets...]', 'host patterns as for fleet commands (default: every host)')
    .addOption(
      new Option('--format <format>', 'ansible (YAML inventory) or ssh-config (to Include from ~/.ssh/config)')
        .choices([...EXPORT_FORMATS])
        .default('ansible'),
    )
    .option('-g, --group <group>', 'every host of a group (repeatable)', collect)
    .option('-l, --limit <pattern>', 'further narrow the hosts to this pattern')
    .option('--list-hosts', 'print the hosts it would export, one per line, and stop')
    .option('--json', 'with --list-hosts: print {"hosts": [...]}')
    .note(
      'Ansible reaches each host as till-<name> with ssh -F <TILL_HOME>/ssh/config. For the ssh config, put "Include till.conf" at the top of ~/.ssh/config: then ssh <name> connects as till does.',
    )
    .example('ansible -i <(till host export) all -m ping', "Ansible through till's key, known_hosts and masters")
    .example('till host export --format ssh-config > ~/.ssh/till.conf', 'an ssh config to Include from ~/.ssh/config')
    .action(async (patterns: string[], opts: ExportOpts) => {
      // The export itself is YAML or ssh config text: --json alone would print that, quietly.
      if (opts.json && !opts.listHosts)
        throw new UsageError(
          '--json goes with --list-hosts: the export itself is an Ansible YAML inventory or an ssh config',
          'till host export --list-hosts --json for the names, or till host list --json for the hosts as JSON',
        );
      const paths = cli.paths();
      const db = await new Inventory(paths).read();
      const { targets, warnings } = resolveTargets(
        db,
        { patterns, groups: opts.group ?? [], all: false, limit: opts.limit },
        { whenNone: 'all' },
      );
      for (const w of warnings) cli.err(`warning: ${w}`);
      if (listHostsIfAsked(cli, targets, opts)) return;
      const names = targets.map((t) => t.name);
      const { renderAnsibleInventory, renderSshConfigExport } = await import('../../inventory/export.js');
      if (names.length === 0) cli.err('no hosts to export; add some with: till host add <name> <user@host>');
      cli.out(
        opts.format === 'ansible'
          ? renderAnsibleInventory(db, names, paths)
          : renderSshConfigExport(db, names, paths, await otherTillKeys(paths)),
      );
    });
}

interface EditOpts {
  address?: string;
  user?: string;
  port?: string;
  tektonPath?: string;
  jump?: string | false;
  rename?: string;
  json?: boolean;
}

function registerEdit(host: TillCommand, cli: Cli): void {
  // --jump and --no-jump set one value (the last wins): both given is a contradiction, not a choice.
  const jumpFlags = new Set<string>();
  host
    .command('edit')
    .on('option:jump', () => jumpFlags.add('--jump'))
    .on('option:no-jump', () => jumpFlags.add('--no-jump'))
    .description(
      'change a host: address, user, port, tekton path, jump host or name, validated as host add does; the ssh config follows and the master connection to the old address is closed',
    )
    .argument('<name>', 'the host to change')
    .option('--address <user@host[:port]>', 'a new address (host[:port] keeps the user; IPv6 in brackets)')
    .option('--user <user>', 'a new ssh user')
    .option('--port <port>', 'a new ssh port')
    .option('--tekton-path <path>', 'where installations are deployed on the host')
    .option('--jump <host>', 'reach the host through this other till host (ProxyJump)')
    .option('--no-jump', 'reach the host directly')
    .option('--rename <new-name>', "a new name; the host's groups, history, health, audits and deploy journal follow")
    .option('--json', 'print {name, changes: [...], entry} as JSON')
    .note(
      'A changed address, user, port or jump resets failures and last error (the lifecycle status stays; run till host test).',
    )
    .note('Exit codes: 0 changed (or nothing to change), 2 a bad value or an unknown host (nothing written).')
    .example('till host edit web1 --port 2222', 'web1 now listens on port 2222; its old master is closed')
    .example('till host edit web1 --rename web-01', 'a new name; groups, history and deploy journal follow')
    .action(async (name: string, opts: EditOpts) => {
      if (jumpFlags.size > 1) throw new UsageError('--jump and --no-jump exclude each other');
      const given = [opts.address, opts.user, opts.port, opts.tektonPath, opts.jump, opts.rename];
      if (given.every((v) => v === undefined))
        throw new UsageError(
          'nothing to change',
          'give --address, --user, --port, --tekton-path, --jump, --no-jump or --rename',
        );
      const paths = cli.paths();
      const inventory = new Inventory(paths);
      const result = await editHost(
        inventory,
        {
          name,
          address: opts.address,
          user: opts.user,
          port: opts.port,
          tektonPath: opts.tektonPath,
          jump: opts.jump === false ? null : opts.jump,
          rename: opts.rename,
        },
        (from, to) => renameHostState(paths, from, to),
      );
      if (result.moved) await closeMaster(paths, name, result.before);
      if (opts.json) {
        cli.json({ name: result.name, changes: result.changes, entry: { name: result.name, ...result.after } });
        return;
      }
      if (result.changes.length === 0) {
        cli.err(`${name}: nothing changed`);
        return;
      }
      cli.err(
        `${result.name}: ${result.changes.join(', ')}${result.moved ? `; next: till host test ${result.name}` : ''}`,
      );
    });
}

export function registerInventoryCommands(host: TillCommand, cli: Cli): void {
  registerImport(host, cli);
  registerExport(host, cli);
  registerEdit(host, cli);
}
