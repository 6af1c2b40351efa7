import { AUDIT_COMMAND } from '../audit/script.js';
import { remotePathProblem } from '../core/validate.js';
import { parseGateFile, wideningOf } from './gate-file.js';
import { DEPLOY_CHECK_SCRIPT } from '../deploy/check.js';
import {
  DEPLOY_PREPARE_SCRIPT,
  DEPLOY_PREPARE_SCRIPT_V2,
  DEPLOY_STATE_SCRIPT,
  DEPLOY_SWITCH_SCRIPT,
  DEPLOY_SWITCH_SCRIPT_V2,
  DEPLOY_SWITCH_SCRIPT_V3,
  DEPLOY_UNLOCK_SCRIPT,
  isReleaseId,
  ROLLBACK_SCRIPT,
  ROLLBACK_SCRIPT_V2,
  sharedPathProblem,
} from '../deploy/layout.js';
import { DOCTOR_SCRIPT } from '../ops/doctor.js';
import { HEALTH_SCRIPT, HEALTH_SCRIPT_V2, LATENCY_COMMAND } from '../ops/health.js';
import { RESTRICT_SCRIPT } from '../ops/restrict.js';
import {
  ed25519BlobProblem,
  keyCommentProblem,
  keyTypeProblem,
  RESTRICTED_KEY_ADD_SCRIPT,
  RESTRICTED_KEY_REMOVE_SCRIPT,
} from '../ops/restricted-keys.js';
import { ACTIVATE_SCRIPT, CHECK_SCRIPT, CLEAN_REMOTE_COMMAND, PREPARE_SCRIPT } from '../ops/setup.js';
import { remoteSyncCommand } from '../ops/sync.js';
import { TEST_COMMAND } from '../ops/test.js';

/**
 * Everything a restricted key may run, in one place (docs/gate.md). A new remote
 * operation of till must be registered here, in one of two forms, or the gate of a
 * restricted host refuses it:
 *   - an exact constant command line (EXACT_COMMANDS), compared byte for byte;
 *   - a constant script sent with `remoteScript(SCRIPT, args)` (SCRIPTS), values only
 *     as positional parameters, with the number of them it takes.
 * rsync uploads need no entry: the gate checks `rsync --server` argv itself.
 *
 * A registered text is part of the protocol between a controller and the gates of
 * already installed tills: never edit one in place (older gates would refuse the new
 * text); add the new version and keep the old one here, and pin its hash in
 * test/unit/allowlist-frozen.test.ts (which fails when a registered text changes).
 */
export const EXACT_COMMANDS: ReadonlyMap<string, string> = new Map([
  [TEST_COMMAND, 'test'],
  [AUDIT_COMMAND, 'audit'],
  [remoteSyncCommand(false), 'sync'],
  [remoteSyncCommand(true), 'sync --dry-run'],
  [LATENCY_COMMAND, 'health latency'],
  // host remove --clean-remote: ~/.till and nothing else (the gate goes with it).
  [CLEAN_REMOTE_COMMAND, 'clean-remote'],
]);

export interface AllowedScript {
  name: string;
  script: string;
  /** How many positional arguments it takes, exactly. */
  args: number;
  /** A script that installs code the gate will run (allowed unless gate.json says "upgrade": false). */
  upgrade?: boolean;
  /**
   * Extra checks of the argument values against the host's gate.json, for a script
   * whose argument is itself something to run (e.g. a deploy's --check command, which
   * must then be one of gate.json's "checks"). Returns why not, or undefined.
   */
  validate?: (args: readonly string[], policy: ScriptPolicy) => string | undefined;
}

/** What a validate hook may consult: gate.json's values, `~/` expanded against the home. */
export interface ScriptPolicy {
  home: string;
  deployRoots: readonly string[];
  checks: readonly string[];
  upgrade: boolean;
}

/**
 * `restrict` through the gate (a host already restricted): the gate.json it would write
 * may keep or narrow the host's policy, never widen it; otherwise a holder of the
 * restricted key could give itself any deploy root or any --check (a command). Widening
 * is the host owner's act: edit ~/.till/gate.json with your own access.
 */
function restrictProblem(gateJson: string, policy: ScriptPolicy): string | undefined {
  let next;
  try {
    next = parseGateFile(JSON.parse(gateJson), policy.home);
  } catch (err) {
    return `gate.json: ${(err as Error).message}`;
  }
  const current = {
    deployRoots: policy.deployRoots.map((r) => r.replace(/\/+$/, '')),
    checks: [...policy.checks],
    upgrade: policy.upgrade,
  };
  const why = wideningOf(current, next);
  return why === undefined
    ? undefined
    : `the new gate.json widens the host's policy (${why}); widen ~/.till/gate.json on the host with your own access, then run this again`;
}

/** "$1" of every deploy script: one of gate.json's deploy roots (as stored, `~/` or absolute). */
function deployRootProblem(path: string, policy: ScriptPolicy): string | undefined {
  const problem = remotePathProblem(path);
  if (problem !== undefined) return `deploy path ${JSON.stringify(path)}: ${problem}`;
  const abs = (path.startsWith('~/') ? `${policy.home.replace(/\/+$/, '')}/${path.slice(2)}` : path).replace(
    /\/+$/,
    '',
  );
  if (!policy.deployRoots.some((r) => r.replace(/\/+$/, '') === abs))
    return `${path} is not a deploy root of ~/.till/gate.json ("deployRoots")`;
  return undefined;
}

function idProblem(what: string, id: string): string | undefined {
  return isReleaseId(id) ? undefined : `${what} ${JSON.stringify(id)} is not a release id`;
}

