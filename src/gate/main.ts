import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, renameSync, rmdirSync, statSync, truncateSync } from 'node:fs';
import { userInfo } from 'node:os';
import { posix } from 'node:path';
import { GATE_ENV, GATE_REFUSED } from '../protocol/wire.js';
import {
  decideOrRefuse,
  GATE_CONFIG_REFUSAL,
  loadPolicy,
  OWNER_FINDS_WHY,
  UNCHECKED_REFUSAL,
  type GateDecision,
  type GatePolicy,
} from './decide.js';
import { lockRoot } from './lock.js';

/**
 * `till gate`: the forced command of a restricted key (`till host setup --restrict`,
 * docs/gate.md). sshd runs it on the host with the client's line in
 * SSH_ORIGINAL_COMMAND; it runs that line only when it is one of till's registered
 * operations with every argument of its declared type, without a shell parsing the
 * line, and logs every decision. The CLI's entry (src/cli/main.ts) hands `till gate`
 * here before loading anything else: this file and its imports are the whole gate
 * (test/unit/gate-closure.test.ts keeps it so).
 */

/** gate.log and gate.log.1 together stay under about 2 × this. */
export const GATE_LOG_MAX_BYTES = 512 * 1024;

/** The most characters of a decision a log line keeps (the rest is cut, marked with …). */
export const GATE_LOG_MAX_LINE = 1024;

/**
 * Appends one timestamped line to the gate log, first renaming a log it would take past
 * GATE_LOG_MAX_BYTES to `<log>.1` (replacing the older one). A control character in the
 * message is written escaped (`\n`), so one decision is one line and forges no other. A
 * write that fails part-way is cut back, so the log keeps whole lines; then it throws.
 */
export function appendGateLog(file: string, message: string, now = new Date()): void {
  // C0, DEL and C1 (JSON.stringify leaves DEL and U+0080–U+009F, which a terminal may obey, as they are).
  // eslint-disable-next-line no-control-regex
  const escaped = message.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) =>
    c < ' ' ? JSON.stringify(c).slice(1, -1) : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  // Bounded: a reason may quote what the client sent (a first word of 256 KiB), and ten
  // such lines would otherwise push every earlier decision out of both files.
  const cut = escaped.length > GATE_LOG_MAX_LINE ? `${escaped.slice(0, GATE_LOG_MAX_LINE)}…` : escaped;
  const text = `${now.toISOString()} ${cut}\n`;
  mkdirSync(posix.dirname(file), { recursive: true, mode: 0o700 });
  let size = 0;
  try {
    size = statSync(file).size;
  } catch {
    // no log yet
  }
  if (size > 0 && size + Buffer.byteLength(text) > GATE_LOG_MAX_BYTES) {
    renameSync(file, `${file}.1`);
    size = 0;
  }
  try {
    appendFileSync(file, text, { mode: 0o600 });
  } catch (err) {
    try {
      truncateSync(file, size);
    } catch {
      // nothing was written, or the file is gone
    }
    throw err;
  }
}

function logLine(decision: GateDecision, line: string | undefined): string {
  const from = (process.env.SSH_CONNECTION ?? '').split(' ')[0] || 'local';
  if (decision.kind !== 'refuse')
    return `allowed ${decision.name} from ${from}${decision.kind === 'rsync' && decision.logNotes ? `; ${decision.logNotes.join('; ')}` : ''}`;
  const shown = line === undefined ? '(none)' : JSON.stringify(line.length > 300 ? `${line.slice(0, 300)}…` : line);
  return `refused from ${from}: ${decision.reason}${decision.detail !== undefined ? ` (${decision.detail})` : ''}; command ${shown}`;
}

/**
 * Makes an upload's release folder before rsync runs, under the root's lock: rsync then
 * writes into it, and a symlink sent as the release's name lands inside as a file of the
 * release. With the releases folder too when there is none yet (a first upload, before
 * any prepare: rsync's --mkpath would have made it, and the link as the release). mkdir
 * never follows a last component that is a link (EEXIST): a release that is already
 * there, a folder or not, is left as it is (the checks have judged it). The folders on
 * the way were resolved inside the deploy root's releases folder by the checks.
 */
export function makeRelease(path: string): boolean {
  try {
    return mkdirSync(path, { recursive: true, mode: 0o755 }) !== undefined;
  } catch {
    return false; // already there (or a link, which the checks judged): rsync says what it finds
  }
}

