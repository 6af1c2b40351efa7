import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { posix } from 'node:path';
import { ARG, parseGateFile, type Policy } from '../protocol/args.js';
import { CHECKS } from '../protocol/checks.js';
import { GATE_TABLE } from '../protocol/gate-table.js';
import {
  expandHome,
  GATE_KEY_FILE_MANAGED,
  GATE_UNKNOWN_SCRIPT,
  SCRIPT_ARG0,
  type GateEntry,
} from '../protocol/wire.js';
import { checkRsyncServer, type RsyncPolicy } from './rsync.js';
import { splitWords } from './words.js';

/**
 * `till gate`'s decision: whether the command a client asked for (SSH_ORIGINAL_COMMAND)
 * is one of till's registered operations, every argument of the right type, and how to
 * run it without a shell parsing the line. main.ts runs it. What is registered comes
 * from src/protocol/gate-table.ts (generated from the registry): the sha256 of each text
 * a gate knows, with its name, form, argument types and flags; a text is looked up by
 * its hash, and the text the client sent (equal to the registered one) is what runs.
 */

/** Longer lines are refused unread (till's longest, the audit script, is a few KB). */
export const MAX_COMMAND_BYTES = 256 * 1024;

export type GateDecision =
  /** A registered line: run by /bin/sh as is. */
  | { kind: 'exact'; name: string; line: string }
  /** A registered script: /bin/sh -c SCRIPT till ARGS…, no shell parses the line. */
  | { kind: 'script'; name: string; script: string; args: string[]; root?: string }
  /** An upload: rsync with these arguments, no shell; `notes`: what the gate changed in them, said on stderr and logged. */
  | {
      kind: 'rsync';
      name: string;
      argv: string[];
      root?: string;
      notes?: string[];
      logNotes?: string[];
      /** The release folder an upload goes into, made by the gate before rsync runs (RsyncCheck). */
      release?: string;
    }
  /** `detail`: for the log only (what the key is not told). */
  | { kind: 'refuse'; reason: string; detail?: string };

export type GatePolicy = Policy & Pick<RsyncPolicy, 'realpath' | 'outwardLink'>;

/**
 * Ends a refusal whose cause the key is not told: what the gate met (a file's content,
 * errno text, paths the key did not name) is the `detail`, written to the log only.
 */
export const OWNER_FINDS_WHY = 'its owner finds why in ~/.till/logs/gate.log';

/**
 * The refusal of every command while gate.json cannot be used: unreadable, not JSON, or
 * a field that fails the check, all in the same words (the parse error may quote the
 * file). `till host doctor` recognises the `gate configuration` prefix.
 */
export const GATE_CONFIG_REFUSAL = `gate configuration: ~/.till/gate.json cannot be used; ${OWNER_FINDS_WHY}`;

/** The refusal of a command whose check met an error (a path that changed under it, a loop, a folder it cannot read). */
export const UNCHECKED_REFUSAL = `the command could not be checked on this host; ${OWNER_FINDS_WHY}`;

/** The registered version of this form whose text is `text`, if any. */
function lookUp(text: string, form: GateEntry['form']): GateEntry | undefined {
  const entry = GATE_TABLE.get(createHash('sha256').update(text).digest('hex'));
  return entry?.form === form ? entry : undefined;
}

/** Why the arguments are not what the version declares, or undefined. */
function argsProblem(entry: GateEntry, args: readonly string[], policy: Policy): string | undefined {
  for (let i = 0; i < args.length; i += 1) {
    const why = ARG[entry.args[i]!].problem(args[i]!, policy);
    if (why !== undefined) return why;
  }
  return entry.check === undefined ? undefined : CHECKS[entry.check](args);
}

/** The deploy root (absolute) a script works on, when one of its arguments is one. */
function rootOf(entry: GateEntry, args: readonly string[], policy: Policy): string | undefined {
  const at = entry.args.indexOf('deployRoot');
  return at === -1 ? undefined : expandHome(args[at]!, policy.home).replace(/\/+$/, '');
}

/**
 * decide(), with an error it throws (a real path that changed between two looks, a loop,
 * a folder it cannot read) turned into UNCHECKED_REFUSAL: the key is not told the errno
 * text or the path; the log is.
 */
export function decideOrRefuse(line: string | undefined, policy: GatePolicy): GateDecision {
  try {
    return decide(line, policy);
  } catch (err) {
    return { kind: 'refuse', reason: UNCHECKED_REFUSAL, detail: (err as Error).message };
  }
}

