import type { HostJob, JobOutcome } from '../core/fanout.js';
import type { TillPaths } from '../core/paths.js';
import type { HostEntry } from '../core/state/hosts.js';
import { remoteScript } from '../remote/script.js';
import { closeMaster, sshRun, toOutcome } from '../ssh/client.js';
import { GATE_REFUSED, type Failure } from '../ssh/outcome.js';
import { TEST_COMMAND, parseTestOutput } from './test.js';

/**
 * Restricted keys (SPEC §9): till's line in the host's ~/.ssh/authorized_keys becomes
 * `restrict,command="<home>/.till/bin/till gate" <key>`, so that key can run only what
 * `till gate` allows (see docs/gate.md). Also writes ~/.till/gate.json, the host's
 * own list of deploy roots. Idempotent: the line is found by its key blob, and an
 * already restricted line is rewritten to the same text.
 */
export const RESTRICTED_MARKER = 'TILL_RESTRICTED';

/** What the gate reads on the host. */
export interface GateConfig {
  /** Where deploys may write: `<root>.till/releases/<id>`; `~/` is the host's home. */
  deployRoots: string[];
}

/** The gate.json a host gets from its database entry: its tekton_path is its deploy root. */
export function gateConfigFor(entry: Pick<HostEntry, 'tekton_path'>, extraRoots: readonly string[] = []): GateConfig {
  return { deployRoots: [...new Set([entry.tekton_path, ...extraRoots])] };
}

/**
 * $1 key type, $2 key blob (base64), $3 comment (may be empty), $4 gate.json text.
 * Constant text: the gate allows it byte for byte, so a restricted host can be
 * restricted again (to refresh gate.json) through its own gate.
 */
export const RESTRICT_SCRIPT = [
  'set -e',
  'umask 077',
  'cd "$HOME"',
  "nl='",
  "'",
  'launcher="$HOME/.till/bin/till"',
  '[ -x "$launcher" ] || { echo "till is not set up on this host ($launcher is missing): run till host setup first" >&2; exit 3; }',
  `case $HOME in *'"'*|*'\\'*|*"$nl"*) echo "the home path $HOME cannot be written in an authorized_keys command=\\"\\"" >&2; exit 3;; esac`,
  `case $1 in ssh-*|ecdsa-*|sk-*) ;; *) echo "not a key type: $1" >&2; exit 2;; esac`,
  `case $2 in ''|*[!A-Za-z0-9+/=]*) echo "not a key blob" >&2; exit 2;; esac`,
  `case $3 in *[!A-Za-z0-9@._+:-]*) echo "unusual key comment" >&2; exit 2;; esac`,
  `case $4 in '{'*'}') ;; *) echo "gate.json must be a JSON object" >&2; exit 2;; esac`,
  'case $4 in *"$nl"*) echo "gate.json must be one line" >&2; exit 2;; esac',
  'f=.ssh/authorized_keys',
  '[ -f "$f" ] || { echo "no ~/.ssh/authorized_keys here" >&2; exit 3; }',
  `printf '%s\\n' "$4" > .till/gate.json.new`,
  'mv -f .till/gate.json.new .till/gate.json',
  'line="restrict,command=\\"$launcher gate\\" $1 $2${3:+ $3}"',
  // Fields split on blanks: the blob is one field whatever options precede it. First match rewritten, duplicates dropped.
  `if ! TILL_BLOB=$2 TILL_LINE=$line awk '{ hit = 0; n = split($0, w, /[ \\t]+/); for (i = 1; i <= n; i++) if (w[i] == ENVIRON["TILL_BLOB"]) hit = 1 } hit && done { next } hit { print ENVIRON["TILL_LINE"]; done = 1; next } { print } END { if (!done) exit 4 }' "$f" > "$f.till-new"; then`,
  '  rm -f "$f.till-new"; echo "till\'s key is not in ~/.ssh/authorized_keys (is it authorized through another file?)" >&2; exit 3',
  'fi',
  'chmod 600 "$f.till-new"',
  'mv -f "$f.till-new" "$f"',
  `echo ${RESTRICTED_MARKER}`,
].join('\n');

