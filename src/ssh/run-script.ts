import type { JobOutcome } from '../core/fanout.js';
import { HostFailure } from '../core/failure.js';
import type { TillPaths } from '../core/paths.js';
import {
  commandLine,
  cshRefused,
  cshSafeLine,
  gateRefusal,
  GATE_UNKNOWN_SCRIPT,
  type Operation,
  type Version,
} from '../protocol/wire.js';
import { sshRun, type RemoteCallOptions } from './client.js';
import { isCshHost, markCshHost } from './csh-hosts.js';
import { classifySsh, remoteFailure, type Failure } from './outcome.js';
import { syntheticResult, type ProcessResult } from './process.js';

/**
 * The one way an op runs a registered remote operation (src/protocol): send its newest
 * version; when the host's gate is older and does not know it, send the next older
 * one; then classify the result once and parse what it printed.
 *
 *   connection failures, Ctrl-C, --timeout  → ssh's own Failure (the engine retries what it may)
 *   refused by the host's gate               → "refused by till gate on the host: <reason>"
 *   the script failed                        → its `TILL_ERROR <why>`, else its last stderr line
 *   it ran (exit 0, or an exit the op names) → ok, with the parsed value
 *
 * A csh or tcsh login shell cannot take a multi-line text: sendScriptLine sends it
 * in the one-line form such a shell passes on.
 */
export interface ScriptCall extends RemoteCallOptions {
  /** Exit codes the operation gives a meaning (key-add's KEY_PRESENT…): results, not failures. */
  okExits?: readonly number[];
  /** Call options for one version (health-v2 answers a ping on stdin). */
  perVersion?: (version: string) => Partial<RemoteCallOptions>;
  /** Sends the line another way than through the host's alias (rotate-key's login with a new key). */
  send?: (line: string, opts: RemoteCallOptions) => Promise<ProcessResult>;
}

export interface ScriptRun<R> {
  /** The version that ran (the last one tried). */
  version: string;
  result: ProcessResult;
  /** What it printed, parsed; set whenever the script ran on the host (also when it then failed). */
  value?: R;
  /** Why it failed; undefined when it ran. */
  failure?: Failure;
  /** The gate's reason, when the host's gate refused it. */
  refused?: string;
}

/** What a failed script said: its `TILL_ERROR` line, else its last line on stderr, else its exit code. */
export function scriptReason(result: ProcessResult): string {
  const lines = result.stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const marked = lines.find((l) => l.startsWith('TILL_ERROR '));
  if (marked !== undefined) return marked.slice('TILL_ERROR '.length);
  const last = lines.filter((l) => !l.startsWith('TILL_')).pop();
  if (last !== undefined) return last;
  return `remote command failed (${result.exitCode !== null ? `exit code ${result.exitCode}` : `killed by ${result.signal ?? 'a signal'}`})`;
}

function classify(result: ProcessResult, okExits: readonly number[]): { failure?: Failure; refused?: string } {
  const failure = classifySsh(result);
  if (failure === undefined || failure.kind !== 'remote') return failure ? { failure } : {};
  const refused = result.exitCode === 1 ? gateRefusal(result.stderr) : undefined;
  if (refused !== undefined) return { failure, refused };
  if (result.exitCode !== null && okExits.includes(result.exitCode)) return {};
  return { failure: remoteFailure(scriptReason(result)) };
}

export async function runScript<P, R>(
  paths: TillPaths,
  host: string,
  op: Operation<P, R>,
  params: P,
  call: ScriptCall = {},
): Promise<ScriptRun<R>> {
  const { okExits = [], perVersion, send, ...ssh } = call;
  let last: ScriptRun<R> | undefined;
  for (const version of op.versions) {
    // The gate would refuse it: say so here, without a round trip (a value a user gave, usually).
    const bad = argumentRefusal(op.name, version, params);
    if (bad !== undefined) return { version: version.name, result: syntheticResult(), failure: bad };
    const opts = { ...ssh, ...perVersion?.(version.name) };
    const result = await sendScriptLine(paths, host, version, params, (line) =>
      send ? send(line, opts) : sshRun(paths, host, line, opts),
    );
    const { failure, refused } = classify(result, okExits);
    const ran = (failure === undefined || failure.kind === 'remote') && refused === undefined;
    last = {
      version: version.name,
      result,
      ...(failure ? { failure } : {}),
      ...(ran ? { value: op.parse(result.stdout) } : {}),
      ...(refused !== undefined ? { refused } : {}),
    };
    // No gate knows an ungated text (key-append-v2 on a host till thought unrestricted):
    // an older ungated version would be refused the same, one more round trip and log line.
    if (refused !== GATE_UNKNOWN_SCRIPT || version.ungated !== undefined) return last;
  }
  if (last === undefined) throw new Error(`${op.name}: no version to send`);
  return last;
}

