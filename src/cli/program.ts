import { Option, type Command } from 'commander';
import { UsageError } from '../core/errors.js';
import { didYouMean } from '../core/suggest.js';
import type { Cli } from './context.js';
import { commandPath, helpConfiguration, helpWidth, TillCommand, visibleSubcommands } from './help.js';
import { writeFd } from './output/fd.js';
import { COLOR_MODES, type ColorMode } from './output/terminal.js';
import { VERSION } from './version.js';

/**
 * The command tree. Each group lives in its own file under commands/, loaded only when
 * a command of it runs: `till host list` loads host.ts and what it imports, not the
 * deploy, schedule or audit code (the build splits each group into its own chunks,
 * scripts/bundle.mjs). Help, completion and a mistyped command load every group.
 */
type Register = (parent: TillCommand, cli: Cli) => void;

interface Group {
  /** Where its commands hang: the root (`till watch`) or `till host`. */
  parent: 'root' | 'host';
  /** The names (and aliases) of the commands it registers there. */
  commands: readonly string[];
  load: () => Promise<Register>;
}

/** Every group, in the order their commands appear in help. test/unit/cli-surface.test.ts keeps `commands` true. */
export const GROUPS: readonly Group[] = [
  {
    parent: 'host',
    commands: ['init', 'add', 'remove', 'rm', 'list', 'ls', 'show', 'pubkey', 'test', 'exec', 'ssh'],
    load: () => import('./commands/host.js').then((m) => m.registerHostCommands),
  },
  {
    parent: 'host',
    commands: ['import', 'export', 'edit'],
    load: () => import('./commands/inventory.js').then((m) => m.registerInventoryCommands),
  },
  {
    parent: 'host',
    commands: ['group'],
    load: () => import('./commands/group.js').then((m) => m.registerGroupCommands),
  },
  {
    parent: 'host',
    commands: ['audit'],
    load: () => import('./commands/audit.js').then((m) => m.registerAuditCommand),
  },
  {
    parent: 'root',
    commands: ['schedule'],
    load: () => import('./commands/schedule.js').then((m) => m.registerScheduleCommands),
  },
  {
    parent: 'root',
    commands: ['watch'],
    load: () => import('./commands/watch.js').then((m) => m.registerWatchCommand),
  },
  {
    parent: 'host',
    commands: ['setup', 'sync'],
    load: () => import('./commands/remote.js').then((m) => m.registerRemoteCommands),
  },
  {
    parent: 'root',
    commands: ['installation', 'inst'],
    load: () => import('./commands/installation.js').then((m) => m.registerInstallationCommands),
  },
  { parent: 'root', commands: ['sync'], load: () => import('./commands/sync.js').then((m) => m.registerSyncCommand) },
  {
    parent: 'host',
    commands: ['health'],
    load: () => import('./commands/health.js').then((m) => m.registerHealthCommand),
  },
  {
    parent: 'root',
    commands: ['status'],
    load: () => import('./commands/status.js').then((m) => m.registerStatusCommand),
  },
  {
    parent: 'root',
    commands: ['metrics'],
    load: () => import('./commands/metrics.js').then((m) => m.registerMetricsCommand),
  },
  {
    parent: 'host',
    commands: ['deploy'],
    load: () => import('./commands/deploy.js').then((m) => m.registerDeployCommands),
  },
  {
    parent: 'host',
    commands: ['rollback', 'releases', 'lock', 'unlock'],
    load: () => import('./commands/releases.js').then((m) => m.registerReleaseCommands),
  },
  {
    parent: 'host',
    commands: ['authorize', 'rotate-key', 'forget', 'trust'],
    load: () => import('./commands/security.js').then((m) => m.registerSecurityCommands),
  },
  {
    parent: 'host',
    commands: ['doctor'],
    load: () => import('./commands/doctor.js').then((m) => m.registerDoctorCommand),
  },
  {
    parent: 'host',
    commands: ['diff'],
    load: () => import('./commands/diff.js').then((m) => m.registerDiffCommand),
  },
  {
    parent: 'host',
    commands: ['copy', 'fetch'],
    load: () => import('./commands/transfer.js').then((m) => m.registerTransferCommands),
  },
  { parent: 'root', commands: ['log'], load: () => import('./commands/log.js').then((m) => m.registerLogCommand) },
  {
    parent: 'root',
    // Completion walks the whole tree: it is never loaded alone (see groupsFor).
    commands: ['completion', '__complete'],
    load: () => import('./commands/completion.js').then((m) => m.registerCompletionCommands),
  },
];

/** Root options that take a value (`--color never`): their value is not a command name. */
const ROOT_VALUE_OPTIONS = new Set(['--color']);

