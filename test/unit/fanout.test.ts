import { afterEach, describe, expect, it, vi } from 'vitest';
import { runFleet, type FleetEvent, type JobOutcome, type Target } from '../../src/core/fanout.js';
import type { HostEntry } from '../../src/core/state/hosts.js';
import type { Failure } from '../../src/ssh/outcome.js';
import { HostFailure } from '../../src/core/failure.js';

/** Jobs here are plain functions: the engine is tested without any process layer. */
function entry(host: string, port = 22, status: HostEntry['status'] = 'connected'): HostEntry {
  return { user: 'u', host, port, status, added: '2024-01-01T00:00:00.000Z', tekton_path: '~/t', installations: [] };
}
function targets(n: number, sameEndpoint = false): Target[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `h${i}`,
    entry: entry(sameEndpoint ? '127.0.0.1' : `127.0.0.${i + 1}`),
  }));
}
const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));
const refused: Failure = { kind: 'refused', connection: true, retryable: true, message: 'connection refused' };
const authFailed: Failure = { kind: 'auth', connection: true, retryable: false, message: 'authentication failed' };
const remoteFailed: Failure = {
  kind: 'remote',
  connection: false,
  retryable: false,
  message: 'remote command failed (exit code 7)',
};
const fastBackoff = { minMs: 1, maxMs: 2, factor: 2 };
/** Runs a short job on every target; the most jobs that were in flight at once. */
const peakOf = async (list: Target[], opts: { parallel: number; perEndpoint?: number }) => {
  let inFlight = 0;
  let peak = 0;
  const report = await runFleet(
    list,
    async () => {
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      await tick();
      inFlight -= 1;
      return { ok: true };
    },
    opts,
  );
  expect(report.summary.ok).toBe(list.length);
  return peak;
};

