import { ARG } from './args.js';
import { frozen, oneLine, parseMarkers, type Operation } from './wire.js';

/**
 * Edits of till's line in `~/.ssh/authorized_keys` that a restricted key may make:
 * `host setup --restrict` (restrict) and `host rotate-key` on a restricted host
 * (key-add, key-remove). The key scripts handle only lines in the one form the
 * restrict script writes:
 *
 *   restrict,command="<home>/.till/bin/till gate" ssh-ed25519 <blob> [comment]
 *
 * key-add builds that line itself from a key type, blob and comment (so no caller, not
 * even one holding the key, can make it write an unrestricted line) and changes no
 * other line; key-remove removes only lines in that form, and only while a line of the
 * key to keep (in that form too) stays. The gate checks every value by its type first;
 * the scripts check them again, for a run without the gate.
 */

/** Exit code of key-add (and the plain append script) when the key was already there. */
export const KEY_PRESENT = 10;
/** Exit code of key-remove (and the plain remove script) when the key to keep is not there: nothing removed. */
export const KEEP_MISSING = 11;
/** Exit code of both key scripts when the host has no till gate, or ~/.ssh/authorized_keys no line in till's restricted form. */
export const NOT_RESTRICTED = 12;
/**
 * Exit code of restrict-v3, key-add-v2, key-remove-v2, key-append-v2 and key-drop-v2 when
 * they would have to rewrite ~/.ssh/authorized_keys but it is a symlink or has other hard
 * links (a file managed elsewhere): nothing changed. A rename over it would replace the
 * link with a copy, and a revocation in the managed file would no longer reach the host.
 */
export const KEY_FILE_MANAGED = 15;
/** What those scripts say on stderr then (each text spells it out: a frozen text is literal). */
export const KEY_FILE_MANAGED_SAYS =
  '~/.ssh/authorized_keys is a symlink or has other hard links (a file managed elsewhere): till does not replace it with a copy; nothing changed';

export interface PublicKey {
  type: string;
  blob: string;
  comment: string;
}

export interface RestrictParams {
  key: PublicKey;
  /** gate.json's text, one line. */
  gateJson: string;
}

/**
 * Rewrites till's line (found by its blob) to the restricted form, drops duplicates,
 * and writes ~/.till/gate.json. Through the gate (a host already restricted) the new
 * gate.json may keep or narrow the host's policy, never widen it (the gateJson type),
 * and since v2 only a line already in till's restricted form is rewritten (v1 turned
 * any line carrying the blob it was given, an operator's own, into a gated one).
 * Prints TILL_RESTRICTED.
 */
