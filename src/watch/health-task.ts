import type { TillPaths } from '../core/paths.js';
import { hostsStore } from '../core/inventory.js';
import { PROBE_BOUND_MS } from '../ops/test.js';
import type { WatchTask } from './daemon.js';
import { countsLine, hostStates, stateChanges, type HostState } from './transitions.js';

/**
 * The watch daemon's periodic `till host health --all`. Each host's check is bounded
 * (`--timeout`) by half the interval (5 s at least, PROBE_BOUND_MS at most), so a run
 * ends within its interval whatever hangs: a frozen host is reported down by the first
 * run after it froze, and the runs keep their cadence for every other host. The child
 * records each host as it finishes (ResultRecorder), so /metrics does not wait for the
 * slowest host either. After each run the daemon logs the counts and every change.
 */
export function healthBoundMs(intervalMs: number): number {
  return Math.min(PROBE_BOUND_MS, Math.max(5_000, Math.floor(intervalMs / 2)));
}

export function healthTask(
  paths: TillPaths,
  intervalMs: number,
  tillArgs: (args: string[]) => { command: string; args: string[] },
): WatchTask {
  const bound = healthBoundMs(intervalMs);
  let last: Map<string, HostState> | undefined;
  return {
    name: 'host health',
    intervalMs,
    command: tillArgs(['host', 'health', '--all', '--timeout', String(bound / 1000)]),
    afterRun: async () => {
      const states = hostStates(await hostsStore(paths).read());
      const lines = stateChanges(last, states);
      last = states;
      return { note: countsLine(states), lines };
    },
  };
}