describe('runFleet', () => {
  it('never has more than --parallel jobs in flight, and runs them all', async () => {
    expect(await peakOf(targets(20), { parallel: 4 })).toBe(4);
    const report = await runFleet(targets(3), async () => ({ ok: true }));
    expect(report.summary).toEqual({ total: 3, ok: 3, failed: 0, unreachable: 0, skipped: 0 });
    expect(report.ok).toBe(true);
  });

  it('bounds jobs per sshd endpoint below the global bound', async () => {
    expect(await peakOf(targets(25, true), { parallel: 20, perEndpoint: 3 })).toBe(3);
  });

  it('lets different endpoints use the whole global bound', async () => {
    expect(await peakOf(targets(12), { parallel: 12, perEndpoint: 1 })).toBe(12);
  });

  it('attempts a remote failure once: the command may not be idempotent', async () => {
    let calls = 0;
    const events: FleetEvent[] = [];
    const report = await runFleet(
      targets(1),
      async () => {
        calls += 1;
        return { ok: false, failure: remoteFailed, exitCode: 7 };
      },
      { attempts: 3, backoff: fastBackoff, onEvent: (e) => events.push(e) },
    );
    expect(calls).toBe(1);
    expect(events.some((e) => e.type === 'retry')).toBe(false);
    expect(report.results[0]).toMatchObject({ status: 'failed', exitCode: 7, attempts: 1, ok: false });
  });

  it('attempts a non-retryable connection failure (refused key) once', async () => {
    let calls = 0;
    const report = await runFleet(
      targets(1),
      async () => {
        calls += 1;
        return { ok: false, failure: authFailed, exitCode: 255 };
      },
      { attempts: 3, backoff: fastBackoff },
    );
    expect(calls).toBe(1);
    expect(report.results[0]).toMatchObject({ status: 'unreachable', attempts: 1, failureKind: 'auth' });
  });

  it('retries a connection failure up to the attempts, with a retry event before each new attempt', async () => {
    const events: FleetEvent[] = [];
    const report = await runFleet(targets(1), async () => ({ ok: false, failure: refused, exitCode: 255 }), {
      attempts: 3,
      backoff: fastBackoff,
      onEvent: (e) => events.push(e),
    });
    const retries = events.filter((e) => e.type === 'retry');
    expect(retries.map((e) => e.type === 'retry' && e.attempt)).toEqual([1, 2]);
    expect(report.results[0]).toMatchObject({
      status: 'unreachable',
      attempts: 3,
      error: 'connection refused',
      failureKind: 'refused',
    });
    expect(report.ok).toBe(false);
  });

  it('stops retrying once an attempt succeeds', async () => {
    let calls = 0;
    const report = await runFleet(
      targets(1),
      async (): Promise<JobOutcome> => {
        calls += 1;
        return calls < 2 ? { ok: false, failure: refused } : { ok: true, stdout: 'hi\n', exitCode: 0 };
      },
      { attempts: 5, backoff: fastBackoff },
    );
    expect(calls).toBe(2);
    expect(report.results[0]).toMatchObject({ ok: true, status: 'ok', attempts: 2, stdout: 'hi\n' });
  });

  it('gives hosts chosen by singleAttemptFor one attempt only', async () => {
    const calls = new Map<string, number>();
    const ts = targets(2);
    ts[1]!.entry.status = 'unreachable';
    await runFleet(
      ts,
      async ({ name }) => {
        calls.set(name, (calls.get(name) ?? 0) + 1);
        return { ok: false, failure: refused };
      },
      { attempts: 3, backoff: fastBackoff, singleAttemptFor: (t) => t.entry.status === 'unreachable' },
    );
    expect(Object.fromEntries(calls)).toEqual({ h0: 3, h1: 1 });
  });

  it('one failing host does not affect the others', async () => {
    const report = await runFleet(
      targets(5),
      async ({ name }) => (name === 'h2' ? { ok: false, failure: refused } : { ok: true, stdout: name }),
      { attempts: 2, backoff: fastBackoff },
    );
    expect(report.results.map((r) => r.status)).toEqual(['ok', 'ok', 'unreachable', 'ok', 'ok']);
    expect(report.summary).toMatchObject({ ok: 4, unreachable: 1 });
  });

  it('on abort starts no new host, cancels running ones and reports the rest skipped', async () => {
    const controller = new AbortController();
    let started = 0;
    const report = await runFleet(
      targets(6),
      ({ signal }) => {
        started += 1;
        if (started === 2) setTimeout(() => controller.abort(), 5);
        return new Promise<JobOutcome>((resolve) => {
          signal.addEventListener(
            'abort',
            () =>
              resolve({
                ok: false,
                failure: { kind: 'cancelled', connection: false, retryable: false, message: 'cancelled' },
              }),
            { once: true },
          );
        });
      },
      { parallel: 2, signal: controller.signal },
    );
    expect(started).toBe(2);
    expect(report.cancelled).toBe(true);
    expect(report.results.map((r) => r.status)).toEqual([
      'failed',
      'failed',
      'skipped',
      'skipped',
      'skipped',
      'skipped',
    ]);
    expect(report.results[0]!.error).toBe('cancelled');
    expect(report.results[5]).toMatchObject({ attempts: 0, error: 'not started (interrupted)' });
    expect(report.summary.skipped).toBe(4);
  });

  it('a connection failure seen after the abort is reported cancelled, never unreachable (Ctrl-C reaches ssh too)', async () => {
    const controller = new AbortController();
    let calls = 0;
    const report = await runFleet(
      targets(2),
      async () => {
        calls += 1;
        controller.abort();
        // What an ssh killed by the terminal's SIGINT looks like: exit 255, a retryable connection failure.
        return { ok: false, failure: refused, exitCode: 255, stdout: 'partial\n' };
      },
      { parallel: 1, attempts: 3, backoff: fastBackoff, signal: controller.signal },
    );
    expect(calls).toBe(1);
    expect(report.results[0]).toMatchObject({
      status: 'failed',
      failureKind: 'cancelled',
      error: 'cancelled',
      exitCode: null,
      attempts: 1,
      stdout: 'partial\n',
    });
    expect(report.results[1]).toMatchObject({ status: 'skipped', attempts: 0 });
    expect(report.summary).toMatchObject({ unreachable: 0, failed: 1, skipped: 1 });
  });

  it('a success that lands after the abort stays a success', async () => {
    const controller = new AbortController();
    const report = await runFleet(
      targets(1),
      async () => {
        controller.abort();
        return { ok: true, exitCode: 0, stdout: 'done\n' };
      },
      { signal: controller.signal },
    );
    expect(report.results[0]).toMatchObject({ ok: true, status: 'ok', stdout: 'done\n' });
  });

  it('keeps the order of the targets in the results', async () => {
    const report = await runFleet(targets(8), async ({ name }) => {
      await tick(name === 'h0' ? 30 : 1);
      return { ok: true };
    });
    expect(report.results.map((r) => r.host)).toEqual(['h0', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'h7']);
  });
});

