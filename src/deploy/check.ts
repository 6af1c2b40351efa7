import { remoteScript } from '../remote/script.js';
import type { RemoteLayout } from './layout.js';

/**
 * A deploy's `--check`, looked at before anything else happens on the host. The script
 * itself does nothing. On a restricted host the gate first runs its validate hook
 * (allowlist.ts: "$1" a deploy root, "$2" listed in gate.json "checks"), so a check the
 * host does not allow fails before the lock, the upload and the `<id>.partial`
 * release, with the same words as at the switch. Without a gate it is one round trip
 * that passes. Args: tekton_path, check. Frozen text: registered as `deploy-check`.
 */
export const DEPLOY_CHECK_SCRIPT = [
  '# till host deploy --check: the gate of a restricted host compares "$2" with ~/.till/gate.json "checks" before it runs this',
  'echo TILL_CHECK_ALLOWED',
].join('\n');

export function checkAllowedScript(l: RemoteLayout, check: string): string {
  return remoteScript(DEPLOY_CHECK_SCRIPT, [l.path, check]);
}
