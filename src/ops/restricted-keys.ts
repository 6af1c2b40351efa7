import { remoteScript } from '../remote/script.js';
import { KEEP_MISSING, KEY_PRESENT } from '../ssh/authorized-keys.js';
import type { PublicKey } from './restrict.js';

/**
 * `host rotate-key` on a restricted host (docs/gate.md). The plain append/remove
 * scripts of ssh/authorized-keys.ts cannot pass the gate: they write any line they are
 * given. These two can, because they only ever handle lines in the one form till's
 * restrict script writes:
 *
 *   restrict,command="<home>/.till/bin/till gate" ssh-ed25519 <blob> [comment]
 *
 * The add script builds that line itself from a key type, blob and comment (so no
 * caller, not even one holding the key, can make it write an unrestricted line), and
 * changes no other line. The remove script removes only lines in that form, and only
 * while a line of the key to keep (in that form too) stays. The gate checks the values
 * first (allowlist.ts); the scripts check them again, for a run without the gate.
 */

/** Exit code of both scripts when the host has no till gate, or ~/.ssh/authorized_keys no line in till's restricted form. */
export const NOT_RESTRICTED = 12;
export { KEEP_MISSING, KEY_PRESENT };

const ED25519_TYPE = 'ssh-ed25519';
/** base64 of uint32 11, "ssh-ed25519", uint32 32: every ed25519 blob starts so. */
const ED25519_BLOB_HEAD = 'AAAAC3NzaC1lZDI1NTE5AAAAI';
const ED25519_BLOB_RE = /^AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]{43}$/;
const COMMENT_RE = /^[A-Za-z0-9@._+:-]*$/;
export const MAX_KEY_COMMENT = 200;

export function keyTypeProblem(type: string): string | undefined {
  return type === ED25519_TYPE
    ? undefined
    : `key type ${JSON.stringify(type)}: only ${ED25519_TYPE} keys are added through the gate`;
}

/** An ssh-ed25519 public key blob: 68 base64 characters that decode to the key's wire format. */
export function ed25519BlobProblem(blob: string): string | undefined {
  const bad = `${JSON.stringify(blob.length > 80 ? `${blob.slice(0, 80)}…` : blob)} is not an ssh-ed25519 public key blob`;
  if (!ED25519_BLOB_RE.test(blob)) return bad;
  const bytes = Buffer.from(blob, 'base64');
  if (bytes.length !== 51 || bytes.toString('base64') !== blob) return bad;
  if (
    bytes.readUInt32BE(0) !== 11 ||
    bytes.subarray(4, 15).toString('latin1') !== ED25519_TYPE ||
    bytes.readUInt32BE(15) !== 32
  )
    return bad;
  return undefined;
}

export function keyCommentProblem(comment: string): string | undefined {
  if (comment.length > MAX_KEY_COMMENT) return `key comment longer than ${MAX_KEY_COMMENT} characters`;
  return COMMENT_RE.test(comment)
    ? undefined
    : `key comment ${JSON.stringify(comment)} has characters other than A-Z a-z 0-9 @ . _ + : -`;
}

// The shell's version of the checks above (defence in depth: the script may run without a gate).
const CHECK_BLOB = (n: 1 | 2) => [
  `b=$${n}`,
  `case $b in ${ED25519_BLOB_HEAD}*) ;; *) echo "not an ssh-ed25519 key blob" >&2; exit 2;; esac`,
  'case $b in *[!A-Za-z0-9+/]*) echo "not an ssh-ed25519 key blob" >&2; exit 2;; esac',
  '[ ${#b} -eq 68 ] || { echo "not an ssh-ed25519 key blob" >&2; exit 2; }',
];

const HEAD = [
  'set -eu',
  'umask 077',
  'cd "$HOME"',
  "nl='",
  "'",
  'launcher="$HOME/.till/bin/till"',
  // No launcher, or a home no command="" can name: there is no gate here (the controller then uses the plain script).
  `[ -x "$launcher" ] || { echo "till is not set up on this host ($launcher is missing): there is no till gate to restrict a key to" >&2; exit ${NOT_RESTRICTED}; }`,
  `case $HOME in *'"'*|*'\\'*|*"$nl"*) echo "the home path $HOME cannot be written in an authorized_keys command=\\"\\"" >&2; exit ${NOT_RESTRICTED};; esac`,
  'f=.ssh/authorized_keys',
  // The options of till's restricted line, exactly as the restrict script writes them, and the space after them.
  'head="restrict,command=\\"$launcher gate\\" "',
  't=.ssh/.authorized_keys.till.$$',
];

const NO_TILL_LINE = `echo "~/.ssh/authorized_keys has no line in till's restricted form (restrict,command=\\"$launcher gate\\" <key>)" >&2`;

/**
 * $1 key type (ssh-ed25519), $2 blob, $3 comment ('' for none). Appends till's
 * restricted line for the key, unless a line in that form already carries it (exit
 * KEY_PRESENT). Refuses (NOT_RESTRICTED) when the file holds no till line in that form:
 * the host is not restricted through this file. Refuses when a line till did not write
 * carries the key. Every other line is copied as it is; the file is replaced by rename.
 * Frozen text: registered in the allowlist as `key-add`.
 */