export function decide(line: string | undefined, policy: GatePolicy): GateDecision {
  if (line === undefined || line === '')
    return { kind: 'refuse', reason: 'no command (interactive logins are not allowed with this key)' };
  if (Buffer.byteLength(line) > MAX_COMMAND_BYTES)
    return { kind: 'refuse', reason: `command longer than ${MAX_COMMAND_BYTES} bytes` };
  const exact = lookUp(line, 'line');
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
    const script = words[2]!.text;
    const entry = lookUp(script, 'script');
    if (entry === undefined) return { kind: 'refuse', reason: GATE_UNKNOWN_SCRIPT };
    if (entry.retired !== undefined)
      return {
        kind: 'refuse',
        reason: `script ${entry.name} is no longer allowed (${entry.retired}): upgrade till on the controller`,
      };
    const args = words.slice(4);
    if (args.length !== entry.args.length)
      return {
        kind: 'refuse',
        reason: `script ${entry.name} takes ${entry.args.length} arguments, got ${args.length}`,
      };
    if (args.some((a) => a.tilde))
      return { kind: 'refuse', reason: `script ${entry.name}: an unquoted ~ in its arguments` };
    if (entry.upgrade && !policy.upgrade)
      return { kind: 'refuse', reason: `gate.json says "upgrade": false: ${entry.name} is not allowed` };
    const texts = args.map((a) => a.text);
    const why = argsProblem(entry, texts, policy);
    if (why !== undefined) return { kind: 'refuse', reason: `script ${entry.name}: ${why}` };
    const root = rootOf(entry, texts, policy);
    if (root !== undefined && entry.name.startsWith('deploy-prepare') && isPlainFolder(root))
      return { kind: 'refuse', reason: `script ${entry.name}: ${adoptRefusal(root)}` };
    const shared = root !== undefined ? sharedThroughLink(entry, texts, root) : undefined;
    if (shared !== undefined)
      return { kind: 'refuse', reason: `script ${entry.name}: ${shared.reason}`, detail: shared.detail };
    const keys = KEY_FILE_SCRIPTS.has(entry.name) ? keyFileProblem(policy.home, entry.name) : undefined;
    if (keys !== undefined)
      return { kind: 'refuse', reason: `script ${entry.name}: ${keys.reason}`, detail: keys.detail };
    return { kind: 'script', name: entry.name, script, args: texts, ...(root ? { root } : {}) };
  }
  if (first === 'rsync') {
    const checked = checkRsyncServer(words, policy);
    if (!checked.ok)
      return {
        kind: 'refuse',
        reason: checked.reason,
        ...(checked.detail !== undefined ? { detail: checked.detail } : {}),
      };
    return {
      kind: 'rsync',
      name: checked.target === 'read' ? `rsync read of ${checked.dest}` : `rsync to ${checked.dest}`,
      argv: checked.argv,
      ...(checked.root !== undefined ? { root: checked.root } : {}),
      ...(checked.notes !== undefined ? { notes: checked.notes, logNotes: checked.logNotes ?? checked.notes } : {}),
      ...(checked.release !== undefined ? { release: checked.release } : {}),
    };
  }
  const named = first.length > 80 ? `${first.slice(0, 80)}…` : first;
  return { kind: 'refuse', reason: `${JSON.stringify(named)} is not one of till's operations` };
}

