import { Option } from 'commander';
import type { Cli } from './context.js';
import { helpConfiguration, helpWidth, TillCommand } from './help.js';
import { COLOR_MODES, type ColorMode } from './output/terminal.js';
import { registerHostCommands } from './commands/host.js';
import { registerGroupCommands } from './commands/group.js';
import { registerInventoryCommands } from './commands/inventory.js';
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
import { registerCompletionCommands } from './commands/completion.js';
import { registerLogCommand } from './commands/log.js';
import { registerDiffCommand } from './commands/diff.js';
import { registerTransferCommands } from './commands/transfer.js';
import { VERSION } from './version.js';

/** The command tree. Each group lives in its own file under commands/. */
export function createProgram(cli: Cli): TillCommand {
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
      writeOut: (s) => process.stdout.write(s),
      writeErr: (s) => process.stderr.write(s),
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
  registerHostCommands(host, cli);
  registerInventoryCommands(host, cli);
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
  registerCompletionCommands(program, cli);
  return program;
}
