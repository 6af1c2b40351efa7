import { lstatSync, readFileSync, realpathSync } from 'node:fs';
import { posix } from 'node:path';
import { parseGateFile, type Policy } from '../protocol/args.js';
import { GATE_LINES, GATE_SCRIPTS, type AnyVersion } from '../protocol/registry.js';
import { expandHome, GATE_UNKNOWN_SCRIPT, SCRIPT_ARG0 } from '../protocol/wire.js';
import { checkRsyncServer, type RsyncPolicy } from './rsync.js';
import { splitWords } from './words.js';

/**
 * `till gate`'s decision: whether the command a client asked for (SSH_ORIGINAL_COMMAND)
 * is one of till's registered operations (src/protocol/registry.ts), every argument of
 * the right type, and how to run it without a shell parsing the line. main.ts runs it.
 */

/** Longer lines are refused unread (till's longest, the audit script, is a few KB). */
export const MAX_COMMAND_BYTES = 256 * 1024;

export type GateDecision =
  /** A registered line: run by /bin/sh as is. */
  | { kind: 'exact'; name: string; line: string }
  /** A registered script: /bin/sh -c SCRIPT till ARGS…, no shell parses the line. */
  | { kind: 'script'; name: string; script: string; args: string[]; root?: string }
  /** An upload: rsync with these arguments, no shell. */
  | { kind: 'rsync'; name: string; argv: string[]; root?: string }
  | { kind: 'refuse'; reason: string };

export type GatePolicy = Policy & Pick<RsyncPolicy, 'realpath'>;

/** Why the arguments are not what the version declares, or undefined. */
function argsProblem(version: AnyVersion, args: readonly string[], policy: Policy): string | undefined {
  for (let i = 0; i < args.length; i += 1) {
    const why = version.args[i]!.problem(args[i]!, policy);
    if (why !== undefined) return why;
  }
  return version.check?.(args, policy);
}

/** The deploy root (absolute) a script works on, when one of its arguments is one. */
function rootOf(version: AnyVersion, args: readonly string[], policy: Policy): string | undefined {
  const at = version.args.findIndex((t) => t.name === 'deploy root');
  return at === -1 ? undefined : expandHome(args[at]!, policy.home).replace(/\/+$/, '');
}

export function decide(line: string | undefined, policy: GatePolicy): GateDecision {
  if (line === undefined || line === '')
    return { kind: 'refuse', reason: 'no command (interactive logins are not allowed with this key)' };
  if (Buffer.byteLength(line) > MAX_COMMAND_BYTES)
    return { kind: 'refuse', reason: `command longer than ${MAX_COMMAND_BYTES} bytes` };
  const exact = GATE_LINES.get(line);
  if (exact !== undefined) return { kind: 'exact', name: exact.name, line };

  const split = splitWords(line);
  if (!split.ok) return { kind: 'refuse', reason: `not a till command: ${split.reason}` };
  const words = split.words;
  const first = words[0]!.text; // a line that is not empty has a word
  // A word flagged with an unquoted ~ starts with ~: never sh, -c, till or a script's text.
  if (first === 'sh') {
    if (words[1]?.text !== '-c' || words.length < 4 || words[3]!.text !== SCRIPT_ARG0) {
      return { kind: 'refuse', reason: 'a shell command that is not sent as sh -c SCRIPT till ARGS' };
    }
    const version = GATE_SCRIPTS.get(words[2]!.text);
    if (version === undefined) return { kind: 'refuse', reason: GATE_UNKNOWN_SCRIPT };
    if (version.retired !== undefined)
      return {
        kind: 'refuse',
        reason: `script ${version.name} is no longer allowed (${version.retired}): upgrade till on the controller`,
      };
    const args = words.slice(4);
    if (args.length !== version.args.length)
      return {
        kind: 'refuse',
        reason: `script ${version.name} takes ${version.args.length} arguments, got ${args.length}`,
      };
    if (args.some((a) => a.tilde))
      return { kind: 'refuse', reason: `script ${version.name}: an unquoted ~ in its arguments` };
    if (version.upgrade && !policy.upgrade)
      return { kind: 'refuse', reason: `gate.json says "upgrade": false: ${version.name} is not allowed` };
    const texts = args.map((a) => a.text);
    const why = argsProblem(version, texts, policy);
    if (why !== undefined) return { kind: 'refuse', reason: `script ${version.name}: ${why}` };
    const root = rootOf(version, texts, policy);
    return { kind: 'script', name: version.name, script: version.text, args: texts, ...(root ? { root } : {}) };
  }
  if (first === 'rsync') {
    const checked = checkRsyncServer(words, policy);
    if (!checked.ok) return { kind: 'refuse', reason: checked.reason };
    return {
      kind: 'rsync',
      name: checked.target === 'read' ? `rsync read of ${checked.dest}` : `rsync to ${checked.dest}`,
      argv: checked.argv,
      ...(checked.root !== undefined ? { root: checked.root } : {}),
    };
  }
  return { kind: 'refuse', reason: `${JSON.stringify(first)} is not one of till's operations` };
}

/** The policy for this home; a missing gate.json allows no deploy roots. A broken one is an error (the gate then refuses everything). */
export function loadPolicy(home: string): GatePolicy {
  const file = posix.join(home, '.till', 'gate.json');
  let raw: unknown = {};
  try {
    // Stryker disable next-line StringLiteral: JSON.parse reads a Buffer as UTF-8 text too
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${file}: ${(err as Error).message}`);
  }
  let gate;
  try {
    gate = parseGateFile(raw, home);
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
  return { home, ...gate, realpath: realpathDeepest };
}

/**
 * The real path of `path`, whose last components may not exist yet: the deepest
 * existing ancestor resolved, the rest appended. A dangling symlink on the way is an
 * error (rsync would follow it somewhere unknown).
 */
export function realpathDeepest(path: string): string {
  const rest: string[] = [];
  let current = path;
  for (;;) {
    try {
      return posix.join(realpathSync(current), ...rest.reverse());
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') throw err;
      let dangling = false;
      try {
        lstatSync(current);
        dangling = true;
      } catch {
        // it does not exist at all: look at its parent
      }
      if (dangling) throw new Error(`${current} is a dangling symlink`);
      const parent = posix.dirname(current);
      // Stryker disable next-line ConditionalExpression: / always resolves (the gate passes absolute paths only)
      if (parent === current) throw err;
      rest.push(posix.basename(current));
      current = parent;
    }
  }
}
