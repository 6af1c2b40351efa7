import {
  addInstallation,
  defaultDiscoverRoot,
  DISCOVER_DEPTH,
  discoverInstallations,
  installationsStore,
  listInstallations,
  removeInstallation,
  setDefaultInstallation,
} from '../../core/installations.js';
import { GATE_ENV } from '../../protocol/wire.js';
import type { Cli } from '../context.js';
import type { TillCommand } from '../help.js';
import { intOption, nonBlankOption } from '../options.js';
import { renderTable } from '../output/table.js';

export function registerInstallationCommands(program: TillCommand, cli: Cli): void {
  const inst = program
    .command('installation')
    .alias('inst')
    .description('the local installations registry ($TILL_HOME/installations.json): directories till deploys and syncs')
    .example('till installation add ~/projects/site --default', 'register a tree to deploy and sync')
    .example('till installation list', 'the registry');

  inst
    .command('add')
    .description(
      'register a directory (name: TEKTON_REGISTRY_NAME from its .env.local, else the folder name); the first one becomes the default',
    )
    .example('till installation add ~/projects/site --default', 'register a folder and make it the default')
    .example('till installation add ./shop --name shop', 'under another name')
    .argument('<path>', 'the installation directory (stored as an absolute path)')
    .option('--name <name>', 'registry name (letters, digits, . _ -)')
    .option('--default', 'make it the default installation')
    .option(
      '--if-absent',
      'succeed without a change when this name is already registered at this path (what a deploy runs on the host)',
    )
    .option('--json', 'print the new entry as JSON (existed: true when --if-absent found it registered)')
    .action(async (path: string, opts: { name?: string; default?: boolean; ifAbsent?: boolean; json?: boolean }) => {
      const added = await addInstallation(cli.paths(), {
        path,
        name: opts.name,
        makeDefault: opts.default === true,
        ifAbsent: opts.ifAbsent === true,
        // Run by a deploy's switch through a restricted key's gate, which prints the words to the key.
        discreet: process.env[GATE_ENV] === '1',
      });
      if (opts.json) cli.json(added);
      else if (added.existed)
        cli.err(`installation ${added.name} is already registered (${added.path}); nothing changed`);
      else cli.err(`added installation ${added.name} (${added.path})${added.default ? ', the default' : ''}`);
    });

  inst
    .command('list')
    .alias('ls')
    .description('list registered installations: name, absolute path, default')
    .example('till installation list', 'name, path, default')
    .example('till installation list --json', 'as JSON')
    .option('--json', 'print {"installations": [...], "default": name|null} as JSON')
    .action(async (opts: { json?: boolean }) => {
      const file = await installationsStore(cli.paths()).read();
      const list = listInstallations(file);
      if (opts.json) {
        cli.json({ installations: list, default: file.default ?? null });
        return;
      }
      if (list.length === 0) {
        cli.err(
          'no installations yet; add one with: till installation add <path> (or: till installation discover --add)',
        );
        return;
      }
      cli.out(
        renderTable(
          ['NAME', 'PATH', 'DEFAULT'],
          list.map((i) => [i.name, i.path, i.default ? 'yes' : '']),
        ),
      );
    });

  inst
    .command('remove')
    .alias('rm')
    .description('forget an installation (its files are not touched)')
    .example('till installation remove shop', 'forget it (its files stay)')
    .argument('<name>')
    .action(async (name: string) => {
      const removed = await removeInstallation(cli.paths(), name);
      cli.err(`removed installation ${name} (${removed.path}; files untouched)`);
    });

  inst
    .command('default')
    .description('make a registered installation the default')
    .example('till installation default shop', 'what host deploy deploys without --source')
    .argument('<name>')
    .action(async (name: string) => {
      await setDefaultInstallation(cli.paths(), name);
      cli.err(`${name} is now the default installation`);
    });

  inst
    .command('discover')
    .description(
      `find directories whose .env.local sets TEKTON_REGISTRY_NAME (default root ~/projects/github, ${DISCOVER_DEPTH} levels deep)`,
    )
    .example('till installation discover', 'find Tekton checkouts under ~/projects/github')
    .example('till installation discover --root ~/src --add', 'and register the new ones')
    .option('--root <dir>', 'where to look', nonBlankOption('--root', 'name the folder to search, e.g. --root ~/src'))
    .option(
      '--depth <n>',
      `how many folder levels below the root (default ${DISCOVER_DEPTH})`,
      intOption('--depth', 0, 10),
    )
    .option('--add', 'register the ones not registered yet')
    .option('--json', 'print {"found": [...], "added": [...]} as JSON')
    .action(async (opts: { root?: string; depth?: number; add?: boolean; json?: boolean }) => {
      const paths = cli.paths();
      const found = await discoverInstallations(opts.root ?? defaultDiscoverRoot(), opts.depth ?? DISCOVER_DEPTH);
      const file = await installationsStore(paths).read();
      const registered = new Map(Object.entries(file.installations).map(([n, i]) => [i.path, n]));
      const added: string[] = [];
      const problems: string[] = [];
      if (opts.add) {
        for (const f of found) {
          if (registered.has(f.path)) continue;
          if (f.name === null) {
            problems.push(
              `${f.path}: TEKTON_REGISTRY_NAME ${JSON.stringify(f.registryName)} is not a usable name; add it with --name`,
            );
            continue;
          }
          try {
            await addInstallation(paths, { path: f.path, name: f.name });
            added.push(f.name);
          } catch (err) {
            problems.push(`${f.path}: ${err instanceof Error ? err.message : String(err)}`);
          }
        }
      }
      if (opts.json) {
        cli.json({ found: found.map((f) => ({ ...f, registeredAs: registered.get(f.path) ?? null })), added });
      } else if (found.length === 0) {
        cli.err('no installations found (a folder whose .env.local sets TEKTON_REGISTRY_NAME)');
      } else {
        cli.out(
          renderTable(
            ['NAME', 'PATH', 'REGISTERED'],
            found.map((f) => [
              f.name ?? `(${f.registryName})`,
              f.path,
              registered.get(f.path) ?? (added.includes(f.name ?? '') ? 'added' : ''),
            ]),
          ),
        );
        if (!opts.add && found.some((f) => !registered.has(f.path)))
          cli.err('register them with: till installation discover --add');
      }
      for (const p of problems) cli.err(`warning: ${p}`);
    });
}