function listProblem(what: string, list: string, each: (item: string) => string | undefined): string | undefined {
  if (list === '') return undefined;
  for (const item of list.split(' ')) {
    const why = each(item);
    if (why !== undefined) return `${what}: ${why}`;
  }
  return undefined;
}

/** A deploy's --check is a command: on a restricted host only the ones gate.json lists. */
function checkProblem(check: string, policy: ScriptPolicy): string | undefined {
  if (check === '' || policy.checks.includes(check)) return undefined;
  return `the check ${JSON.stringify(check)} is not listed in ~/.till/gate.json "checks"`;
}

const first = (args: readonly string[], policy: ScriptPolicy) => deployRootProblem(args[0]!, policy);

const sharedListProblem = (list: string) =>
  listProblem('shared path', list, (s) =>
    sharedPathProblem(s) !== undefined ? `${JSON.stringify(s)}: ${sharedPathProblem(s)}` : undefined,
  );

function prepareProblem(a: readonly string[], policy: ScriptPolicy): string | undefined {
  return first(a, policy) ?? idProblem('release', a[1]!) ?? idProblem('adopted id', a[6]!) ?? sharedListProblem(a[5]!);
}

function switchProblem(a: readonly string[], policy: ScriptPolicy): string | undefined {
  return (
    first(a, policy) ??
    idProblem('release', a[1]!) ??
    (a[2] !== '' ? idProblem('previous release', a[2]!) : undefined) ??
    checkProblem(a[3]!, policy) ??
    listProblem('prune', a[4]!, (id) => idProblem('release', id)) ??
    sharedListProblem(a[9]!)
  );
}

const rollbackProblem = (a: readonly string[], policy: ScriptPolicy) =>
  first(a, policy) ?? (a[1] !== '' ? idProblem('release', a[1]!) : undefined);

export const SCRIPTS: readonly AllowedScript[] = [
  { name: 'setup-check', script: CHECK_SCRIPT, args: 0 },
  { name: 'setup-prepare', script: PREPARE_SCRIPT, args: 0, upgrade: true },
  { name: 'setup-activate', script: ACTIVATE_SCRIPT, args: 2, upgrade: true },
  { name: 'restrict', script: RESTRICT_SCRIPT, args: 4, validate: (a, policy) => restrictProblem(a[3]!, policy) },
  // host rotate-key on a restricted host (ops/restricted-keys.ts): the scripts only write
  // till's restricted line form themselves; the values must be an ed25519 key.
  {
    name: 'key-add',
    script: RESTRICTED_KEY_ADD_SCRIPT,
    args: 3,
    validate: ([type, blob, comment]) =>
      keyTypeProblem(type!) ?? ed25519BlobProblem(blob!) ?? keyCommentProblem(comment!),
  },
  {
    name: 'key-remove',
    script: RESTRICTED_KEY_REMOVE_SCRIPT,
    args: 2,
    validate: ([keep, drop]) =>
      ed25519BlobProblem(keep!) ??
      ed25519BlobProblem(drop!) ??
      (keep === drop ? 'the key to keep is the key to remove' : undefined),
  },
  // host doctor's probe (read-only): tekton_path, any safe remote path.
  { name: 'doctor', script: DOCTOR_SCRIPT, args: 1, validate: ([p]) => remotePathProblem(p!) },
  // host health: tekton_path (read-only: any safe remote path).
  { name: 'health', script: HEALTH_SCRIPT, args: 1, validate: ([p]) => remotePathProblem(p!) },
  // The same, timing its ssh latency in the same call (a line on stdin answers its ping).
  { name: 'health-v2', script: HEALTH_SCRIPT_V2, args: 1, validate: ([p]) => remotePathProblem(p!) },
  // host deploy / rollback / releases (src/deploy/layout.ts); "$1" is always a deploy root.
  { name: 'deploy-state', script: DEPLOY_STATE_SCRIPT, args: 1, validate: first },
  // deploy --check, before the lock and the upload: refused here when gate.json does not list it.
  {
    name: 'deploy-check',
    script: DEPLOY_CHECK_SCRIPT,
    args: 2,
    validate: (a, policy) => first(a, policy) ?? checkProblem(a[1]!, policy),
  },
  {
    name: 'deploy-prepare',
    script: DEPLOY_PREPARE_SCRIPT,
    args: 8,
    validate: (a, policy) => prepareProblem(a, policy),
  },
  {
    name: 'deploy-prepare-v2',
    script: DEPLOY_PREPARE_SCRIPT_V2,
    args: 9,
    validate: (a, policy) =>
      prepareProblem(a, policy) ??
      (/^([0-9a-f]{6})?$/.test(a[8]!) ? undefined : `content hash ${JSON.stringify(a[8])} is not 6 hex digits`),
  },
  { name: 'deploy-switch', script: DEPLOY_SWITCH_SCRIPT, args: 11, validate: (a, policy) => switchProblem(a, policy) },
  {
    name: 'deploy-switch-v2',
    script: DEPLOY_SWITCH_SCRIPT_V2,
    args: 11,
    validate: (a, policy) => switchProblem(a, policy),
  },
  {
    name: 'deploy-switch-v3',
    script: DEPLOY_SWITCH_SCRIPT_V3,
    args: 11,
    validate: (a, policy) => switchProblem(a, policy),
  },
  { name: 'deploy-unlock', script: DEPLOY_UNLOCK_SCRIPT, args: 2, validate: first },
  { name: 'rollback', script: ROLLBACK_SCRIPT, args: 4, validate: (a, policy) => rollbackProblem(a, policy) },
  { name: 'rollback-v2', script: ROLLBACK_SCRIPT_V2, args: 4, validate: (a, policy) => rollbackProblem(a, policy) },
];
