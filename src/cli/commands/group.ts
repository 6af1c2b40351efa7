import { UsageError } from '../../core/errors.js';
import { addToGroup, noSuchGroup } from '../../core/host-admin.js';
import { didYouMean } from '../../core/suggest.js';
import { Inventory } from '../../inventory/inventory.js';
import { validateName } from '../../core/validate.js';
import type { Cli } from '../context.js';
import type { TillCommand } from '../help.js';
import { renderTable } from '../output/table.js';

/** `till host group …`: the seed's `groups` map in hosts-local.json. */
export function registerGroupCommands(host: TillCommand, cli: Cli): void {
  const group = host
    .command('group')
    .description('create, delete, fill and list host groups')
    .example('till host group list', 'every group and its hosts')
    .example('till host group create web web1 web2', 'a group of two hosts');
  const inventory = () => new Inventory(cli.paths());

  group
    .command('create')
    .description('create an empty group (or one with the given hosts)')
    .example('till host group create web', 'an empty group')
    .example('till host group create web web1 web2', 'a group with hosts')
    .argument('<group>')
    .argument('[hosts...]')
    .action(async (name: string, hosts: string[]) => {
      validateName(name, 'group');
      const { added } = await inventory().update((db) => {
        if (db.groups && Object.hasOwn(db.groups, name)) throw new UsageError(`group ${name} already exists`);
        return addToGroup(db, name, hosts, true);
      });
      cli.err(`created group ${name}${added.length ? ` with ${added.join(', ')}` : ''}`);
    });

  group
    .command('delete')
    .description('delete a group (its hosts stay)')
    .example('till host group delete web', 'remove the group; its hosts stay')
    .argument('<group>')
    .action(async (name: string) => {
      validateName(name, 'group');
      await inventory().update((db) => {
        if (!db.groups || !Object.hasOwn(db.groups, name)) throw noSuchGroup(db, name);
        delete db.groups[name];
      });
      cli.err(`deleted group ${name}`);
    });

  group
    .command('add')
    .description('add hosts to a group')
    .example('till host group add web web3 web4', 'put two more hosts in the group')
    .example('till host group add canary web1 --create', 'create the group on the way')
    .argument('<group>')
    .argument('<hosts...>')
    .option('--create', 'create the group if it does not exist')
    .action(async (name: string, hosts: string[], opts: { create?: boolean }) => {
      validateName(name, 'group');
      const { added, already } = await inventory().update((db) => addToGroup(db, name, hosts, opts.create === true));
      if (added.length) cli.err(`added ${added.join(', ')} to ${name}`);
      if (already.length) cli.err(`already in ${name}: ${already.join(', ')}`);
    });

  group
    .command('remove')
    .description('remove hosts from a group')
    .example('till host group remove web web3', 'take a host out of the group')
    .argument('<group>')
    .argument('<hosts...>')
    .action(async (name: string, given: string[]) => {
      validateName(name, 'group');
      const hosts = [...new Set(given)];
      await inventory().update((db) => {
        const members = db.groups?.[name];
        if (!members) throw noSuchGroup(db, name);
        const missing = hosts.filter((h) => !members.includes(h));
        if (missing.length)
          throw new UsageError(
            `not in group ${name}: ${missing.join(', ')}`,
            missing
              // A host that exists but is not a member is not a typo.
              .map((m) => [m, Object.hasOwn(db.hosts, m) ? '' : didYouMean(m, members, '')])
              .filter(([, hint]) => hint !== '')
              .map(([m, hint]) => (missing.length === 1 ? hint : `${m}: ${hint}`))
              .join('; ') || `it holds: ${members.join(', ') || 'no host'}`,
          );
        db.groups![name] = members.filter((m) => !hosts.includes(m));
      });
      cli.err(`removed ${hosts.join(', ')} from ${name}`);
    });

  group
    .command('list')
    .alias('ls')
    .description('list groups and their hosts')
    .example('till host group list', 'groups and their hosts')
    .example('till host group list --json', 'as JSON')
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
