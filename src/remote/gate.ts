import { lstatSync, readFileSync, realpathSync } from 'node:fs';
import { posix } from 'node:path';
import { GATE_REFUSED, GATE_UNKNOWN_SCRIPT } from '../ssh/outcome.js';
import { EXACT_COMMANDS, SCRIPTS, type AllowedScript } from './allowlist.js';
import { parseGateFile } from './gate-file.js';
import { checkRsyncServer, type RsyncPolicy } from './rsync-server.js';
import { SCRIPT_ARG0 } from './script.js';
import { splitWords } from './words.js';

/**
 * `till gate`, the forced command of a restricted key: decides whether the command a
 * client asked for (SSH_ORIGINAL_COMMAND) is one of till's own, and how to run it
 * without a shell parsing the line. Pure here; cli/commands/gate.ts runs the decision.
 */
export { GATE_REFUSED };

/** Longer lines are refused unread (till's longest, the audit script, is a few KB). */
export const MAX_COMMAND_BYTES = 256 * 1024;

export type GateDecision =
  /** A known constant line: run by /bin/sh as is. */
  | { kind: 'exact'; name: string; line: string }
  /** A registered script: /bin/sh -c SCRIPT till ARGS…, no shell parses the line. */
  | { kind: 'script'; name: string; script: string; args: string[] }
  /** An upload: rsync with these arguments, no shell. */
  | { kind: 'rsync'; name: string; argv: string[] }
  | { kind: 'refuse'; reason: string };

export type GatePolicy = RsyncPolicy & {
  /** Commands a registered script may run as a value (gate.json "checks", e.g. a deploy's --check). */
  checks: readonly string[];
};

export function decide(
  line: string | undefined,
  policy: GatePolicy,
  scripts: readonly AllowedScript[] = SCRIPTS,
): GateDecision {
  if (line === undefined || line === '')
    return { kind: 'refuse', reason: 'no command (interactive logins are not allowed with this key)' };
  if (Buffer.byteLength(line) > MAX_COMMAND_BYTES)
    return { kind: 'refuse', reason: `command longer than ${MAX_COMMAND_BYTES} bytes` };
  const exact = EXACT_COMMANDS.get(line);
  if (exact !== undefined) return { kind: 'exact', name: exact, line };

  const split = splitWords(line);
  if (!split.ok) return { kind: 'refuse', reason: `not a till command: ${split.reason}` };
  const words = split.words;
  const first = words[0]?.text;
  if (first === 'sh' && !words[0]!.tilde) {
    if (
      words[1]?.text !== '-c' ||
      words[1].tilde ||
      words.length < 4 ||
      words[3]!.text !== SCRIPT_ARG0 ||
      words[3]!.tilde
    ) {
      return { kind: 'refuse', reason: 'a shell command that is not sent as sh -c SCRIPT till ARGS' };
    }
    const allowed = scripts.find((s) => s.script === words[2]!.text);
    if (!allowed || words[2]!.tilde) return { kind: 'refuse', reason: GATE_UNKNOWN_SCRIPT };
    const args = words.slice(4);
    if (args.length !== allowed.args)
      return { kind: 'refuse', reason: `script ${allowed.name} takes ${allowed.args} arguments, got ${args.length}` };
    if (args.some((a) => a.tilde))
      return { kind: 'refuse', reason: `script ${allowed.name}: an unquoted ~ in its arguments` };
    if (allowed.upgrade && !policy.upgrade)
      return { kind: 'refuse', reason: `gate.json says "upgrade": false: ${allowed.name} is not allowed` };
    const why = allowed.validate?.(
      args.map((a) => a.text),
      policy,
    );
    if (why !== undefined) return { kind: 'refuse', reason: `script ${allowed.name}: ${why}` };
    return { kind: 'script', name: allowed.name, script: allowed.script, args: args.map((a) => a.text) };
  }
  if (first === 'rsync') {
    const checked = checkRsyncServer(words, policy);
    if (!checked.ok) return { kind: 'refuse', reason: checked.reason };
    return { kind: 'rsync', name: `rsync to ${checked.dest}`, argv: checked.argv };
  }
  return { kind: 'refuse', reason: `${JSON.stringify(first ?? '')} is not one of till's operations` };
}

/** The policy for this home; a missing gate.json allows no deploy roots. A broken one is an error (the gate then refuses everything). */
export function loadPolicy(home: string): GatePolicy {
  const file = posix.join(home, '.till', 'gate.json');
  let raw: unknown = {};
  try {
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
      if (parent === current) throw err;
      rest.push(posix.basename(current));
      current = parent;
    }
  }
}