export const RESTRICTED_KEY_ADD_SCRIPT = [
  ...HEAD,
  `[ "$1" = ${ED25519_TYPE} ] || { echo "not an ${ED25519_TYPE} key" >&2; exit 2; }`,
  ...CHECK_BLOB(2),
  `case $3 in *[!A-Za-z0-9@._+:-]*) echo "unusual key comment" >&2; exit 2;; esac`,
  `[ \${#3} -le ${MAX_KEY_COMMENT} ] || { echo "key comment too long" >&2; exit 2; }`,
  `[ -f "$f" ] || { ${NO_TILL_LINE}; exit ${NOT_RESTRICTED}; }`,
  'rc=0',
  // Till's lines are `head type blob [comment]`: their blob is the second word after head. Any other line carries the key if any of its words is the blob.
  `TILL_HEAD=$head TILL_BLOB=$2 TILL_LINE="$head$1 $2\${3:+ $3}" awk '{ print; if (index($0, ENVIRON["TILL_HEAD"]) == 1) { tills++; split(substr($0, length(ENVIRON["TILL_HEAD"]) + 1), k, /[ \\t]+/); if (k[2] == ENVIRON["TILL_BLOB"]) mine++ } else { n = split($0, w, /[ \\t]+/); for (i = 1; i <= n; i++) if (w[i] == ENVIRON["TILL_BLOB"]) other++ } } END { if (other) exit 13; if (mine) exit ${KEY_PRESENT}; if (!tills) exit ${NOT_RESTRICTED}; print ENVIRON["TILL_LINE"] }' "$f" > "$t" || rc=$?`,
  'case $rc in',
  '  0) chmod 600 "$t"; mv -f "$t" "$f"; echo TILL_KEY_ADDED ;;',
  `  ${KEY_PRESENT}) rm -f "$t"; echo TILL_KEY_PRESENT; exit ${KEY_PRESENT} ;;`,
  `  ${NOT_RESTRICTED}) rm -f "$t"; ${NO_TILL_LINE}; exit ${NOT_RESTRICTED} ;;`,
  `  13) rm -f "$t"; echo "the key is already in ~/.ssh/authorized_keys in a line till did not write; not changed" >&2; exit 3 ;;`,
  '  *) rm -f "$t"; echo "could not rewrite ~/.ssh/authorized_keys" >&2; exit 1 ;;',
  'esac',
].join('\n');

/**
 * $1 the blob to keep, $2 the blob to remove. Removes till's restricted lines of $2,
 * only while a restricted line of $1 is there (else KEEP_MISSING, nothing changed).
 * A line that carries $2 in another form is not till's: it stays, and is counted
 * (TILL_KEY_FOREIGN), as are till-form lines of other keys (TILL_GATE_KEYS_OTHER).
 * Frozen text: registered in the allowlist as `key-remove`.
 */
export const RESTRICTED_KEY_REMOVE_SCRIPT = [
  ...HEAD,
  ...CHECK_BLOB(1),
  ...CHECK_BLOB(2),
  '[ "$1" != "$2" ] || { echo "the key to keep is the key to remove" >&2; exit 2; }',
  `[ -f "$f" ] || { ${NO_TILL_LINE}; exit ${NOT_RESTRICTED}; }`,
  'rc=0',
  `TILL_HEAD=$head TILL_KEEP=$1 TILL_DROP=$2 TILL_OUT=$t awk 'BEGIN { h = ENVIRON["TILL_HEAD"]; out = ENVIRON["TILL_OUT"]; printf "" > out } { if (index($0, h) == 1) { tills++; split(substr($0, length(h) + 1), k, /[ \\t]+/); if (k[2] == ENVIRON["TILL_DROP"]) { dropped++; next } if (k[2] == ENVIRON["TILL_KEEP"]) keep++; else others++ } else { n = split($0, w, /[ \\t]+/); for (i = 1; i <= n; i++) if (w[i] == ENVIRON["TILL_DROP"]) { foreign++; break } } print > out } END { printf "TILL_KEY_REMOVED %d\\nTILL_KEY_FOREIGN %d\\nTILL_GATE_KEYS_OTHER %d\\n", dropped, foreign, others; if (!tills) exit ${NOT_RESTRICTED}; if (!keep) exit ${KEEP_MISSING}; if (!dropped) exit 14 }' "$f" || rc=$?`,
  'case $rc in',
  '  0) chmod 600 "$t"; mv -f "$t" "$f" ;;',
  '  14) rm -f "$t" ;;',
  `  ${KEEP_MISSING}) rm -f "$t"; echo "till's restricted line of the key to keep is not in ~/.ssh/authorized_keys; nothing removed" >&2; exit ${KEEP_MISSING} ;;`,
  `  ${NOT_RESTRICTED}) rm -f "$t"; ${NO_TILL_LINE}; exit ${NOT_RESTRICTED} ;;`,
  '  *) rm -f "$t"; echo "could not rewrite ~/.ssh/authorized_keys" >&2; exit 1 ;;',
  'esac',
  'echo TILL_KEYS_DONE',
].join('\n');

/** The key's comment if the gate would take it, else none (the comment is only a label). */
function gateComment(comment: string): string {
  return keyCommentProblem(comment) === undefined ? comment : '';
}

export function restrictedKeyAddCommand(key: PublicKey): string {
  return remoteScript(RESTRICTED_KEY_ADD_SCRIPT, [key.type, key.blob, gateComment(key.comment)]);
}

export function restrictedKeyRemoveCommand(keepBlob: string, dropBlob: string): string {
  return remoteScript(RESTRICTED_KEY_REMOVE_SCRIPT, [keepBlob, dropBlob]);
}

export interface RemoveReport {
  removed: number;
  /** Lines carrying the removed key that till did not write: left in place. */
  foreign: number;
  /** till-form lines of keys other than these two. */
  otherRestricted: number;
}

export function parseRemoveReport(stdout: string): RemoveReport {
  const num = (tag: string) => Number(new RegExp(`^TILL_${tag} (\\d+)$`, 'm').exec(stdout)?.[1] ?? 0);
  return { removed: num('KEY_REMOVED'), foreign: num('KEY_FOREIGN'), otherRestricted: num('GATE_KEYS_OTHER') };
}