export interface PublicKey {
  type: string;
  blob: string;
  comment: string;
}

/** Parses till's own `.pub` line. */
export function parsePublicKey(text: string): PublicKey {
  const line =
    text
      .split('\n')
      .find((l) => l.trim() !== '')
      ?.trim() ?? '';
  const [type, blob, ...rest] = line.split(/\s+/);
  if (!type || !blob || !/^(ssh-|ecdsa-|sk-)/.test(type) || !/^[A-Za-z0-9+/=]+$/.test(blob))
    throw new Error('not an OpenSSH public key line');
  const comment = rest.join(' ');
  return { type, blob, comment: /^[A-Za-z0-9@._+:-]*$/.test(comment) ? comment : '' };
}

/** The remote command that restricts till's key on a host and writes its gate.json. */
export function restrictKeyScript(key: PublicKey, config: GateConfig): string {
  return remoteScript(RESTRICT_SCRIPT, [key.type, key.blob, key.comment, JSON.stringify(config)]);
}

/** A command no till sends: the gate must refuse it, which proves the gate is in front. */
export const GATE_PROBE = 'till-gate-probe';

function remoteFailure(message: string): Failure {
  return { kind: 'remote', connection: false, retryable: false, message };
}

export interface RestrictData {
  config: GateConfig;
}

/**
 * Restricts one host's key, closes its (unrestricted) master connection, then proves
 * through a fresh connection that the gate is in front (a probe is refused by it)
 * and that `host test` passes it. Call after a successful setup: the gate is the
 * remote till.
 */
export function restrictJob(
  paths: TillPaths,
  key: PublicKey,
  opts: { configFor: (name: string) => GateConfig; connectTimeout?: number; timeoutMs?: number },
): HostJob<RestrictData> {
  const ssh = { connectTimeout: opts.connectTimeout, timeoutMs: opts.timeoutMs };
  return async ({ name, signal }): Promise<JobOutcome<RestrictData>> => {
    const config = opts.configFor(name);
    const done = await sshRun(paths, name, restrictKeyScript(key, config), { signal, ...ssh });
    const outcome = toOutcome<RestrictData>(done);
    if (!outcome.ok) {
      if (outcome.failure?.kind !== 'remote') return outcome;
      const why =
        done.stderr
          .split('\n')
          .map((l) => l.trim())
          .filter((l) => l !== '')
          .at(-1) ?? '';
      return { ...outcome, failure: remoteFailure(`could not restrict till's key${why !== '' ? `: ${why}` : ''}`) };
    }
    if (!done.stdout.includes(RESTRICTED_MARKER))
      return { ...outcome, ok: false, failure: remoteFailure('the restrict script printed no confirmation') };
    // The master was opened before the key was restricted: it would bypass the gate.
    await closeMaster(paths, name);
    const probe = await sshRun(paths, name, GATE_PROBE, { signal, ...ssh });
    if (!probe.stderr.includes(GATE_REFUSED)) {
      return {
        ...toOutcome<RestrictData>(probe),
        ok: false,
        failure: remoteFailure(
          `the key line was rewritten, but a new connection is not stopped by till gate (exit ${probe.exitCode}); is the key also authorized in another file?`,
        ),
      };
    }
    const tested = await sshRun(paths, name, TEST_COMMAND, { signal, ...ssh });
    const testOutcome = toOutcome<RestrictData>(tested);
    if (!testOutcome.ok)
      return {
        ...testOutcome,
        failure: remoteFailure(
          `restricted, but host test fails through the gate: ${testOutcome.failure?.message ?? ''}`,
        ),
      };
    if (!parseTestOutput(tested.stdout).ok)
      return { ...testOutcome, ok: false, failure: remoteFailure('restricted, but host test does not pass the gate') };
    return { ...outcome, stdout: '', data: { config } };
  };
}
