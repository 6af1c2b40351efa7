import { Command } from 'commander';
import type { Cli } from './context.js';
import { registerHostCommands } from './commands/host.js';
import { registerGroupCommands } from './commands/group.js';
import { registerDoctorCommand } from './commands/doctor.js';
import { VERSION } from './version.js';

/** The command tree. Each group lives in its own file under commands/. */
export function createProgram(cli: Cli): Command {
  const program = new Command('till')
    .description('SSH-only fleet manager: own key, own ssh config, parallel exec, atomic deploys, scheduled sync')
    .version(VERSION, '-V, --version', 'print the version')
    .showSuggestionAfterError()
    .configureHelp({ sortSubcommands: false, showGlobalOptions: false })
    .addHelpText(
      'after',
      '\nFiles live under $TILL_HOME (default ~/.till). Exit codes: 0 ok, 1 a host failed, 2 usage error, 3 not running, 4 state file invalid, 130 interrupted.',
    );

  const host = program.command('host').description('manage hosts: init, add, test, exec, setup, deploy, sync, health…');
  registerHostCommands(host, cli);
  registerGroupCommands(host, cli);
  registerDoctorCommand(host, cli);
  return program;
}
