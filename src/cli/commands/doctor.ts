import { requireHost } from '../../core/host-admin.js';
import { ExitCode } from '../../core/errors.js';
import { pathExists } from '../../core/fs.js';
import { hostsStore } from '../../core/state/hosts.js';
import { Inventory } from '../../inventory/inventory.js';
import { checkControlPath } from '../../core/paths.js';
import { doctorHeading, runDoctor, type CheckStatus } from '../../ops/doctor.js';
import type { Cli } from '../context.js';
import type { TillCommand } from '../help.js';
import { intOption } from '../options.js';
import { printable } from '../output/terminal.js';

/** `till host doctor <name>`: what is wrong with a host's connection, and how to fix it. */
export function registerDoctorCommand(host: TillCommand, cli: Cli): void {
  host
    .command('doctor')
    .description(
      "diagnose one host: till's key, DNS, TCP port, host key, login with till's key, remote till, free disk; each with a fix",
    )
    .example('till host doctor web1', 'walk the troubleshooting list for web1, with a fix for each failed check')
    .example('till host doctor web1 --json', 'the checks as JSON')
    .argument('<name>', 'the host to diagnose')
    .option(
      '--connect-timeout <seconds>',
      'TCP and ssh connect timeout (default 10)',
      intOption('--connect-timeout', 1, 600),
    )
    .option('--json', 'print {"host", "ok", "checks": [{name, status, detail, fix}]}')
    .note('Exit codes: 0 no check failed (warnings allowed), 1 a check failed, 2 no such host.')
    .action(async (name: string, opts: { connectTimeout?: number; json?: boolean }) => {
      const paths = cli.paths();
      checkControlPath(paths);
      // Without a key, read the database alone (a missing key is one of the findings); with
      // one, through the inventory, which first brings a stale ssh/config in step with a
      // hand-edited database, so every check goes where the database says.
      const db = (await pathExists(paths.privateKey))
        ? await new Inventory(paths).read()
        : await hostsStore(paths).read();
      const entry = requireHost(db, name);
      const report = await runDoctor(paths, name, entry, { connectTimeout: opts.connectTimeout });
      cli.exitCode = report.ok ? ExitCode.ok : ExitCode.hostFailed;
      if (opts.json) {
        cli.json(report);
        return;
      }
      const c = cli.stdoutColor;
      const paint: Record<CheckStatus, (s: string) => string> = {
        pass: c.green,
        warn: c.yellow,
        fail: c.red,
        skip: c.dim,
      };
      const lines = [`doctor ${doctorHeading(name, entry)}`];
      for (const check of report.checks) {
        // Details quote the host (its till version, ssh's and the probe's words): shown, not obeyed.
        lines.push(
          `  ${paint[check.status](check.status.padEnd(4))}  ${check.name.padEnd(8)}  ${printable(check.detail)}`,
        );
        const indent = ' '.repeat(18);
        check.fix
          ?.split('\n')
          .forEach((fixLine, i) => lines.push(`${indent}${i === 0 ? c.bold('fix:') : '    '} ${printable(fixLine)}`));
      }
      const count = (s: CheckStatus) => report.checks.filter((k) => k.status === s).length;
      const tally = [
        `${count('pass')} passed`,
        `${count('fail')} failed`,
        `${count('warn')} warnings`,
        `${count('skip')} skipped`,
      ].join(', ');
      lines.push(
        report.ok ? `${name}: no problems found (${tally})` : `${name}: ${c.red('problems found')} (${tally})`,
      );
      cli.out(lines.join('\n'));
    });
}
