import type { Command } from 'commander';
import { UsageError } from '../../core/errors.js';
import { addToGroup } from '../../core/host-admin.js';
import { Inventory } from '../../inventory/inventory.js';
import { validateName } from '../../core/validate.js';
import type { Cli } from '../context.js';
import { renderTable } from '../output/table.js';

/** `till host group …`: the seed's `groups` map in hosts-local.json. */
export function registerGroupCommands(host: Command, cli: Cli): void {
  const group = host.command('group').description('create, delete, fill and list host groups');
  const inventory = () => new Inventory(cli.paths());

  group
    .command('create')
    .description('create an empty group (or one with the given hosts)')
    .argument('<group>')
    .argument('[hosts...]')
    .action(async (name: string, hosts: string[]) => {
      validateName(name, 'group');
      await inventory().update((db) => {
        if (db.groups && Object.hasOwn(db.groups, name)) throw new UsageError(`group ${name} already exists`);
        addToGroup(db, name, hosts, true);
      });
      cli.err(`created group ${name}${hosts.length ? ` with ${hosts.join(', ')}` : ''}`);
    });

  group
    .command('delete')
    .description('delete a group (its hosts stay)')
    .argument('<group>')
    .action(async (name: string) => {
      validateName(name, 'group');
      await inventory().update((db) => {
        if (!db.groups || !Object.hasOwn(db.groups, name)) throw new UsageError(`no such group: ${name}`);
        delete db.groups[name];
      });
      cli.err(`deleted group ${name}`);
    });

  group
    .command('add')
    .description('add hosts to a group')
    .argument('<group>')
    .argument('<hosts...>')
    .option('--create', 'create the group if it does not exist')
    .action(async (name: string, hosts: string[], opts: { create?: boolean }) => {
      validateName(name, 'group');
      await inventory().update((db) => addToGroup(db, name, hosts, opts.create === true));
      cli.err(`added ${hosts.join(', ')} to ${name}`);
    });

  group
    .command('remove')
    .description('remove hosts from a group')
    .argument('<group>')
    .argument('<hosts...>')
    .action(async (name: string, hosts: string[]) => {
      validateName(name, 'group');
      await inventory().update((db) => {
        const members = db.groups?.[name];
        if (!members) throw new UsageError(`no such group: ${name}`);
        const missing = hosts.filter((h) => !members.includes(h));
        if (missing.length) throw new UsageError(`not in group ${name}: ${missing.join(', ')}`);
        db.groups![name] = members.filter((m) => !hosts.includes(m));
      });
      cli.err(`removed ${hosts.join(', ')} from ${name}`);
    });

  group
    .command('list')
    .alias('ls')
    .description('list groups and their hosts')
    .option('--json', 'print {"groups": {name: [hosts]}}')
    .action(async (opts: { json?: boolean }) => {
      const db = await inventory().read();
      const groups = db.groups ?? {};
      if (opts.json) {
        cli.json({ groups });
        return;
      }
      const names = Object.keys(groups).sort();
      if (names.length === 0) {
        cli.err('no groups yet; create one with: till host group create <group> [hosts...]');
        return;
      }
      cli.out(
        renderTable(
          ['GROUP', 'HOSTS', 'MEMBERS'],
          names.map((g) => [g, groups[g]!.length, groups[g]!.join(',')]),
        ),
      );
    });
}
