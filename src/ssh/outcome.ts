import type { Failure, FailureKind } from '../core/failure.js';
import { gateRefusal } from '../protocol/wire.js';
import { fingerprintAtLine, parseHostKeyChange } from './known-hosts.js';
import type { ProcessResult } from './process.js';

/**
 * What an ssh (or rsync-over-ssh) result means. ssh exits 255 for its own failures
 * (refused, timeout, auth, host key) and otherwise with the remote command's code.
 * The failure types are the engine's (core/failure.ts): core never imports from ssh.
 */
export type { Failure, FailureKind };

/** ssh's complaints about the local set-up: no host is to blame, and a retry cannot help. */
const LOCAL_RULE =
  /Can't open user config file|Bad configuration option|Bad owner or permissions|^[^\n]*config line \d+:|ControlPath too long|unknown key %|Identity file .* not accessible/m;

const RULES: Array<[RegExp, FailureKind, string]> = [
  [
    /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for .* has changed/i,
    'hostkey-changed',
    'host key changed (possible man-in-the-middle, or the host was reinstalled)',
  ],
  [/Host key verification failed/i, 'hostkey-unknown', 'host key verification failed'],
  [/Permission denied \(/i, 'auth', "authentication failed: the host refused till's key"],
  [/Could not resolve hostname|Name or service not known|nodename nor servname/i, 'dns', 'host name does not resolve'],
  [/Connection refused/i, 'refused', 'connection refused'],
  [/Connection timed out|Operation timed out|timed out during banner exchange/i, 'timeout', 'connection timed out'],
  [/No route to host|Network is unreachable/i, 'unreachable', 'host unreachable'],
  [
    /Connection closed by|Connection reset|kex_exchange_identification|Broken pipe|Timeout, server .* not responding|closed by remote host/i,
    'closed',
    'connection closed by the host',
  ],
];

/** The first line of ssh's stderr that explains things, without the @@@ banner. */
export function sshReason(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^Warning: Permanently added/.test(l));
  const meaningful = lines.filter((l) => !l.startsWith('@'));
  return (
    meaningful.find((l) => /^Host key for .* has changed/.test(l)) ??
    meaningful.find((l) => RULES.some(([re]) => re.test(l))) ??
    meaningful[0] ??
    ''
  );
}

/** A command that ran on the host and failed: never retried (it may not be idempotent). */
export function remoteFailure(message: string): Failure {
  return { kind: 'remote', connection: false, retryable: false, message };
}

export function classifySsh(
  result: ProcessResult,
  connectionExitCodes: readonly number[] = [255],
): Failure | undefined {
  if (result.spawnError !== undefined) {
    return {
      kind: 'spawn',
      connection: false,
      retryable: false,
      message: `could not start ${result.command}: ${result.spawnError}`,
    };
  }
  if (result.cancelled) return { kind: 'cancelled', connection: false, retryable: false, message: 'cancelled' };
  if (result.timedOut)
    return { kind: 'deadline', connection: false, retryable: false, message: 'timed out (per-host --timeout)' };
  if (result.exitCode === 0) return undefined;
  if (result.exitCode !== null && connectionExitCodes.includes(result.exitCode)) {
    if (LOCAL_RULE.test(result.stderr)) {
      return {
        kind: 'local',
        connection: false,
        retryable: false,
        message: `local ssh set-up problem: ${sshReason(result.stderr)}`,
      };
    }
    for (const [re, kind, message] of RULES) {
      if (re.test(result.stderr)) {
        const retryable = kind !== 'auth' && kind !== 'hostkey-changed' && kind !== 'hostkey-unknown' && kind !== 'dns';
        if (kind === 'hostkey-changed')
          return { kind, connection: true, retryable, message: hostKeyChangedMessage(result) };
        return { kind, connection: true, retryable, message: `${message}: ${sshReason(result.stderr)}` };
      }
    }
    // Any other line ssh itself wrote: a connection-level failure we have no rule for.
    if (/^(ssh|mux_client_\w+|muxclient|ControlSocket|channel \d+):/m.test(result.stderr)) {
      return { kind: 'connection', connection: true, retryable: true, message: sshReason(result.stderr) };
    }
    // Exit 255 with nothing from ssh: the remote command itself exited 255. It ran,
    // so it must not be retried (it may not be idempotent).
  }
  const refused = result.exitCode === 1 ? gateRefusal(result.stderr) : undefined;
  if (refused !== undefined) return remoteFailure(`refused by till gate on the host: ${refused}`);
  const how = result.exitCode !== null ? `exit code ${result.exitCode}` : `killed by ${result.signal ?? 'a signal'}`;
  return remoteFailure(`remote command failed (${how})`);
}

/**
 * A quick probe (host test, host health) that got nothing back before its bound: the
 * host is down, not slow. A frozen host (sshd and its sessions stopped) accepts the TCP
 * connection and then says nothing, so ssh itself reports no error to classify.
 */
export function noAnswer(withinMs: number | undefined): Failure {
  const within = withinMs === undefined ? '' : ` within ${Math.round(withinMs / 100) / 10} s`;
  return {
    kind: 'timeout',
    connection: true,
    retryable: false,
    message: `no answer${within}: the host accepted no session or its sshd does not respond (frozen, or overloaded)`,
  };
}

/** The till host an ssh or rsync call was for, from its `till-<name>` alias argument. */
export function tillHostOfArgs(args: readonly string[]): string | undefined {
  for (const a of args) {
    const m = /^till-([A-Za-z0-9][A-Za-z0-9._-]{0,62})(?::|$)/.exec(a);
    if (m) return m[1];
  }
  return undefined;
}

/**
 * A changed host key stops every operation on that host; the message names the host
 * and both fingerprints so the operator can compare them with what the host's
 * administrator says, and tells how to accept the new key.
 */
export function hostKeyChangedMessage(result: Pick<ProcessResult, 'args' | 'stderr'>): string {
  const change = parseHostKeyChange(result.stderr);
  const name = tillHostOfArgs(result.args);
  const known =
    change.knownFile !== undefined && change.knownLine !== undefined
      ? fingerprintAtLine(change.knownFile, change.knownLine)
      : undefined;
  const who =
    name !== undefined
      ? `host ${name}${change.address ? ` (${change.address})` : ''}`
      : `host ${change.address ?? '(unknown)'}`;
  const fix = name !== undefined ? `till host forget ${name}` : 'till host forget <name>';
  return (
    `host key changed for ${who}: till's known_hosts has ${known ?? 'an unreadable entry'}, the host offered ${change.offered ?? 'an unknown key'}; ` +
    `refusing to connect (possible man-in-the-middle, or the host was reinstalled). If the new key is expected: ${fix}`
  );
}