describe('runFleet: endpoints, events and results', () => {
  const behind = (jump: string | undefined, n: number, from = 0): Target[] =>
    Array.from({ length: n }, (_, i) => ({
      name: `j${from + i}`,
      entry: { ...entry(`127.1.0.${from + i + 1}`), ...(jump !== undefined ? { jump } : {}) },
    }));

  it('hosts behind one ProxyJump share its per-endpoint limit, whatever their own addresses', async () => {
    // Every connection to a host behind the jump is a session on the jump host's sshd.
    expect(await peakOf(behind('bastion', 12), { parallel: 20, perEndpoint: 3 })).toBe(3);
    // Two jump hosts: two limits.
    expect(await peakOf([...behind('b1', 6), ...behind('b2', 6, 6)], { parallel: 20, perEndpoint: 2 })).toBe(4);
  });

  it('emits start and done for every host that runs, nothing for a host that never started', async () => {
    const controller = new AbortController();
    const events: FleetEvent[] = [];
    const report = await runFleet(
      targets(3),
      async ({ name }) => {
        if (name === 'h0') controller.abort();
        return { ok: true, stdout: name };
      },
      { parallel: 1, signal: controller.signal, onEvent: (e) => events.push(e) },
    );
    expect(events.map((e) => (e.type === 'done' ? `done ${e.result.host}` : `${e.type} ${e.host}`))).toEqual([
      'start h0',
      'done h0',
    ]);
    expect(events[1]).toEqual({ type: 'done', result: report.results[0] });
    for (const r of report.results.slice(1)) {
      expect(r).toEqual({
        host: r.host,
        ok: false,
        status: 'skipped',
        exitCode: null,
        stdout: '',
        stderr: '',
        attempts: 0,
        durationMs: 0,
        error: 'not started (interrupted)',
        failureKind: null,
      });
    }
  });

  it("carries the job's data, output and exit code into the result; blanks for what the job left out", async () => {
    const started = performance.now();
    const report = await runFleet(targets(3), async ({ name }) => {
      if (name === 'h0') return { ok: true, exitCode: 0, stdout: 'out', stderr: 'err', data: { n: 1 } };
      if (name === 'h1') return { ok: true };
      return { ok: false };
    });
    const elapsed = performance.now() - started;
    expect(report.results[0]).toMatchObject({ ok: true, exitCode: 0, stdout: 'out', stderr: 'err', data: { n: 1 } });
    expect(report.results[1]).toMatchObject({ ok: true, status: 'ok', exitCode: null, stdout: '', stderr: '' });
    expect('data' in report.results[1]!).toBe(false);
    expect(report.results[1]).toMatchObject({ error: null, failureKind: null, attempts: 1 });
    // A failure the job did not describe: failed (it ran), never unreachable.
    expect(report.results[2]).toMatchObject({ ok: false, status: 'failed', error: 'failed', failureKind: null });
    for (const r of report.results) {
      expect(r.durationMs).toBeGreaterThanOrEqual(0);
      expect(r.durationMs).toBeLessThanOrEqual(Math.ceil(elapsed));
    }
  });

  it('a retry event names the failure that caused it; the default backoff starts at 0.5-1 s', async () => {
    const controller = new AbortController();
    const events: FleetEvent[] = [];
    let calls = 0;
    await runFleet(
      targets(1),
      async () => {
        calls += 1;
        return { ok: false, failure: refused, exitCode: 255 };
      },
      {
        signal: controller.signal,
        onEvent: (e) => {
          events.push(e);
          // Cancelled in its first backoff wait: the test does not wait the default 0.5 s.
          if (e.type === 'retry') controller.abort();
        },
      },
    );
    expect(calls).toBe(1);
    expect(events.find((e) => e.type === 'retry')).toEqual({
      type: 'retry',
      host: 'h0',
      attempt: 1,
      delayMs: 500,
      maxDelayMs: 1000,
      error: 'connection refused',
    });
  });

  it('a host cancelled during its backoff wait: failed as cancelled, one attempt, no retry after the abort', async () => {
    const controller = new AbortController();
    const events: FleetEvent[] = [];
    let calls = 0;
    const report = await runFleet(
      targets(1),
      async () => {
        calls += 1;
        setTimeout(() => controller.abort(), 5);
        return { ok: false, failure: refused, exitCode: 255, stdout: 'first\n' };
      },
      {
        attempts: 3,
        backoff: { minMs: 10_000, maxMs: 10_000, factor: 1 },
        signal: controller.signal,
        onEvent: (e) => events.push(e),
      },
    );
    expect(calls).toBe(1);
    expect(report.cancelled).toBe(true);
    expect(report.results[0]).toMatchObject({
      ok: false,
      status: 'failed',
      attempts: 1,
      error: 'cancelled',
      failureKind: 'cancelled',
      exitCode: null,
    });
    expect(report.summary).toEqual({ total: 1, ok: 0, failed: 1, unreachable: 0, skipped: 0 });
    expect(events.filter((e) => e.type === 'retry')).toHaveLength(1);
  });

  it('a job that throws is a bug: runFleet rejects instead of reporting a host failure', async () => {
    await expect(
      runFleet(
        targets(1),
        async () => {
          throw new Error('bug in the job');
        },
        { attempts: 1 },
      ),
    ).rejects.toThrow('bug in the job');
  });

  it('a job that throws is not tried again, even with attempts left', async () => {
    let calls = 0;
    await expect(
      runFleet(
        targets(1),
        async () => {
          calls += 1;
          throw new Error('bug in the job');
        },
        { attempts: 3, backoff: { minMs: 1, maxMs: 1, factor: 1 } },
      ),
    ).rejects.toThrow('bug in the job');
    expect(calls).toBe(1);
  });
});