export const restrict: Operation<RestrictParams, boolean> = {
  name: 'restrict',
  versions: [
    {
      name: 'restrict-v3',
      form: 'script',
      text: frozen(`
set -e
umask 077
cd "$HOME"
nl='
'
launcher="$HOME/.till/bin/till"
[ -x "$launcher" ] || { echo "till is not set up on this host ($launcher is missing): run till host setup first" >&2; exit 3; }
case $HOME in *'"'*|*'\\'*|*"$nl"*) echo "the home path $HOME cannot be written in an authorized_keys command=\\"\\"" >&2; exit 3;; esac
case $1 in ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|sk-ssh-ed25519@openssh.com|sk-ecdsa-sha2-nistp256@openssh.com) ;; *) echo "not a key type: $1" >&2; exit 2;; esac
case $2 in ''|*[!A-Za-z0-9+/=]*) echo "not a key blob" >&2; exit 2;; esac
case $3 in *[!A-Za-z0-9@._+:-]*) echo "unusual key comment" >&2; exit 2;; esac
case $4 in '{'*'}') ;; *) echo "gate.json must be a JSON object" >&2; exit 2;; esac
case $4 in *"$nl"*) echo "gate.json must be one line" >&2; exit 2;; esac
f=.ssh/authorized_keys
[ -f "$f" ] || { echo "no ~/.ssh/authorized_keys here" >&2; exit 3; }
head="restrict,command=\\"$launcher gate\\" "
line="$head$1 $2\${3:+ $3}"
t=.ssh/.authorized_keys.till.$$
# Through till gate (TILL_GATE=1) only a line already in till's restricted form is rewritten: the key is restricted already, and a line of anyone else's key is not the gate's to touch.
if ! TILL_ONLY=\${TILL_GATE:-} TILL_HEAD=$head TILL_BLOB=$2 TILL_LINE=$line awk '{ hit = 0; if (ENVIRON["TILL_ONLY"] != "1") { n = split($0, w, /[ \\t]+/); for (i = 1; i <= n; i++) if (w[i] == ENVIRON["TILL_BLOB"]) hit = 1 } else if (index($0, ENVIRON["TILL_HEAD"]) == 1) { split(substr($0, length(ENVIRON["TILL_HEAD"]) + 1), k, /[ \\t]+/); if (k[2] == ENVIRON["TILL_BLOB"]) hit = 1 } } hit && done { next } hit { print ENVIRON["TILL_LINE"]; done = 1; next } { print } END { if (!done) exit 4 }' "$f" > "$t"; then
  rm -f "$t"
  if [ "\${TILL_GATE:-}" = 1 ]; then echo "till's restricted line of this key is not in ~/.ssh/authorized_keys (through till gate only that line is rewritten)" >&2; exit 3; fi
  echo "till's key is not in ~/.ssh/authorized_keys (is it authorized through another file?)" >&2; exit 3
fi
# A symlink, or a file with other hard links, is managed elsewhere: a rename over it would replace the link with a copy that a revocation in the managed file no longer reaches. Left as it is when it already says what this would write; otherwise nothing changes, gate.json neither.
if [ -L "$f" ] || [ -n "$(find "$f" -links +1)" ]; then
  if cmp -s "$t" "$f"; then rm -f "$t"; t=; else rm -f "$t"; echo "~/.ssh/authorized_keys is a symlink or has other hard links (a file managed elsewhere): till does not replace it with a copy; nothing changed" >&2; exit 15; fi
fi
g=.till/gate.json.till.$$
printf '%s\\n' "$4" > "$g"
mv -f "$g" .till/gate.json
if [ -n "$t" ]; then chmod 600 "$t"; mv -f "$t" "$f"; fi
echo TILL_RESTRICTED
`),
      args: [ARG.keyType, ARG.keyBlob, ARG.keyComment, ARG.gateJson],
      encode: (p) => [p.key.type, p.key.blob, p.key.comment, p.gateJson],
      check: 'blobOfType',
    },
    {
      name: 'restrict-v2',
      form: 'script',
      text: frozen(`
set -e
umask 077
cd "$HOME"
nl='
'
launcher="$HOME/.till/bin/till"
[ -x "$launcher" ] || { echo "till is not set up on this host ($launcher is missing): run till host setup first" >&2; exit 3; }
case $HOME in *'"'*|*'\\'*|*"$nl"*) echo "the home path $HOME cannot be written in an authorized_keys command=\\"\\"" >&2; exit 3;; esac
case $1 in ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|sk-ssh-ed25519@openssh.com|sk-ecdsa-sha2-nistp256@openssh.com) ;; *) echo "not a key type: $1" >&2; exit 2;; esac
case $2 in ''|*[!A-Za-z0-9+/=]*) echo "not a key blob" >&2; exit 2;; esac
case $3 in *[!A-Za-z0-9@._+:-]*) echo "unusual key comment" >&2; exit 2;; esac
case $4 in '{'*'}') ;; *) echo "gate.json must be a JSON object" >&2; exit 2;; esac
case $4 in *"$nl"*) echo "gate.json must be one line" >&2; exit 2;; esac
f=.ssh/authorized_keys
[ -f "$f" ] || { echo "no ~/.ssh/authorized_keys here" >&2; exit 3; }
head="restrict,command=\\"$launcher gate\\" "
line="$head$1 $2\${3:+ $3}"
t=.ssh/.authorized_keys.till.$$
# Through till gate (TILL_GATE=1) only a line already in till's restricted form is rewritten: the key is restricted already, and a line of anyone else's key is not the gate's to touch.
if ! TILL_ONLY=\${TILL_GATE:-} TILL_HEAD=$head TILL_BLOB=$2 TILL_LINE=$line awk '{ hit = 0; if (ENVIRON["TILL_ONLY"] != "1") { n = split($0, w, /[ \\t]+/); for (i = 1; i <= n; i++) if (w[i] == ENVIRON["TILL_BLOB"]) hit = 1 } else if (index($0, ENVIRON["TILL_HEAD"]) == 1) { split(substr($0, length(ENVIRON["TILL_HEAD"]) + 1), k, /[ \\t]+/); if (k[2] == ENVIRON["TILL_BLOB"]) hit = 1 } } hit && done { next } hit { print ENVIRON["TILL_LINE"]; done = 1; next } { print } END { if (!done) exit 4 }' "$f" > "$t"; then
  rm -f "$t"
  if [ "\${TILL_GATE:-}" = 1 ]; then echo "till's restricted line of this key is not in ~/.ssh/authorized_keys (through till gate only that line is rewritten)" >&2; exit 3; fi
  echo "till's key is not in ~/.ssh/authorized_keys (is it authorized through another file?)" >&2; exit 3
fi
g=.till/gate.json.till.$$
printf '%s\\n' "$4" > "$g"
mv -f "$g" .till/gate.json
chmod 600 "$t"
mv -f "$t" "$f"
echo TILL_RESTRICTED
`),
      args: [ARG.keyType, ARG.keyBlob, ARG.keyComment, ARG.gateJson],
      encode: (p) => [p.key.type, p.key.blob, p.key.comment, p.gateJson],
      check: 'blobOfType',
    },
    {
      name: 'restrict',
      form: 'script',
      text: frozen(`
set -e
umask 077
cd "$HOME"
nl='
'
launcher="$HOME/.till/bin/till"
[ -x "$launcher" ] || { echo "till is not set up on this host ($launcher is missing): run till host setup first" >&2; exit 3; }
case $HOME in *'"'*|*'\\'*|*"$nl"*) echo "the home path $HOME cannot be written in an authorized_keys command=\\"\\"" >&2; exit 3;; esac
case $1 in ssh-*|ecdsa-*|sk-*) ;; *) echo "not a key type: $1" >&2; exit 2;; esac
case $2 in ''|*[!A-Za-z0-9+/=]*) echo "not a key blob" >&2; exit 2;; esac
case $3 in *[!A-Za-z0-9@._+:-]*) echo "unusual key comment" >&2; exit 2;; esac
case $4 in '{'*'}') ;; *) echo "gate.json must be a JSON object" >&2; exit 2;; esac
case $4 in *"$nl"*) echo "gate.json must be one line" >&2; exit 2;; esac
f=.ssh/authorized_keys
[ -f "$f" ] || { echo "no ~/.ssh/authorized_keys here" >&2; exit 3; }
printf '%s\\n' "$4" > .till/gate.json.new
mv -f .till/gate.json.new .till/gate.json
line="restrict,command=\\"$launcher gate\\" $1 $2\${3:+ $3}"
if ! TILL_BLOB=$2 TILL_LINE=$line awk '{ hit = 0; n = split($0, w, /[ \\t]+/); for (i = 1; i <= n; i++) if (w[i] == ENVIRON["TILL_BLOB"]) hit = 1 } hit && done { next } hit { print ENVIRON["TILL_LINE"]; done = 1; next } { print } END { if (!done) exit 4 }' "$f" > "$f.till-new"; then
  rm -f "$f.till-new"; echo "till's key is not in ~/.ssh/authorized_keys (is it authorized through another file?)" >&2; exit 3
fi
chmod 600 "$f.till-new"
mv -f "$f.till-new" "$f"
echo TILL_RESTRICTED
`),
      args: [ARG.keyType, ARG.keyBlob, ARG.keyComment, ARG.gateJson],
      encode: (p) => [p.key.type, p.key.blob, p.key.comment, p.gateJson],
      check: 'blobOfType',
      retired: "through the gate it rewrote any line carrying the blob it was given, an operator's own key too",
    },
  ],
  parse: (stdout) => parseMarkers(stdout).flags.has('RESTRICTED'),
};

