import { Command } from 'commander';
import type { Cli } from './context.js';
import { registerHostCommands } from './commands/host.js';
import { registerGroupCommands } from './commands/group.js';
import { registerAuditCommand } from './commands/audit.js';
import { registerScheduleCommands } from './commands/schedule.js';
import { registerWatchCommand } from './commands/watch.js';
import { registerRemoteCommands } from './commands/remote.js';
import { registerInstallationCommands } from './commands/installation.js';
import { registerSyncCommand } from './commands/sync.js';
import { registerHealthCommand } from './commands/health.js';
import { registerMetricsCommand } from './commands/metrics.js';
import { registerStatusCommand } from './commands/status.js';
import { registerDeployCommands } from './commands/deploy.js';
import { registerSecurityCommands } from './commands/security.js';
import { registerDoctorCommand } from './commands/doctor.js';
import { registerLogCommand } from './commands/log.js';
import { registerDiffCommand } from './commands/diff.js';
import { registerTransferCommands } from './commands/transfer.js';
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
  registerAuditCommand(host, cli);
  registerScheduleCommands(program, cli);
  registerWatchCommand(program, cli);
  registerRemoteCommands(host, cli);
  registerInstallationCommands(program, cli);
  registerSyncCommand(program, cli);
  registerHealthCommand(host, cli);
  registerStatusCommand(program, cli);
  registerMetricsCommand(program, cli);
  registerDeployCommands(host, cli);
  registerSecurityCommands(host, cli);
  registerDoctorCommand(host, cli);
  registerDiffCommand(host, cli);
  registerTransferCommands(host, cli);
  registerLogCommand(program, cli);
  return program;
}