/**
 * Why a version cannot be sent with these parameters (an argument its type refuses, as
 * the host's gate would), as a local failure; undefined when every argument passes. The
 * types are checked without a policy: what only gate.json decides is the gate's.
 */
export function argumentRefusal<P>(what: string, version: Version<P>, params: P): Failure | undefined {
  if (version.form !== 'script') return undefined;
  const args = version.encode(params);
  const bad = args.map((a, i) => version.args[i]?.problem(a)).find((why): why is string => why !== undefined);
  if (bad === undefined) return undefined;
  return { kind: 'local', connection: false, retryable: false, message: `cannot send ${what}: ${bad}` };
}

/**
 * Sends one version of a script, by `send` (ssh, or rsync's --rsync-path), in the form
 * the host's login shell passes to sh whole. A csh or tcsh login shell cannot take the
 * plain multi-line line: it says "Unmatched '." and runs the lines after the quote
 * itself (most fail on sh's variables). After that answer the same version goes in
 * cshSafeLine's one-line form, and the host is remembered (csh-hosts.ts, across runs),
 * so that its next scripts go in that form first and its shell runs no line of them. A
 * gate refuses that form (it knows the plain one): then the plain line's answer stands,
 * and the host is forgotten.
 */
export async function sendScriptLine<P>(
  paths: TillPaths,
  host: string,
  version: Version<P>,
  params: P,
  send: (line: string) => Promise<ProcessResult>,
): Promise<ProcessResult> {
  // Every argument is checked here too, where each line leaves: the fused prepare and the
  // look sent as rsync's --rsync-path pass no gate, and reach here without runScript.
  const refused = argumentRefusal(version.name, version, params);
  if (refused !== undefined) throw new HostFailure(refused);
  const plain = commandLine(version, params);
  // Built only for such a host: escaping a text of a few KB costs a fan-out of many hosts.
  const csh = isCshHost(paths, host) ? cshSafeLine(version, params) : undefined;
  if (csh !== undefined) {
    const result = await send(csh);
    if (gateRefusal(result.stderr) === undefined) return result;
    await markCshHost(paths, host, false);
    return send(plain);
  }
  const first = await send(plain);
  if (!cshRefused(first.stderr)) return first;
  const again = cshSafeLine(version, params);
  if (again === undefined) return first;
  const result = await send(again);
  if (gateRefusal(result.stderr) !== undefined) return first;
  await markCshHost(paths, host, true);
  return result;
}

/** A script run as a fan-out job outcome; `failure` replaces the run's own when given. */
export function scriptOutcome<T = never>(run: ScriptRun<unknown>, data?: T, failure?: Failure): JobOutcome<T> {
  const f = failure ?? run.failure;
  const ended = f?.kind === 'cancelled' || f?.kind === 'deadline';
  return {
    ok: f === undefined,
    ...(f ? { failure: f } : {}),
    // Ended by till (Ctrl-C, --timeout): ssh's own exit code says nothing about the remote command.
    exitCode: ended ? null : run.result.exitCode,
    stdout: run.result.stdout,
    stderr: run.result.stderr,
    ...(data !== undefined ? { data } : {}),
  };
}

/** A script run that failed for the op's own reason (what it printed meant a failure). */
export function scriptFailure<T = never>(run: ScriptRun<unknown>, failure: Failure): JobOutcome<T> {
  return scriptOutcome<T>(run, undefined, failure);
}