/**
 * Appends till's restricted line for the key, unless a line in that form already
 * carries it (exit KEY_PRESENT). Refuses (NOT_RESTRICTED) when the file holds no till
 * line in that form; refuses when a line till did not write carries the key.
 */
export const keyAdd: Operation<PublicKey, { added: boolean }> = {
  name: 'key-add',
  versions: [
    {
      name: 'key-add-v2',
      form: 'script',
      text: frozen(`
set -eu
umask 077
cd "$HOME"
nl='
'
launcher="$HOME/.till/bin/till"
[ -x "$launcher" ] || { echo "till is not set up on this host ($launcher is missing): there is no till gate to restrict a key to" >&2; exit 12; }
case $HOME in *'"'*|*'\\'*|*"$nl"*) echo "the home path $HOME cannot be written in an authorized_keys command=\\"\\"" >&2; exit 12;; esac
f=.ssh/authorized_keys
head="restrict,command=\\"$launcher gate\\" "
t=.ssh/.authorized_keys.till.$$
[ "$1" = ssh-ed25519 ] || { echo "not an ssh-ed25519 key" >&2; exit 2; }
b=$2
case $b in AAAAC3NzaC1lZDI1NTE5AAAAI*) ;; *) echo "not an ssh-ed25519 key blob" >&2; exit 2;; esac
case $b in *[!A-Za-z0-9+/]*) echo "not an ssh-ed25519 key blob" >&2; exit 2;; esac
[ \${#b} -eq 68 ] || { echo "not an ssh-ed25519 key blob" >&2; exit 2; }
case $3 in *[!A-Za-z0-9@._+:-]*) echo "unusual key comment" >&2; exit 2;; esac
[ \${#3} -le 200 ] || { echo "key comment too long" >&2; exit 2; }
[ -f "$f" ] || { echo "~/.ssh/authorized_keys has no line in till's restricted form (restrict,command=\\"$launcher gate\\" <key>)" >&2; exit 12; }
rc=0
TILL_HEAD=$head TILL_BLOB=$2 TILL_LINE="$head$1 $2\${3:+ $3}" awk '{ print; if (index($0, ENVIRON["TILL_HEAD"]) == 1) { tills++; split(substr($0, length(ENVIRON["TILL_HEAD"]) + 1), k, /[ \\t]+/); if (k[2] == ENVIRON["TILL_BLOB"]) mine++ } else { n = split($0, w, /[ \\t]+/); for (i = 1; i <= n; i++) if (w[i] == ENVIRON["TILL_BLOB"]) other++ } } END { if (other) exit 13; if (mine) exit 10; if (!tills) exit 12; print ENVIRON["TILL_LINE"] }' "$f" > "$t" || rc=$?
# A symlink, or a file with other hard links, is managed elsewhere: a rename over it would replace the link with a copy that a revocation in the managed file no longer reaches. Refused only when something would change.
if [ "$rc" = 0 ] && { [ -L "$f" ] || [ -n "$(find "$f" -links +1)" ]; }; then rm -f "$t"; echo "~/.ssh/authorized_keys is a symlink or has other hard links (a file managed elsewhere): till does not replace it with a copy; nothing changed" >&2; exit 15; fi
case $rc in
  0) chmod 600 "$t"; mv -f "$t" "$f"; echo TILL_KEY_ADDED ;;
  10) rm -f "$t"; echo TILL_KEY_PRESENT; exit 10 ;;
  12) rm -f "$t"; echo "~/.ssh/authorized_keys has no line in till's restricted form (restrict,command=\\"$launcher gate\\" <key>)" >&2; exit 12 ;;
  13) rm -f "$t"; echo "the key is already in ~/.ssh/authorized_keys in a line till did not write; not changed" >&2; exit 3 ;;
  *) rm -f "$t"; echo "could not rewrite ~/.ssh/authorized_keys" >&2; exit 1 ;;
esac
`),
      args: [ARG.ed25519Type, ARG.ed25519Blob, ARG.keyComment],
      encode: (k) => [k.type, k.blob, k.comment],
    },
    {
      name: 'key-add',
      form: 'script',
      text: frozen(`
set -eu
umask 077
cd "$HOME"
nl='
'
launcher="$HOME/.till/bin/till"
[ -x "$launcher" ] || { echo "till is not set up on this host ($launcher is missing): there is no till gate to restrict a key to" >&2; exit 12; }
case $HOME in *'"'*|*'\\'*|*"$nl"*) echo "the home path $HOME cannot be written in an authorized_keys command=\\"\\"" >&2; exit 12;; esac
f=.ssh/authorized_keys
head="restrict,command=\\"$launcher gate\\" "
t=.ssh/.authorized_keys.till.$$
[ "$1" = ssh-ed25519 ] || { echo "not an ssh-ed25519 key" >&2; exit 2; }
b=$2
case $b in AAAAC3NzaC1lZDI1NTE5AAAAI*) ;; *) echo "not an ssh-ed25519 key blob" >&2; exit 2;; esac
case $b in *[!A-Za-z0-9+/]*) echo "not an ssh-ed25519 key blob" >&2; exit 2;; esac
[ \${#b} -eq 68 ] || { echo "not an ssh-ed25519 key blob" >&2; exit 2; }
case $3 in *[!A-Za-z0-9@._+:-]*) echo "unusual key comment" >&2; exit 2;; esac
[ \${#3} -le 200 ] || { echo "key comment too long" >&2; exit 2; }
[ -f "$f" ] || { echo "~/.ssh/authorized_keys has no line in till's restricted form (restrict,command=\\"$launcher gate\\" <key>)" >&2; exit 12; }
rc=0
TILL_HEAD=$head TILL_BLOB=$2 TILL_LINE="$head$1 $2\${3:+ $3}" awk '{ print; if (index($0, ENVIRON["TILL_HEAD"]) == 1) { tills++; split(substr($0, length(ENVIRON["TILL_HEAD"]) + 1), k, /[ \\t]+/); if (k[2] == ENVIRON["TILL_BLOB"]) mine++ } else { n = split($0, w, /[ \\t]+/); for (i = 1; i <= n; i++) if (w[i] == ENVIRON["TILL_BLOB"]) other++ } } END { if (other) exit 13; if (mine) exit 10; if (!tills) exit 12; print ENVIRON["TILL_LINE"] }' "$f" > "$t" || rc=$?
case $rc in
  0) chmod 600 "$t"; mv -f "$t" "$f"; echo TILL_KEY_ADDED ;;
  10) rm -f "$t"; echo TILL_KEY_PRESENT; exit 10 ;;
  12) rm -f "$t"; echo "~/.ssh/authorized_keys has no line in till's restricted form (restrict,command=\\"$launcher gate\\" <key>)" >&2; exit 12 ;;
  13) rm -f "$t"; echo "the key is already in ~/.ssh/authorized_keys in a line till did not write; not changed" >&2; exit 3 ;;
  *) rm -f "$t"; echo "could not rewrite ~/.ssh/authorized_keys" >&2; exit 1 ;;
esac
`),
      args: [ARG.ed25519Type, ARG.ed25519Blob, ARG.keyComment],
      encode: (k) => [k.type, k.blob, k.comment],
    },
  ],
  parse: (stdout) => ({ added: parseMarkers(stdout).flags.has('KEY_ADDED') }),
};

