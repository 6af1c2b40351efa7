import type { HostJob } from '../core/fanout.js';
import type { TillPaths } from '../core/paths.js';
import { raiseTo, type HostEntry } from '../core/state/hosts.js';
import { markerLine } from '../remote/script.js';
import { sshRun, toOutcome } from '../ssh/client.js';
import { noAnswer } from '../ssh/outcome.js';

export const TEST_MARKER = 'TILL_TEST_SUCCESS';
/** The remote till's launcher, relative to the remote home. */
export const REMOTE_TILL = '.till/bin/till';

/** One round trip: the seed's echo, and the remote till's version if it is installed. */
export const TEST_COMMAND = `echo ${TEST_MARKER}; "$HOME"/${REMOTE_TILL} --version 2>/dev/null || true`;

export interface TestData {
  latencyMs: number;
  tillVersion: string | null;
}

export function parseTestOutput(stdout: string): { ok: boolean; tillVersion: string | null } {
  const lines = stdout.split('\n').map((l) => l.trim());
  const at = markerLine(lines, TEST_MARKER);
  if (at === -1) return { ok: false, tillVersion: null };
  const version = lines.slice(at + 1).find((l) => /^\d+\.\d+\.\d+\S*$/.test(l));
  return { ok: true, tillVersion: version ?? null };
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
    const result = await sshRun(paths, name, TEST_COMMAND, { signal, ...call });
    if (result.timedOut && result.stdout === '')
      return {
        ok: false,
        failure: noAnswer(boundMs ?? call.timeoutMs),
        exitCode: null,
        stdout: '',
        stderr: result.stderr,
      };
    const outcome = toOutcome<TestData>(result);
    if (!outcome.ok) return outcome;
    const parsed = parseTestOutput(result.stdout);
    if (!parsed.ok) {
      return {
        ...outcome,
        ok: false,
        failure: {
          kind: 'remote',
          connection: false,
          retryable: false,
          message: `connected, but the remote shell did not echo ${TEST_MARKER} (a noisy or restricted login shell?)`,
        },
      };
    }
    return { ...outcome, data: { latencyMs: result.durationMs, tillVersion: parsed.tillVersion } };
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
