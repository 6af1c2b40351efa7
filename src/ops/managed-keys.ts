import { KEY_FILE_MANAGED } from '../protocol/keys.js';
import { gateRefusal, GATE_KEY_FILE_MANAGED } from '../protocol/wire.js';
import type { ProcessResult } from '../ssh/process.js';

/**
 * An authorized_keys managed elsewhere: `~/.ssh/authorized_keys` a symlink to a file
 * configuration management owns, or a file with other hard links. till's key scripts
 * never rename a new file over it (that would replace the link with a copy, and a
 * revocation in the managed file would no longer reach the host): the scripts since
 * restrict-v3 / key-*-v2 exit KEY_FILE_MANAGED, an older gate refuses the older scripts.
 * Both become one failure in the user's terms: which file, why, and what to do by hand.
 */

/** Whether a key script's result is that refusal: the script's own exit, or an older gate's. */
export function keyFileManaged(result: ProcessResult): boolean {
  if (result.exitCode === KEY_FILE_MANAGED) return true;
  return result.exitCode === 1 && (gateRefusal(result.stderr)?.includes(GATE_KEY_FILE_MANAGED) ?? false);
}

/** Why till left the file alone; the caller adds what to do. */
export const KEY_FILE_MANAGED_WHY =
  '~/.ssh/authorized_keys on the host is a symlink or has other hard links (a file managed elsewhere): till does not rewrite it, since a copy would cut it loose and a revocation in the managed file would no longer reach this host';

/** `host rotate-key`, before anything changed: the host stays on the old key. */
export function managedAddFailure(
  name: string,
  key: { type: string; blob: string; comment: string },
  restricted: boolean,
): string {
  const line = `${key.type} ${key.blob}${key.comment ? ` ${key.comment}` : ''}`;
  const add = restricted
    ? `add till's new key to the managed file by hand, as a copy of till's restricted line with the new key (${line})`
    : `add till's new key line to the managed file by hand (${line})`;
  return `${KEY_FILE_MANAGED_WHY}. Nothing changed, the host stays on the old key: ${add}, then run till host rotate-key ${name} again`;
}

/** `host rotate-key`, once the host logs in with the new key: the old line is left in the managed file. */
export function managedRemoveFailure(oldBlob: string): string {
  return `moved to the new key, but ${KEY_FILE_MANAGED_WHY}. Remove till's old key line (the one with ${oldBlob}) from the managed file by hand: the old key stays authorized until then`;
}

/** `host setup --restrict`: the key stays unrestricted. */
export function managedRestrictFailure(name: string, gateJson: string): string {
  return `could not restrict till's key: ${KEY_FILE_MANAGED_WHY}. Nothing changed, the key stays unrestricted: by hand, put restrict,command="<home>/.till/bin/till gate" before till's key in the managed file and write ~/.till/gate.json (${gateJson}), then run till host setup ${name} --restrict again (docs/gate.md)`;
}
