import type { HostJob } from '../core/fanout.js';
import type { TillPaths } from '../core/paths.js';
import { raiseTo, type HostEntry } from '../core/state/hosts.js';
import { test, TEST_MARKER } from '../protocol/host.js';
import { remoteFailure } from '../ssh/outcome.js';
import { runScript, scriptFailure, scriptOutcome } from '../ssh/run-script.js';

/** `till host test`: the seed's echo and the remote till's version, in one round trip. */
export interface TestData {
  latencyMs: number;
  tillVersion: string | null;
}

export function testJob(
  paths: TillPaths,
  opts: { connectTimeout?: number; timeoutMs?: number } = {},
): HostJob<TestData> {
  return async ({ name, signal }) => {
    const run = await runScript(paths, name, test, undefined, { signal, ...opts });
    if (run.failure || !run.value) return scriptOutcome(run);
    if (!run.value.ok)
      return scriptFailure(
        run,
        remoteFailure(
          `connected, but the remote shell did not echo ${TEST_MARKER} (a noisy or restricted login shell?)`,
        ),
      );
    return scriptOutcome(run, { latencyMs: run.result.durationMs, tillVersion: run.value.tillVersion });
  };
}

/** What a successful test says about a host: at least connected, till-ready if till answers. */
export function applyTest(entry: HostEntry, data: TestData | undefined): void {
  if (!data) return;
  entry.latency_ms = data.latencyMs;
  entry.till_version = data.tillVersion;
  const current = entry.status === 'unreachable' ? 'untested' : entry.status;
  entry.status = raiseTo(current, data.tillVersion !== null ? 'till-ready' : 'connected');
}
