import type { TillPaths } from '../core/paths.js';
import { hostsStore } from '../core/state/hosts.js';
import { PROBE_BOUND_MS } from '../ops/test.js';
import { stopMasters } from '../ssh/client.js';
import type { WatchTask } from './daemon.js';
import { countsLine, hostStates, stateChanges, type HostState } from './transitions.js';

/**
 * The watch daemon's periodic `till host health --all`. Each host's check is bounded
 * (`--timeout`) by half the interval, 10 s at least (a loaded controller opening 20
 * fresh sessions at once needed more than 5) and PROBE_BOUND_MS at most, so a run ends
 * within its interval whatever hangs (at the 10 s minimum interval, within about one):
 * a frozen host is reported down by the first run after it froze, and the runs keep
 * their cadence for every other host. The child
 * records each host as it finishes (ResultRecorder), so /metrics does not wait for the
 * slowest host either. After each run the daemon logs the counts and every change.
 * Every `reauthMs` the run logs in to every host afresh (see beforeRun).
 */
export function healthBoundMs(intervalMs: number): number {
  return Math.min(PROBE_BOUND_MS, Math.max(10_000, Math.floor(intervalMs / 2)));
}

/** How often the health task logs in afresh by default (--reauth-interval). */
export const REAUTH_INTERVAL_MS = 10 * 60_000;

export function healthTask(
  paths: TillPaths,
  intervalMs: number,
  tillArgs: (args: string[]) => { command: string; args: string[] },
  reauthMs: number = REAUTH_INTERVAL_MS,
): WatchTask {
  const bound = healthBoundMs(intervalMs);
  let last: Map<string, HostState> | undefined;
  let lastReauth = Date.now();
  return {
    name: 'host health',
    intervalMs,
    command: tillArgs(['host', 'health', '--all', '--timeout', String(bound / 1000)]),
    // A master that logged in before a host lost till's key keeps working: stopping the
    // masters now and then makes the next run log in afresh, so a removed key shows (auth).
    beforeRun: async () => {
      if (Date.now() - lastReauth < reauthMs) return undefined;
      lastReauth = Date.now();
      const n = await stopMasters(paths);
      return n > 0 ? `logging in afresh: stopped ${n} ssh master connection(s)` : undefined;
    },
    afterRun: async () => {
      const states = hostStates(await hostsStore(paths).read());
      const lines = stateChanges(last, states);
      last = states;
      return { note: countsLine(states), lines };
    },
  };
}