/** A dry run (`-n` in the flag cluster, before rsync's `e.` compatibility letters, or `--dry-run`): it writes nothing. */
export function isDryRun(argv: readonly string[]): boolean {
  const cluster = argv.find((a) => /^-[^-]/.test(a));
  return argv.includes('--dry-run') || (cluster?.split('e.')[0]?.includes('n') ?? false);
}

/** The gate's log in `home`. */
const gateLogOf = (home: string) => posix.join(home, '.till', 'logs', 'gate.log');

/** Appends to the gate's log; a log that cannot be written changes no decision. */
function log(home: string, message: string): void {
  try {
    appendGateLog(gateLogOf(home), message);
  } catch {
    // A full disk must not turn a refusal into an allowance, nor stop an allowed command.
  }
}

/** Runs an allowed command on the session's stdin, stdout and stderr; its exit code (128 + n for a signal). */
function run(decision: Exclude<GateDecision, { kind: 'refuse' }>, home: string): Promise<number> {
  const [file, args] =
    decision.kind === 'exact'
      ? ['/bin/sh', ['-c', decision.line]]
      : decision.kind === 'script'
        ? ['/bin/sh', ['-c', decision.script, 'till', ...decision.args]]
        : ['rsync', decision.argv];
  return new Promise((resolve) => {
    const child = spawn(file, args as string[], {
      cwd: home,
      env: { ...process.env, [GATE_ENV]: '1' },
      stdio: 'inherit',
    });
    // The session ending must end the command too, and still let the gate release its lock.
    const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
    for (const s of ['SIGHUP', 'SIGTERM', 'SIGINT'] as const) process.on(s, forward(s));
    child.on('error', (err) => {
      // errno text for the log only, as for a refusal
      log(home, `could not start ${file} for ${decision.name}: ${err.message}`);
      process.stderr.write(`till gate: could not start ${file}; ${OWNER_FINDS_WHY}\n`);
      resolve(127);
    });
    child.on('close', (code, signal) => resolve(code ?? 128 + (signal === 'SIGKILL' ? 9 : 15)));
  });
}

/**
 * The gate, whole: what it decides is logged, a refusal is one line on stderr (exit 1),
 * an allowed command runs. An error the gate meets on the way is never passed on to the
 * key as it is (its errno text names paths, gate.json's parse error quotes the file):
 * the key gets a sentence, the log the error.
 */
export async function runGate(): Promise<number> {
  let home: string | undefined;
  try {
    home = userInfo().homedir;
    return await gate(home, process.env.SSH_ORIGINAL_COMMAND);
  } catch (err) {
    // A bug: nothing above throws by design.
    if (home !== undefined) log(home, `gate error: ${(err as Error).stack ?? String(err)}`);
    process.stderr.write(`${GATE_REFUSED} ${UNCHECKED_REFUSAL}\n`);
    return 1;
  }
}

async function gate(home: string, line: string | undefined): Promise<number> {
  let policy: GatePolicy | undefined;
  let decision: GateDecision;
  try {
    policy = loadPolicy(home);
    // A decision that names a deploy root is taken again under its lock (below): the
    // walk of a --link-dest tree only counts there, so it is not done twice.
    decision = decideOrRefuse(line, { ...policy, outwardLink: () => undefined });
  } catch (err) {
    // loadPolicy's: decideOrRefuse never throws.
    decision = { kind: 'refuse', reason: GATE_CONFIG_REFUSAL, detail: (err as Error).message };
  }
  let release: (() => void) | undefined;
  if (decision.kind !== 'refuse' && decision.kind !== 'exact' && decision.root !== undefined && policy) {
    // Checked again under the root's lock: what the first look resolved may have changed since.
    const lock = await lockRoot(home, decision.root);
    if (lock.ok) {
      release = lock.release;
      decision = decideOrRefuse(line, policy);
    } else decision = { kind: 'refuse', reason: lock.reason, detail: lock.detail };
  }
  try {
    log(home, logLine(decision, line));
    if (decision.kind === 'refuse') {
      process.stderr.write(`${GATE_REFUSED} ${decision.reason}\n`);
      return 1;
    }
    for (const note of decision.kind === 'rsync' ? (decision.notes ?? []) : [])
      process.stderr.write(`till gate: ${note}\n`);
    // A dry run makes nothing; a folder made for an upload that then failed goes again, if empty.
    const release = decision.kind === 'rsync' && !isDryRun(decision.argv) ? decision.release : undefined;
    const made = release !== undefined && makeRelease(release);
    const code = await run(decision, home);
    if (made && code !== 0) {
      try {
        rmdirSync(release);
      } catch {
        // it holds what the upload wrote before it failed: a partial release, as rsync left it
      }
    }
    return code;
  } finally {
    release?.();
  }
}
