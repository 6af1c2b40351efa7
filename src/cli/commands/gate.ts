import { userInfo } from 'node:os';
import { posix } from 'node:path';
import { decide, GATE_REFUSED, loadPolicy, type GateDecision } from '../../remote/gate.js';
import { GATE_ENV } from '../../ssh/outcome.js';
import { runProcess } from '../../ssh/process.js';
import { RotatingLog } from '../../watch/log.js';
import type { Cli } from '../context.js';
import type { TillCommand } from '../help.js';

/** gate.log and gate.log.1 together stay under about 2 × this. */
export const GATE_LOG_MAX_BYTES = 512 * 1024;

function logLine(decision: GateDecision, line: string | undefined): string {
  const from = (process.env.SSH_CONNECTION ?? '').split(' ')[0] || 'local';
  if (decision.kind !== 'refuse') return `allowed ${decision.name} from ${from}`;
  const shown = line === undefined ? '(none)' : JSON.stringify(line.length > 300 ? `${line.slice(0, 300)}…` : line);
  return `refused from ${from}: ${decision.reason}; command ${shown}`;
}

/**
 * `till gate`: the forced command of a restricted key (`till host setup --restrict`).
 * Runs on the host; never by hand. Allowed commands run without a shell parsing the
 * client's line; their stdin, stdout and stderr are the ssh session's.
 */
export function registerGateCommand(program: TillCommand, cli: Cli): void {
  program
    .command('gate', { hidden: true })
    .description("restricted-key gatekeeper, run by sshd on a host: allows only till's own operations (docs/gate.md)")
    .action(async () => {
      const home = userInfo().homedir;
      const line = process.env.SSH_ORIGINAL_COMMAND;
      let decision: GateDecision;
      try {
        decision = decide(line, loadPolicy(home));
      } catch (err) {
        decision = { kind: 'refuse', reason: `gate configuration: ${(err as Error).message}` };
      }
      try {
        new RotatingLog(posix.join(home, '.till', 'logs', 'gate.log'), GATE_LOG_MAX_BYTES).write(
          logLine(decision, line),
        );
      } catch {
        // A full disk must not turn a refusal into an allowance, nor stop an allowed command.
      }
      if (decision.kind === 'refuse') {
        cli.err(`${GATE_REFUSED} ${decision.reason}`);
        cli.exitCode = 1;
        return;
      }
      const opts = { interactive: true, cwd: home, env: { ...process.env, [GATE_ENV]: '1' } };
      const run =
        decision.kind === 'exact'
          ? runProcess('/bin/sh', ['-c', decision.line], opts)
          : decision.kind === 'script'
            ? runProcess('/bin/sh', ['-c', decision.script, 'till', ...decision.args], opts)
            : runProcess('rsync', decision.argv, opts);
      const result = await run;
      if (result.spawnError !== undefined) {
        cli.err(`till gate: could not start ${result.command}: ${result.spawnError}`);
        cli.exitCode = 127;
        return;
      }
      cli.exitCode = result.exitCode ?? 128 + 15;
    });
}