describe('runFleet and HostFailure', () => {
  it('a job that throws HostFailure ends that host with its failure, once, and the others run', async () => {
    const refusal: Failure = { kind: 'local', connection: false, retryable: false, message: 'cannot send x: bad' };
    const calls = new Map<string, number>();
    const report = await runFleet(
      targets(2),
      async ({ name }) => {
        calls.set(name, (calls.get(name) ?? 0) + 1);
        if (name === 'h0') throw new HostFailure(refusal);
        return { ok: true };
      },
      { attempts: 3, backoff: fastBackoff },
    );
    expect(calls.get('h0')).toBe(1);
    const h0 = report.results.find((r) => r.host === 'h0')!;
    expect(h0).toMatchObject({ ok: false, status: 'failed', error: 'cannot send x: bad', failureKind: 'local' });
    expect(report.summary).toEqual({ total: 2, ok: 1, failed: 1, unreachable: 0, skipped: 0 });
  });
});

describe('runFleet backoff', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('waits exponentially longer between attempts, capped, each wait randomised (jitter) within [d, 2d]', async () => {
    const backoff = { minMs: 40, maxMs: 100, factor: 2 };
    const waits: number[] = [];
    const real = globalThis.setTimeout;
    // Record the engine's backoff waits (the only timers of 40 ms or more here), then wait for real.
    vi.spyOn(globalThis, 'setTimeout').mockImplementation(((fn: () => void, ms?: number) => {
      if ((ms ?? 0) >= backoff.minMs) waits.push(ms!);
      return real(fn, ms);
    }) as typeof setTimeout);
    const events: FleetEvent[] = [];
    const report = await runFleet(targets(8), async () => ({ ok: false, failure: refused, exitCode: 255 }), {
      attempts: 4,
      backoff,
      onEvent: (e) => events.push(e),
    });
    vi.restoreAllMocks();
    expect(report.results.every((r) => r.attempts === 4)).toBe(true);
    expect(waits).toHaveLength(8 * 3);
    // Per host, in order: [40, 80], [80, 100] (160 capped), 100 (320 capped).
    const first = waits.filter((w) => w < 80);
    expect(first.length).toBeGreaterThanOrEqual(1);
    for (const w of waits) expect(w).toBeGreaterThanOrEqual(40);
    for (const w of waits) expect(w).toBeLessThanOrEqual(100);
    expect(waits.filter((w) => w === 100).length).toBeGreaterThanOrEqual(8);
    // Jitter: eight hosts do not all wait the same first delay.
    const retries = events.filter((e): e is Extract<FleetEvent, { type: 'retry' }> => e.type === 'retry');
    expect(retries.filter((e) => e.attempt === 1).every((e) => e.delayMs === 40 && e.maxDelayMs === 80)).toBe(true);
    expect(retries.filter((e) => e.attempt === 2).every((e) => e.delayMs === 80 && e.maxDelayMs === 100)).toBe(true);
    expect(retries.filter((e) => e.attempt === 3).every((e) => e.delayMs === 100 && e.maxDelayMs === 100)).toBe(true);
    expect(new Set(waits.filter((w) => w < 80)).size).toBeGreaterThan(1);
  });
});

