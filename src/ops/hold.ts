import type { HostJob } from '../core/fanout.js';
import type { TillPaths } from '../core/paths.js';
import { describeHold, parseHoldInfo, remoteLayout, type HoldInfo } from '../deploy/layout.js';
import { hostLock, hostUnlock } from '../protocol/hold.js';
import { remoteFailure } from '../ssh/outcome.js';
import { runScript, scriptFailure, scriptOutcome } from '../ssh/run-script.js';
import { lockOwner } from '../deploy/record.js';

/**
 * `till host lock -m "why"` and `till host unlock`: the manual lock on each host
 * (src/protocol/hold.ts), which deploy and rollback respect and `--force-unlock` never
 * breaks. The host entry keeps the lock as this TILL_HOME last saw it, for `host show`
 * and `status`.
 */

export interface HoldData {
  /** The lock on the host after the call (lock), or the one removed (unlock); null: none. */
  hold: Partial<HoldInfo> | null;
  /** This call changed it (placed or removed). */
  changed: boolean;
}

export function lockJob(
  paths: TillPaths,
  opts: { message: string; connectTimeout?: number; timeoutMs?: number },
): HostJob<HoldData> {
  return async ({ name, entry, signal }) => {
    const res = await runScript(
      paths,
      name,
      hostLock,
      {
        path: remoteLayout(entry.tekton_path).path,
        by: lockOwner(),
        when: new Date().toISOString(),
        message: opts.message,
      },
      { signal, connectTimeout: opts.connectTimeout, timeoutMs: opts.timeoutMs },
    );
    if (res.failure || !res.value) return scriptOutcome(res);
    const hold = parseHoldInfo(res.value.info);
    const data: HoldData = { hold, changed: res.value.placed };
    if (!res.value.placed)
      return { ...scriptFailure(res, remoteFailure(`already locked by ${describeHold(hold)}`)), data };
    return { ...scriptOutcome(res, data), stdout: '' };
  };
}

export function unlockJob(paths: TillPaths, opts: { connectTimeout?: number; timeoutMs?: number }): HostJob<HoldData> {
  return async ({ name, entry, signal }) => {
    const res = await runScript(
      paths,
      name,
      hostUnlock,
      { path: remoteLayout(entry.tekton_path).path },
      { signal, connectTimeout: opts.connectTimeout, timeoutMs: opts.timeoutMs },
    );
    if (res.failure || !res.value) return scriptOutcome(res);
    const data: HoldData = {
      hold: res.value.removed ? parseHoldInfo(res.value.info) : null,
      changed: res.value.removed,
    };
    return { ...scriptOutcome(res, data), stdout: '' };
  };
}
