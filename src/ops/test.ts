import type { HostJob } from '../core/fanout.js';
import type { TillPaths } from '../core/paths.js';
import { raiseTo, type HostEntry } from '../core/state/hosts.js';
import { test, TEST_MARKER } from '../protocol/host.js';
import { markCshHost } from '../ssh/csh-hosts.js';
import { noAnswer, remoteFailure } from '../ssh/outcome.js';
import { runScript, scriptFailure, scriptOutcome } from '../ssh/run-script.js';

/** `till host test`: the seed's echo and the remote till's version, in one round trip. */
export interface TestData {
  latencyMs: number;
  tillVersion: string | null;
}

/**
 * The default bound on one host's whole quick probe (`host test`, `host health`), every
 * attempt included: a host that has not answered by then is down. A frozen host (sshd
 * and its sessions stopped) accepts the TCP connection and then says nothing; without
 * a bound `host health --all` waited ~75-90 s for it (ServerAlive on its master, then two
 * banner timeouts), and a watch daemon saw no other host meanwhile.
 */
export const PROBE_BOUND_MS = 20_000;

/** The bound for a given --connect-timeout: room for one whole attempt at least. */
export function probeBoundMs(connectTimeoutSeconds: number | undefined): number {
  return Math.max(PROBE_BOUND_MS, ((connectTimeoutSeconds ?? 0) + 10) * 1000);
}

export function testJob(
  paths: TillPaths,
  opts: { connectTimeout?: number; timeoutMs?: number; boundMs?: number } = {},
): HostJob<TestData> {
  return async ({ name, signal }) => {
    const { boundMs, ...call } = opts;
    const run = await runScript(paths, name, test, undefined, { signal, ...call });
    // Not one byte back before the bound: the host is down (frozen, or its sshd hangs), not slow.
    if (run.result.timedOut && run.result.stdout === '')
      return {
        ok: false,
        failure: noAnswer(boundMs ?? call.timeoutMs),
        exitCode: null,
        stdout: '',
        stderr: run.result.stderr,
      };
    if (run.failure || !run.value) return scriptOutcome(run);
    if (!run.value.ok)
      return scriptFailure(
        run,
        remoteFailure(
          `connected, but the remote shell did not echo ${TEST_MARKER} (a noisy or restricted login shell?)`,
        ),
      );
    // Only test-v2 can tell; the `test` line (an older gate's) says nothing of the shell.
    if (run.version === 'test-v2') await markCshHost(paths, name, run.value.loginCsh);
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