export interface RemoveReport {
  removed: number;
  /** Lines carrying the removed key that till did not write: left in place. */
  foreign: number;
  /** till-form lines of keys other than these two. */
  otherRestricted: number;
}

/**
 * Removes till's restricted lines of the key to drop, only while a restricted line of
 * the key to keep is there (else KEEP_MISSING, nothing changed). A line that carries the
 * dropped key in another form is not till's: it stays, and is counted.
 */
export const keyRemove: Operation<{ keep: string; drop: string }, RemoveReport> = {
  name: 'key-remove',
  versions: [
    {
      name: 'key-remove-v2',
      form: 'script',
      text: frozen(`
set -eu
umask 077
cd "$HOME"
nl='
'
launcher="$HOME/.till/bin/till"
[ -x "$launcher" ] || { echo "till is not set up on this host ($launcher is missing): there is no till gate to restrict a key to" >&2; exit 12; }
case $HOME in *'"'*|*'\\'*|*"$nl"*) echo "the home path $HOME cannot be written in an authorized_keys command=\\"\\"" >&2; exit 12;; esac
f=.ssh/authorized_keys
head="restrict,command=\\"$launcher gate\\" "
t=.ssh/.authorized_keys.till.$$
b=$1
case $b in AAAAC3NzaC1lZDI1NTE5AAAAI*) ;; *) echo "not an ssh-ed25519 key blob" >&2; exit 2;; esac
case $b in *[!A-Za-z0-9+/]*) echo "not an ssh-ed25519 key blob" >&2; exit 2;; esac
[ \${#b} -eq 68 ] || { echo "not an ssh-ed25519 key blob" >&2; exit 2; }
b=$2
case $b in AAAAC3NzaC1lZDI1NTE5AAAAI*) ;; *) echo "not an ssh-ed25519 key blob" >&2; exit 2;; esac
case $b in *[!A-Za-z0-9+/]*) echo "not an ssh-ed25519 key blob" >&2; exit 2;; esac
[ \${#b} -eq 68 ] || { echo "not an ssh-ed25519 key blob" >&2; exit 2; }
[ "$1" != "$2" ] || { echo "the key to keep is the key to remove" >&2; exit 2; }
[ -f "$f" ] || { echo "~/.ssh/authorized_keys has no line in till's restricted form (restrict,command=\\"$launcher gate\\" <key>)" >&2; exit 12; }
rc=0
TILL_HEAD=$head TILL_KEEP=$1 TILL_DROP=$2 TILL_OUT=$t awk 'BEGIN { h = ENVIRON["TILL_HEAD"]; out = ENVIRON["TILL_OUT"]; printf "" > out } { if (index($0, h) == 1) { tills++; split(substr($0, length(h) + 1), k, /[ \\t]+/); if (k[2] == ENVIRON["TILL_DROP"]) { dropped++; next } if (k[2] == ENVIRON["TILL_KEEP"]) keep++; else others++ } else { n = split($0, w, /[ \\t]+/); for (i = 1; i <= n; i++) if (w[i] == ENVIRON["TILL_DROP"]) { foreign++; break } } print > out } END { printf "TILL_KEY_REMOVED %d\\nTILL_KEY_FOREIGN %d\\nTILL_GATE_KEYS_OTHER %d\\n", dropped, foreign, others; if (!tills) exit 12; if (!keep) exit 11; if (!dropped) exit 14 }' "$f" || rc=$?
# A symlink, or a file with other hard links, is managed elsewhere: a rename over it would replace the link with a copy that a revocation in the managed file no longer reaches. Refused only when something would change.
if [ "$rc" = 0 ] && { [ -L "$f" ] || [ -n "$(find "$f" -links +1)" ]; }; then rm -f "$t"; echo "~/.ssh/authorized_keys is a symlink or has other hard links (a file managed elsewhere): till does not replace it with a copy; nothing changed" >&2; exit 15; fi
case $rc in
  0) chmod 600 "$t"; mv -f "$t" "$f" ;;
  14) rm -f "$t" ;;
  11) rm -f "$t"; echo "till's restricted line of the key to keep is not in ~/.ssh/authorized_keys; nothing removed" >&2; exit 11 ;;
  12) rm -f "$t"; echo "~/.ssh/authorized_keys has no line in till's restricted form (restrict,command=\\"$launcher gate\\" <key>)" >&2; exit 12 ;;
  *) rm -f "$t"; echo "could not rewrite ~/.ssh/authorized_keys" >&2; exit 1 ;;
esac
echo TILL_KEYS_DONE
`),
      args: [ARG.ed25519Blob, ARG.ed25519Blob],
      encode: (p) => [p.keep, p.drop],
      check: 'keepOtherThanDrop',
    },
    {
      name: 'key-remove',
      form: 'script',
      text: frozen(`
set -eu
umask 077
cd "$HOME"
nl='
'
launcher="$HOME/.till/bin/till"
[ -x "$launcher" ] || { echo "till is not set up on this host ($launcher is missing): there is no till gate to restrict a key to" >&2; exit 12; }
case $HOME in *'"'*|*'\\'*|*"$nl"*) echo "the home path $HOME cannot be written in an authorized_keys command=\\"\\"" >&2; exit 12;; esac
f=.ssh/authorized_keys
head="restrict,command=\\"$launcher gate\\" "
t=.ssh/.authorized_keys.till.$$
b=$1
case $b in AAAAC3NzaC1lZDI1NTE5AAAAI*) ;; *) echo "not an ssh-ed25519 key blob" >&2; exit 2;; esac
case $b in *[!A-Za-z0-9+/]*) echo "not an ssh-ed25519 key blob" >&2; exit 2;; esac
[ \${#b} -eq 68 ] || { echo "not an ssh-ed25519 key blob" >&2; exit 2; }
b=$2
case $b in AAAAC3NzaC1lZDI1NTE5AAAAI*) ;; *) echo "not an ssh-ed25519 key blob" >&2; exit 2;; esac
case $b in *[!A-Za-z0-9+/]*) echo "not an ssh-ed25519 key blob" >&2; exit 2;; esac
[ \${#b} -eq 68 ] || { echo "not an ssh-ed25519 key blob" >&2; exit 2; }
[ "$1" != "$2" ] || { echo "the key to keep is the key to remove" >&2; exit 2; }
[ -f "$f" ] || { echo "~/.ssh/authorized_keys has no line in till's restricted form (restrict,command=\\"$launcher gate\\" <key>)" >&2; exit 12; }
rc=0
TILL_HEAD=$head TILL_KEEP=$1 TILL_DROP=$2 TILL_OUT=$t awk 'BEGIN { h = ENVIRON["TILL_HEAD"]; out = ENVIRON["TILL_OUT"]; printf "" > out } { if (index($0, h) == 1) { tills++; split(substr($0, length(h) + 1), k, /[ \\t]+/); if (k[2] == ENVIRON["TILL_DROP"]) { dropped++; next } if (k[2] == ENVIRON["TILL_KEEP"]) keep++; else others++ } else { n = split($0, w, /[ \\t]+/); for (i = 1; i <= n; i++) if (w[i] == ENVIRON["TILL_DROP"]) { foreign++; break } } print > out } END { printf "TILL_KEY_REMOVED %d\\nTILL_KEY_FOREIGN %d\\nTILL_GATE_KEYS_OTHER %d\\n", dropped, foreign, others; if (!tills) exit 12; if (!keep) exit 11; if (!dropped) exit 14 }' "$f" || rc=$?
case $rc in
  0) chmod 600 "$t"; mv -f "$t" "$f" ;;
  14) rm -f "$t" ;;
  11) rm -f "$t"; echo "till's restricted line of the key to keep is not in ~/.ssh/authorized_keys; nothing removed" >&2; exit 11 ;;
  12) rm -f "$t"; echo "~/.ssh/authorized_keys has no line in till's restricted form (restrict,command=\\"$launcher gate\\" <key>)" >&2; exit 12 ;;
  *) rm -f "$t"; echo "could not rewrite ~/.ssh/authorized_keys" >&2; exit 1 ;;
esac
echo TILL_KEYS_DONE
`),
      args: [ARG.ed25519Blob, ARG.ed25519Blob],
      encode: (p) => [p.keep, p.drop],
      check: 'keepOtherThanDrop',
    },
  ],
  parse(stdout) {
    const m = parseMarkers(stdout);
    const num = (word: string) => Number(/^\d+$/.exec(m.values.get(word)?.[0] ?? '')?.[0] ?? 0);
    return { removed: num('KEY_REMOVED'), foreign: num('KEY_FOREIGN'), otherRestricted: num('GATE_KEYS_OTHER') };
  },
};

