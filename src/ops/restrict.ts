import type { HostJob, JobOutcome } from '../core/fanout.js';
import type { TillPaths } from '../core/paths.js';
import type { HostEntry } from '../core/state/hosts.js';
import { blobKeyType, keyCommentProblem, KEY_TYPES } from '../protocol/args.js';
import { test } from '../protocol/host.js';
import { restrict, type PublicKey } from '../protocol/keys.js';
import { GATE_PROBE, GATE_REFUSED } from '../protocol/wire.js';
import { closeMaster, sshRun, toOutcome } from '../ssh/client.js';
import { remoteFailure } from '../ssh/outcome.js';
import { runScript, scriptFailure, scriptOutcome } from '../ssh/run-script.js';
import { keyFileManaged, managedRestrictFailure } from './managed-keys.js';

export type { PublicKey };

/**
 * Restricted keys (SPEC §9): till's line in the host's ~/.ssh/authorized_keys becomes
 * `restrict,command="<home>/.till/bin/till gate" <key>`, so that key can run only what
 * `till gate` allows (see docs/gate.md). Also writes ~/.till/gate.json, the host's
 * own list of deploy roots. Idempotent: the line is found by its key blob, and an
 * already restricted line is rewritten to the same text (src/protocol/keys.ts).
 */

/** What the gate reads on the host. */
export interface GateConfig {
  /** Where deploys may write: `<root>.till/releases/<id>`; `~/` is the host's home. */
  deployRoots: string[];
  /** Release hooks may run (`--allow-hooks`): written only when true, so the file says nothing it does not allow. */
  hooks?: true;
}

/** The gate.json a host gets from its database entry: its tekton_path is its deploy root. */
export function gateConfigFor(
  entry: Pick<HostEntry, 'tekton_path'>,
  extraRoots: readonly string[] = [],
  opts: { hooks?: boolean } = {},
): GateConfig {
  return { deployRoots: [...new Set([entry.tekton_path, ...extraRoots])], ...(opts.hooks ? { hooks: true } : {}) };
}

/** Parses till's own `.pub` line. */
export function parsePublicKey(text: string): PublicKey {
  const line =
    text
      .split('\n')
      .find((l) => l.trim() !== '')
      ?.trim() ?? '';
  const [type, blob, ...rest] = line.split(/\s+/);
  if (!type || !blob || !(KEY_TYPES as readonly string[]).includes(type) || blobKeyType(blob) !== type)
    throw new Error('not an OpenSSH public key line');
  const comment = rest.join(' ');
  // The comment is only a label: one the gate would refuse is left out.
  return { type, blob, comment: keyCommentProblem(comment) === undefined ? comment : '' };
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
    const gateJson = JSON.stringify(config);
    const done = await runScript(paths, name, restrict, { key, gateJson }, { signal, ...ssh });
    if (done.failure && keyFileManaged(done.result))
      return scriptFailure(done, remoteFailure(managedRestrictFailure(name, gateJson)));
    if (done.failure) {
      if (done.failure.kind !== 'remote' || done.refused !== undefined) return scriptOutcome(done);
      return scriptFailure(done, remoteFailure(`could not restrict till's key: ${done.failure.message}`));
    }
    if (done.value !== true) return scriptFailure(done, remoteFailure('the restrict script printed no confirmation'));
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
    const tested = await runScript(paths, name, test, undefined, { signal, ...ssh });
    if (tested.failure)
      return scriptFailure(
        tested,
        remoteFailure(`restricted, but host test fails through the gate: ${tested.failure.message}`),
      );
    if (tested.value?.ok !== true)
      return scriptFailure(tested, remoteFailure('restricted, but host test does not pass the gate'));
    return { ...scriptOutcome(done, { config }), stdout: '' };
  };
}
