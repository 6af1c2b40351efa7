import { existsSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import type { Command } from 'commander';
import { pathErrorText } from '../core/errors.js';
import type { HostResult } from '../core/fanout.js';
import { checkTillHome, resolveTillHome, tillPaths } from '../core/paths.js';
import { redactArgv } from '../core/redact.js';
import {
  appendOperation,
  prepareOperations,
  type HostOutcome,
  type OperationRecord,
} from '../core/state/operations.js';
import { NAME_RE } from '../core/validate.js';
import { VERSION } from './version.js';

/**
 * The operations journal's one hook in the CLI (docs/operations.md). run.ts installs it
 * on the program, so every command records by default, a new one included: when its
 * action starts (commander's preAction) a record is opened; the fan-out's progress
 * reporter and target selection feed it the targets and each host's outcome; it is
 * appended to logs/operations.jsonl when the command ends, whatever the end: its exit
 * code, an error, Ctrl-C or SIGTERM (recorded as interrupted), or process.exit.
 *
 * Only the commands below do not record: they change nothing on a host or in till's
 * state of one (reads, probes), or a child till they start records the work itself;
 * nor does any command run with --list-hosts (it only prints its targets).
 * test/unit/journal-commands.test.ts walks the command tree and fails for a command
 * this list names that does not exist, or for an acting command that does not record.
 */
export const UNRECORDED: ReadonlyMap<string, string> = new Map([
  ['host list', 'reads the database'],
  ['host show', 'reads the database'],
  ['host export', 'prints the database in another format'],
  ['host pubkey', "prints till's public key"],
  ['host test', 'a read-only probe'],
  ['host health', 'a read-only probe (watch runs it every few minutes)'],
  ['host audit', 'reads authorized_keys (watch runs it periodically)'],
  ['host doctor', 'a read-only probe'],
  ['host releases', "reads a host's releases"],
  ['host diff', 'compares, changes nothing'],
  ['host group list', 'reads the database'],
  ['installation list', 'reads the registry'],
  ['schedule show', 'reads the schedule'],
  ['schedule run', 'the till sync it starts records itself'],
  ['watch', 'a daemon: the syncs it starts record themselves'],
  ['status', 'reads local state'],
  ['metrics', 'reads local state'],
  ['log', 'reads the journal'],
  ['completion', 'prints a shell script'],
  ['__complete', "the shell's Tab: reads names"],
]);

/** `host group add`: the command's words from the program down. */
export function commandPath(cmd: Command): string {
  const words: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) words.unshift(c.name());
  return words.join(' ');
}

/** Positional arguments that name hosts (single-host commands: `host remove <name>`, `group add <g> <hosts...>`). */
const HOST_ARGUMENTS = new Set(['name', 'host', 'hosts']);

function operator(): { operator: string; sudoUser?: string } {
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    user = `uid${process.getuid?.() ?? '?'}`;
  }
  const sudo = process.env.SUDO_USER;
  return { operator: `${user}@${hostname()}`, ...(sudo && sudo !== user ? { sudoUser: sudo } : {}) };
}

/** The logs folder of a TILL_HOME that exists and is this user's; undefined when nothing may be written there. */
function logsDirIfUsable(): string | undefined {
  try {
    const paths = tillPaths(resolveTillHome());
    if (!existsSync(paths.home)) return undefined;
    checkTillHome(paths);
    return paths.logsDir;
  } catch {
    return undefined;
  }
}

const ERROR_MAX = 500;

/** One command's record while it runs. */
export class OperationRecorder {
  private readonly started = Date.now();
  private readonly startedIso = new Date(this.started).toISOString();
  private targets: string[] = [];
  private readonly results = new Map<string, HostOutcome>();
  private interrupted: NodeJS.Signals | null = null;
  private written = false;
  private readonly disposers: Array<() => void> = [];

  constructor(
    readonly command: string,
    private readonly argv: readonly string[],
    hostArgs: readonly string[],
    private readonly write: (record: OperationRecord) => void = (record) => {
      const dir = logsDirIfUsable();
      if (dir !== undefined) appendOperation(dir, record);
    },
  ) {
    this.targets = [...new Set(hostArgs.filter((a) => NAME_RE.test(a)))];
  }