// ---------------------------------------------------------------- hosts without a gate

/**
 * `host authorize` (over the operator's own ssh) and `host rotate-key` on an unrestricted
 * host: appends a key line unless its blob is already there (exit KEY_PRESENT). Creates
 * ~/.ssh (0700) and the file (0600) if needed, and a final newline the file lacks. One
 * line without `!`: a csh or fish login shell passes it to sh unchanged.
 */
export const keyAppend: Operation<{ line: string; blob: string }, void> = {
  name: 'key-append',
  versions: [
    {
      name: 'key-append-v2',
      form: 'script',
      text: oneLine(`
set -eu
umask 077
line=$1
blob=$2
cd "$HOME"
has() { awk -v b="$1" '{for(i=1;i<=NF;i++) if($i==b) found=1} END{if(found) exit 0
exit 1}' "$2"
}
f=.ssh/authorized_keys
if [ -d .ssh ]
then :
else mkdir -m 700 .ssh
fi
if [ -f "$f" ] && has "$blob" "$f"
then exit 10
fi
if [ -L "$f" ] || { [ -f "$f" ] && [ -n "$(find "$f" -links +1)" ]; }
then echo "~/.ssh/authorized_keys is a symlink or has other hard links (a file managed elsewhere): till does not replace it with a copy; nothing changed" >&2
exit 15
fi
if [ -s "$f" ] && [ -n "$(tail -c 1 "$f")" ]
then printf "\\n" >> "$f"
fi
printf "%s\\n" "$line" >> "$f"
`),
      args: [ARG.keyLine, ARG.keyBlob],
      encode: (p) => [p.line, p.blob],
      ungated: 'it appends any line it is given',
    },
    {
      name: 'key-append',
      form: 'script',
      text: oneLine(`
set -eu
umask 077
line=$1
blob=$2
cd "$HOME"
has() { awk -v b="$1" '{for(i=1;i<=NF;i++) if($i==b) found=1} END{if(found) exit 0
exit 1}' "$2"
}
f=.ssh/authorized_keys
if [ -d .ssh ]
then :
else mkdir -m 700 .ssh
fi
if [ -f "$f" ] && has "$blob" "$f"
then exit 10
fi
if [ -s "$f" ] && [ -n "$(tail -c 1 "$f")" ]
then printf "\\n" >> "$f"
fi
printf "%s\\n" "$line" >> "$f"
`),
      args: [ARG.keyLine, ARG.keyBlob],
      encode: (p) => [p.line, p.blob],
      ungated: 'it appends any line it is given',
    },
  ],
  parse: () => undefined,
};

