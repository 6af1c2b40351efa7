import { CommanderError } from 'commander';
import { DiskFullError, ExitCode, isDiskFull, permissionError, TillError } from '../core/errors.js';
import { onLockWait } from '../core/lock-notice.js';
import { resolveTillHome } from '../core/paths.js';
import { createCli } from './context.js';
import { finishJournal, installJournal } from './journal.js';
import { writeFd } from './output/fd.js';
import { COLOR_MODES } from './output/terminal.js';
import { VERSION, versionReport } from './version.js';

/**
 * The CLI, and the only place that decides the exit code. Everything a user can cause
 * is a TillError (one line on stderr, a hint, its exit code); anything else is a bug
 * and is shown with its stack.
 */
export async function runCli(argv: string[]): Promise<number> {
  // Fast path: `till --version` is what scripts and `host setup` call on every host.
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
    writeFd(1, `${VERSION}\n`);
    return ExitCode.ok;
  }
  if (isVerboseVersion(argv)) {
    writeFd(1, `${versionReport()}\n`);
    return ExitCode.ok;
  }
  // A wait for another till's lock (or one a killed till left, until it is stale) is said, never silent.
  onLockWait((lock) =>
    writeFd(2, `till: waiting for ${lock}: another till holds it (one a killed till left is taken after 15 s)\n`),
  );
  const { parsed, rest } = splitAtDoubleDash(argv);
  const cli = createCli(rest);
  const { createProgram, helpRequestArgv } = await import('./program.js');
  const program = await createProgram(cli, parsed);
  installJournal(program, argv);
  program.exitOverride();
  for (const cmd of allCommands(program)) cmd.exitOverride();
  try {
    await program.parseAsync(helpRequestArgv(program, parsed) ?? parsed, { from: 'user' });
    finishJournal(cli.exitCode, null);
    return cli.exitCode;
  } catch (err) {
    const shown = permissionError(err, tillHomeOrUndefined()) ?? err;
    const code = report(shown, cli.stderrColor.red);
    finishJournal(code, shown instanceof Error ? shown.message : String(shown));
    return code;
  }
}

/**
 * `till --version --verbose`, in either order, beside a valid `--color` (which changes
 * nothing here); commander alone would print just the version and drop --verbose.
 */
function isVerboseVersion(argv: readonly string[]): boolean {
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--color' && (COLOR_MODES as readonly string[]).includes(argv[i + 1] ?? '')) i += 1;
    else if (!(a.startsWith('--color=') && (COLOR_MODES as readonly string[]).includes(a.slice(8)))) rest.push(a);
  }
  return rest.length === 2 && rest.includes('--verbose') && (rest.includes('--version') || rest.includes('-V'));
}

type AnyCommand = { commands: readonly AnyCommand[]; exitOverride(): unknown };
function allCommands(cmd: AnyCommand): AnyCommand[] {
  return cmd.commands.flatMap((c) => [c, ...allCommands(c)]);
}

/**
 * `till host exec web-* --json -- uptime`: what follows the first `--` belongs to the
 * remote command, for `exec` and `ssh`, and is the list of paths for `copy` and `fetch`
 * (`till host copy web1 -- -odd.txt /srv/in`). Elsewhere `--` is left to commander.
 */
export function splitAtDoubleDash(argv: string[]): { parsed: string[]; rest: string[] } {
  const at = argv.indexOf('--');
  if (at === -1) return { parsed: argv, rest: [] };
  const before = argv.slice(0, at);
  const hostAt = before.indexOf('host');
  const sub = hostAt === -1 ? undefined : before.slice(hostAt + 1).find((a) => !a.startsWith('-'));
  if (sub === 'exec' || sub === 'ssh' || sub === 'copy' || sub === 'fetch')
    return { parsed: before, rest: argv.slice(at + 1) };
  return { parsed: argv, rest: [] };
}

/** TILL_HOME for a hint, if it can be named at all. */
function tillHomeOrUndefined(): string | undefined {
  try {
    return resolveTillHome();
  } catch {
    return undefined;
  }
}

function report(err: unknown, red: (s: string) => string): number {
  if (err instanceof CommanderError) {
    // `commander.help` is help shown because a subcommand was missing: a usage error.
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return ExitCode.ok;
    // commander already printed its message to stderr
    return ExitCode.usage;
  }
  // A write that no state writer wrapped (a key, a folder): still a full disk, not a bug.
  if (!(err instanceof TillError) && isDiskFull(err)) {
    const path = (err as NodeJS.ErrnoException).path;
    err = new DiskFullError(path ?? 'a file under TILL_HOME');
  }
  if (err instanceof TillError) {
    if (err.message !== '') writeFd(2, `${red('error:')} ${err.message}\n`);
    if (err.hint) writeFd(2, `hint: ${err.hint}\n`);
    return err.exitCode;
  }
  writeFd(
    2,
    `till: internal error (a bug; please report it):\n${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  return ExitCode.internal;
}