/** A real folder, not a symlink (lstat): what a prepare would adopt as the first release. */
function isPlainFolder(path: string): boolean {
  try {
    return lstatSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Why the gate never lets a prepare adopt a plain folder at the deploy root: adoption
 * moves the folder into a release the key may already have uploaded, then moves its
 * shared paths into `<root>.till/shared` through whatever links that upload planted (a
 * chain of such steps wrote ~/.bashrc and ~/.ssh/authorized_keys2). The owner adopts it
 * with their own access, or moves it aside.
 */
export function adoptRefusal(root: string): string {
  return `${root} is a folder till did not deploy (not a link to a release): the gate does not adopt it. On the host, move it aside (mv ${root} ${root}.pre-till) and deploy again, or deploy to it once with an unrestricted key before restricting it (docs/gate.md)`;
}

/**
 * Why a script's shared paths cannot be used under `<root>.till/shared`: one passes
 * through a symlink there (or something that is not a folder) before its last part. The
 * switch makes each shared path with `mkdir -p`, which follows such a link: through a
 * link the owner made (`logs -> /var/log/app`) a key could make folders wherever it
 * leads. A shared path that is itself the owner's link stays allowed (nothing is made
 * through it). The key is told one sentence whatever stopped it (a link, a file, an
 * error looking): which part, and what it is, are for the log.
 */
function sharedThroughLink(
  entry: GateEntry,
  args: readonly string[],
  root: string,
): { reason: string; detail: string } | undefined {
  const at = entry.args.indexOf('sharedPaths');
  if (at === -1) return undefined;
  const base = `${root}.till/shared`;
  for (const s of args[at]!.split(' ').filter((p) => p !== '')) {
    const parts = s.split('/');
    const reason = `shared path ${s} cannot be made inside ${base}: something on its way there is not a plain folder (a link the owner made there is used only as a whole shared path)`;
    for (let i = 1; i < parts.length; i += 1) {
      const path = `${base}/${parts.slice(0, i).join('/')}`;
      let st;
      try {
        st = lstatSync(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') break; // not there: mkdir -p makes real folders from here on
        return { reason, detail: (err as Error).message };
      }
      if (st.isSymbolicLink() || !st.isDirectory())
        return { reason, detail: `${path} is ${st.isSymbolicLink() ? 'a symlink' : 'not a folder'}` };
    }
  }
  return undefined;
}

/**
 * The scripts a gate runs that rewrite ~/.ssh/authorized_keys (a new file renamed over it)
 * whatever the file is. Their successors (restrict-v3, key-add-v2, key-remove-v2) check
 * the file themselves, at the moment they would rewrite it, and leave it alone when it
 * already says what they would write: so a till line the owner edited into a managed
 * file by hand is taken as it is (key-add finds the key present, restrict finds the line
 * restricted), which a refusal here would not allow.
 */
const KEY_FILE_SCRIPTS: ReadonlySet<string> = new Set(['key-add', 'key-remove', 'restrict-v2']);

/**
 * Why the key scripts must not rewrite this home's authorized_keys: it is a symlink, or
 * has other hard links (a file managed elsewhere, which the owner edits to revoke keys).
 * Renaming a new file over it would cut it loose from that file: a revocation there would
 * no longer reach this host, for till's key and any key it added. The key is told one
 * sentence for both; which one it is goes to the log.
 */
export function keyFileProblem(home: string, script: string): { reason: string; detail: string } | undefined {
  const file = posix.join(home, '.ssh', 'authorized_keys');
  let st;
  try {
    st = lstatSync(file);
  } catch {
    return undefined; // none yet: the scripts say so themselves
  }
  const instead =
    script === 'restrict-v2'
      ? "edit ~/.till/gate.json and till's key line on this host by hand"
      : "change till's key line on this host by hand (the old key stays authorized until then)";
  if (!st.isSymbolicLink() && st.nlink <= 1) return undefined;
  return {
    reason: `${file} ${GATE_KEY_FILE_MANAGED}: rewriting it would cut it loose from that file; ${instead} (docs/gate.md)`,
    detail: st.isSymbolicLink() ? 'it is a symlink' : `it has ${st.nlink} hard links`,
  };
}

/**
 * The policy for this home; a missing gate.json allows no deploy roots. A broken one is
 * an error, whose message may quote the file (the gate then refuses everything with
 * GATE_CONFIG_REFUSAL, and logs the message).
 */
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
  return { home, ...gate, realpath: realpathDeepest, outwardLink };
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

/** More entries than this in a --link-dest tree (and the folders its links reach) are not looked through: the link-dest is then not used. */
export const MAX_LINK_DEST_ENTRIES = 200_000;

/**
 * The first symlink inside `tree` whose real path is a folder outside every folder of
 * `within`, or a folder the gate cannot list (rsync could still pass through it by
 * name); undefined when there is none. The walk follows no link itself, but a link to a
 * folder inside `within` is walked too (at its real path, once): rsync's lookup passes
 * through it, and what lies there (`s -> ../<another release>` holding `x -> ~/.ssh`)
 * counts as if it were in the tree. A dangling symlink leads nowhere a lookup could pass,
 * and a symlink to a file is not followed by rsync's lookup of a --link-dest file (only
 * folders on the way are).
 */
export function outwardLink(tree: string, within: readonly string[]): string | undefined {
  const inside = (real: string) => within.some((w) => real === w || real.startsWith(`${w}/`));
  const start = tree.replace(/\/+$/, '');
  const folders = [start];
  const walked = new Set<string>();
  try {
    walked.add(realpathSync(start));
  } catch (err) {
    return `${start} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`;
  }
  let entries = 0;
  for (let dir = folders.pop(); dir !== undefined; dir = folders.pop()) {
    let names;
    try {
      names = readdirSync(dir, { withFileTypes: true });
    } catch (err) {
      return `${dir} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`;
    }
    entries += names.length;
    if (entries > MAX_LINK_DEST_ENTRIES) return `${start} (more than ${MAX_LINK_DEST_ENTRIES} entries to look through)`;
    for (const e of names) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory()) folders.push(path);
      else if (e.isSymbolicLink()) {
        let real: string;
        try {
          real = realpathSync(path);
          if (!statSync(real).isDirectory()) continue;
        } catch {
          continue; // dangling, or a loop: no lookup passes through it
        }
        if (!inside(real)) return `${path} -> ${real}`;
        // A folder rsync's lookup reaches through this link: look through it as well, once.
        if (!walked.has(real)) {
          walked.add(real);
          folders.push(real);
        }
      }
    }
  }
  return undefined;
}