/**
 * `host rotate-key` on an unrestricted host: removes every line carrying the blob to
 * drop, but only when a line carrying the blob to keep is there before and after (else
 * exit KEEP_MISSING, nothing changed). The new file replaces the old by rename.
 */
export const keyDrop: Operation<{ keep: string; drop: string }, void> = {
  name: 'key-drop',
  versions: [
    {
      name: 'key-drop-v2',
      form: 'script',
      text: oneLine(`
set -eu
umask 077
keep=$1
drop=$2
cd "$HOME"
has() { awk -v b="$1" '{for(i=1;i<=NF;i++) if($i==b) found=1} END{if(found) exit 0
exit 1}' "$2"
}
f=.ssh/authorized_keys
if [ -f "$f" ] && has "$keep" "$f"
then :
else exit 11
fi
if has "$drop" "$f"
then :
else exit 0
fi
if [ -L "$f" ] || [ -n "$(find "$f" -links +1)" ]
then echo "~/.ssh/authorized_keys is a symlink or has other hard links (a file managed elsewhere): till does not replace it with a copy; nothing changed" >&2
exit 15
fi
t=.ssh/.authorized_keys.till.$$
awk -v b="$drop" '{k=1
for(i=1;i<=NF;i++) if($i==b) k=0} k' "$f" > "$t"
if has "$keep" "$t"
then :
else rm -f "$t"
exit 11
fi
chmod 600 "$t"
mv -f "$t" "$f"
`),
      args: [ARG.keyBlob, ARG.keyBlob],
      encode: (p) => [p.keep, p.drop],
      ungated: 'it removes any line carrying the blob it is given',
    },
    {
      name: 'key-drop',
      form: 'script',
      text: oneLine(`
set -eu
umask 077
keep=$1
drop=$2
cd "$HOME"
has() { awk -v b="$1" '{for(i=1;i<=NF;i++) if($i==b) found=1} END{if(found) exit 0
exit 1}' "$2"
}
f=.ssh/authorized_keys
if [ -f "$f" ] && has "$keep" "$f"
then :
else exit 11
fi
if has "$drop" "$f"
then :
else exit 0
fi
t=.ssh/.authorized_keys.till.$$
awk -v b="$drop" '{k=1
for(i=1;i<=NF;i++) if($i==b) k=0} k' "$f" > "$t"
if has "$keep" "$t"
then :
else rm -f "$t"
exit 11
fi
chmod 600 "$t"
mv -f "$t" "$f"
`),
      args: [ARG.keyBlob, ARG.keyBlob],
      encode: (p) => [p.keep, p.drop],
      ungated: 'it removes any line carrying the blob it is given',
    },
  ],
  parse: () => undefined,
};