describe('runFleet: the per-host bound (hostTimeoutMs)', () => {
  /** A job that hangs until its signal aborts, as ssh to a frozen host does; resolves with what the abort was. */
  const hangUntilAborted = (hang: Set<string>) => async (ctx: { name: string; signal: AbortSignal }) => {
    if (!hang.has(ctx.name)) return { ok: true, stdout: 'up\n' } as JobOutcome;
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
    const deadline = (ctx.signal.reason as { name?: string }).name === 'TimeoutError';
    return {
      ok: false,
      failure: deadline
        ? { kind: 'deadline', connection: false, retryable: false, message: 'timed out' }
        : { kind: 'cancelled', connection: false, retryable: false, message: 'cancelled' },
    } as JobOutcome;
  };

  it('ends a host that hangs at its bound, with a TimeoutError as the abort reason, without holding up the others', async () => {
    const done: string[] = [];
    const report = await runFleet(targets(4), hangUntilAborted(new Set(['h1'])), {
      hostTimeoutMs: 300,
      onEvent: (e) => e.type === 'done' && done.push(e.result.host),
    });
    const h1 = report.results.find((r) => r.host === 'h1')!;
    expect(h1).toMatchObject({ ok: false, status: 'failed', failureKind: 'deadline', attempts: 1 });
    expect(h1.durationMs).toBeGreaterThanOrEqual(290);
    // The others were reported as they finished, before the hanging host's bound.
    expect(done).toHaveLength(4);
    expect(done.at(-1)).toBe('h1');
    expect(report.summary).toMatchObject({ ok: 3, failed: 1 });
  });

  it('bounds all attempts together: the bound passing during the wait before a retry leaves the last failure', async () => {
    let calls = 0;
    const report = await runFleet(
      targets(1),
      async () => {
        calls += 1;
        return { ok: false, failure: refused, exitCode: 255 };
      },
      // The first wait alone (≥ 60 s) is far past the bound: without it the test would time out.
      { attempts: 5, backoff: { minMs: 60_000, maxMs: 60_000, factor: 1 }, hostTimeoutMs: 250 },
    );
    expect(calls).toBe(1);
    expect(report.results[0]).toMatchObject({ status: 'unreachable', attempts: 1, failureKind: 'refused' });
  });

  it('a host whose first attempt does not end by the bound (its job ignores the signal) is a deadline failure', async () => {
    let release: () => void = () => undefined;
    const late = new Promise<void>((r) => (release = r));
    const report = await runFleet(
      targets(1),
      async () => {
        await late;
        return { ok: true };
      },
      { hostTimeoutMs: 100 },
    );
    release();
    expect(report.results[0]).toMatchObject({
      ok: false,
      status: 'failed',
      attempts: 1,
      failureKind: 'deadline',
      error: 'no result within 100 ms',
    });
  });

  it('Ctrl-C is still a cancel, not a deadline, for a host that has a bound', async () => {
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 50);
    const report = await runFleet(targets(2), hangUntilAborted(new Set(['h0', 'h1'])), {
      hostTimeoutMs: 10_000,
      signal: stop.signal,
    });
    expect(report.cancelled).toBe(true);
    for (const r of report.results) expect(r.failureKind).toBe('cancelled');
  });
});