  /** The hosts a fleet command resolved its targets to (the last selection wins). */
  noteTargets(names: readonly string[]): void {
    this.targets = [...names];
  }

  noteResult(r: HostResult): void {
    // A deploy reports a host twice (stage, then switch): its last outcome is the one that stands.
    this.results.delete(r.host);
    this.results.set(r.host, {
      host: r.host,
      status: r.status,
      exitCode: r.exitCode,
      durationMs: r.durationMs,
      error: r.error === null ? null : r.error.slice(0, ERROR_MAX),
    });
  }

  /**
   * Ctrl-C and SIGTERM: a command that handles them (the fan-out stops, reports and
   * exits 130; it said so with handleInterrupts) ends normally and is recorded then,
   * marked interrupted. A command that does not would die at once without a record:
   * then the record is written here and till exits 130, as the signal would have ended
   * it. (Counting process listeners cannot tell: the lock and atomic-write libraries
   * listen too, through signal-exit.)
   */
  watchSignals(): void {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const handler = () => {
        this.interrupted ??= signal;
        if (interruptHandlers > 0) return;
        this.finish(130, `interrupted by ${signal}`);
        process.exit(130);
      };
      process.on(signal, handler);
      this.disposers.push(() => process.off(signal, handler));
    }
    const onExit = (code: number) => this.finish(code, null);
    process.on('exit', onExit);
    this.disposers.push(() => process.off('exit', onExit));
  }

  /** Writes the record once; a journal that cannot be written warns and never changes the exit code. */
  finish(exitCode: number, error: string | null): void {
    if (this.written) return;
    this.written = true;
    for (const d of this.disposers) d();
    const results = [...this.results.values()];
    const targets = [...this.targets];
    for (const r of results) if (!targets.includes(r.host)) targets.push(r.host);
    const record: OperationRecord = {
      time: this.startedIso,
      durationMs: Math.max(0, Date.now() - this.started),
      ...operator(),
      command: this.command,
      argv: redactArgv(this.argv),
      targets,
      results,
      exitCode,
      interrupted: this.interrupted,
      error: error === null ? null : error.slice(0, ERROR_MAX),
      version: VERSION,
      pid: process.pid,
    };
    try {
      this.write(record);
    } catch (err) {
      process.stderr.write(`warning: could not record this command in the operations journal: ${pathErrorText(err)}\n`);
    }
  }
}

let current: OperationRecorder | undefined;
let interruptHandlers = 0;

/**
 * A command that handles Ctrl-C and SIGTERM itself (and then ends with its own report)
 * calls this while its handler is installed; the returned function undoes it.
 */
export function handleInterrupts(): () => void {
  interruptHandlers += 1;
  let undone = false;
  return () => {
    if (!undone) interruptHandlers -= 1;
    undone = true;
  };
}

/** The record of the command running in this process, if it records. */
export function currentOperation(): OperationRecorder | undefined {
  return current;
}

/**
 * Opens a record when a command's action starts (unless the command is UNRECORDED).
 * `argv` is the whole command line as given (what follows `--` included).
 */
export function installJournal(program: Command, argv: readonly string[]): void {
  program.hook('preAction', async (_root, action) => {
    const command = commandPath(action);
    // --list-hosts prints the targets and stops: nothing is contacted, nothing to record.
    if (UNRECORDED.has(command) || current !== undefined || action.opts().listHosts === true) return;
    const hostArgs = command.startsWith('host ')
      ? action.registeredArguments.flatMap((arg, i) => {
          if (!HOST_ARGUMENTS.has(arg.name())) return [];
          const value: unknown = action.processedArgs[i];
          return Array.isArray(value) ? value.map(String) : typeof value === 'string' ? [value] : [];
        })
      : [];
    current = new OperationRecorder(command, argv, hostArgs);
    current.watchSignals();
    await prepareOperations();
  });
}

/** Ends the record of this process's command, if one was opened (run.ts, once the exit code is known). */
export function finishJournal(exitCode: number, error: string | null): void {
  current?.finish(exitCode, error);
  current = undefined;
}