/**
 * The one group an argv runs, when that is certain: the first word that is not an
 * option names a root command, or `host` and the next such word names one under it.
 * Anything else (help, a typo, completion, `till host` alone) needs every group.
 */
export function groupsFor(argv: readonly string[]): readonly Group[] {
  const words: string[] = [];
  for (let i = 0; i < argv.length && words.length < 2; i++) {
    const a = argv[i]!;
    if (a === '--') break;
    if (a.startsWith('-')) {
      if (words.length === 0 && ROOT_VALUE_OPTIONS.has(a)) i += 1;
      continue;
    }
    words.push(a);
    if (a !== 'host') break;
  }
  const [first, second] = words;
  const parent = first === 'host' ? 'host' : 'root';
  const name = first === 'host' ? second : first;
  if (name === undefined || name === 'completion' || name === '__complete') return GROUPS;
  const found = GROUPS.filter((g) => g.parent === parent && g.commands.includes(name));
  return found.length === 1 ? found : GROUPS;
}

/**
 * `till help host deploy` (or `till host help deploy`) is `till host deploy --help`
 * (exit 0): the argv to parse instead, or undefined when argv asks for no help this way.
 * commander's own help command shows the parent's help for a nested path and exits 2;
 * and a name that is no command is refused here (exit 2, with "did you mean"), so
 * nothing runs for it.
 */
export function helpRequestArgv(program: Command, argv: readonly string[]): string[] | undefined {
  const find = (cmd: Command, word: string) =>
    cmd.commands.find((c) => c.name() === word || c.aliases().includes(word));
  let at = 0;
  while (at < argv.length && argv[at]!.startsWith('-') && argv[at] !== '--')
    at += ROOT_VALUE_OPTIONS.has(argv[at]!) ? 2 : 1;
  let cmd = program;
  // Command groups (`host`) before `help`; anything else is not a help request.
  for (; at < argv.length && argv[at] !== 'help'; at++) {
    const sub = find(cmd, argv[at]!);
    if (sub === undefined || sub.commands.length === 0) return undefined;
    cmd = sub;
  }
  if (argv[at] !== 'help') return undefined;
  const before = argv.slice(0, at);
  const after = argv.slice(at + 1);
  const words = after.filter((a) => !a.startsWith('-'));
  for (const word of words) {
    const sub = find(cmd, word);
    if (sub === undefined) {
      const names = visibleSubcommands(cmd).flatMap((c) => [c.name(), ...c.aliases()]);
      const where = commandPath(cmd);
      throw new UsageError(
        names.length === 0 ? `${where} has no command '${word}'` : `unknown command '${word}'`,
        didYouMean(word, names, `the commands: ${where} --help`),
      );
    }
    cmd = sub;
  }
  return [...before, ...words, ...after.filter((a) => a.startsWith('-')), '--help'];
}

/** The command tree with the groups `argv` needs (every group without one). */
export async function createProgram(cli: Cli, argv?: readonly string[]): Promise<TillCommand> {
  const groups = argv === undefined ? GROUPS : groupsFor(argv);
  const registers = await Promise.all(groups.map((g) => g.load()));
  const program = new TillCommand('till')
    .description('SSH-only fleet manager: own key, own ssh config, parallel exec, atomic deploys, scheduled sync')
    .version(VERSION, '-V, --version', 'print the version (with --verbose: Node.js version and build commit)')
    .addOption(
      new Option(
        '--color <when>',
        'colour the output: auto (on a terminal or with FORCE_COLOR; never with NO_COLOR), always, never',
      )
        .choices(COLOR_MODES)
        .default('auto'),
    )
    .showSuggestionAfterError()
    // Before any subcommand exists: subcommands copy these settings when they are made.
    .configureHelp(helpConfiguration)
    .configureOutput({
      writeOut: (s) => writeFd(1, s),
      writeErr: (s) => writeFd(2, s),
      getOutHelpWidth: () => helpWidth(process.stdout),
      getErrHelpWidth: () => helpWidth(process.stderr),
    })
    .hook('preAction', (thisCommand) => cli.setColorMode(thisCommand.opts<{ color: ColorMode }>().color))
    .example('till host init && till host add web1 deploy@web1.example.com', 'start: a key and a first host')
    .example('till host exec --all -- uptime', 'run a command on every host')
    .example('till status', 'the fleet at a glance');

  const host = program
    .command('host')
    .description('manage hosts: init, add, test, exec, setup, deploy, sync, health…')
    .example('till host list', 'every host: address, status, last test and sync, groups')
    .example('till host test --all', 'check that till reaches every host');
  groups.forEach((g, i) => registers[i]!(g.parent === 'host' ? host : program, cli));
  return program;
}
