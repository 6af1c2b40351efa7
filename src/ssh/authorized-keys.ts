import { KEEP_MISSING, KEY_PRESENT } from '../protocol/keys.js';
import { shJoin } from '../protocol/quote.js';

/**
 * Remote edits of `~/.ssh/authorized_keys`, as POSIX sh scripts that take every value
 * as a quoted positional argument (`sh -c SCRIPT name ARG…`): nothing is pasted into
 * the script. Keys are matched by their base64 blob, whatever options or comment a
 * line carries. Each script is one line without `!`, so a csh or fish login shell
 * passes it to sh unchanged.
 */

/** The exit codes these scripts share with the restricted ones of src/protocol/keys.ts. */
export { KEEP_MISSING, KEY_PRESENT };

// awk: exit 0 when any field of any line equals the blob b.
const HAS = `awk -v b="$1" '{for(i=1;i<=NF;i++) if($i==b) found=1} END{if(found) exit 0; exit 1}' "$2"`;

/**
 * $1 the key line, $2 its blob. Creates ~/.ssh (0700) and the file (0600) if needed,
 * adds a newline if the file lacks a final one, appends the line unless the blob is
 * already present (then exits KEY_PRESENT).
 */
export const APPEND_KEY_SCRIPT = [
  'set -eu',
  'umask 077',
  'line=$1',
  'blob=$2',
  'cd "$HOME"',
  `has() { ${HAS}; }`,
  'f=.ssh/authorized_keys',
  'if [ -d .ssh ]; then :; else mkdir -m 700 .ssh; fi',
  `if [ -f "$f" ] && has "$blob" "$f"; then exit ${KEY_PRESENT}; fi`,
  'if [ -s "$f" ] && [ -n "$(tail -c 1 "$f")" ]; then printf "\\n" >> "$f"; fi',
  'printf "%s\\n" "$line" >> "$f"',
].join('; ');

/**
 * $1 the blob to keep, $2 the blob to remove. Removes every line carrying $2, but only
 * when a line carrying $1 is there before and after (else exits KEEP_MISSING and
 * changes nothing). The new file replaces the old by rename: either one is complete.
 */
export const REMOVE_KEY_SCRIPT = [
  'set -eu',
  'umask 077',
  'keep=$1',
  'drop=$2',
  'cd "$HOME"',
  `has() { ${HAS}; }`,
  'f=.ssh/authorized_keys',
  `if [ -f "$f" ] && has "$keep" "$f"; then :; else exit ${KEEP_MISSING}; fi`,
  'if has "$drop" "$f"; then :; else exit 0; fi',
  't=.ssh/.authorized_keys.till.$$',
  `awk -v b="$drop" '{k=1; for(i=1;i<=NF;i++) if($i==b) k=0} k' "$f" > "$t"`,
  `if has "$keep" "$t"; then :; else rm -f "$t"; exit ${KEEP_MISSING}; fi`,
  'chmod 600 "$t"',
  'mv -f "$t" "$f"',
].join('; ');

export function appendKeyCommand(line: string, blob: string): string {
  return shJoin(['sh', '-c', APPEND_KEY_SCRIPT, 'till-authorize', line, blob]);
}

export function removeKeyCommand(keepBlob: string, dropBlob: string): string {
  return shJoin(['sh', '-c', REMOVE_KEY_SCRIPT, 'till-rotate-key', keepBlob, dropBlob]);
}
