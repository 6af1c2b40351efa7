import { describe, expect, it } from 'vitest';
import { isDeadline, runProcess } from '../../src/ssh/process.js';
import { hostDeadlineReason } from '../../src/core/fanout.js';

/** The process layer tells a deadline (the engine's per-host bound) from a cancel (Ctrl-C). */
describe('runProcess and an aborted signal', () => {
  it('a TimeoutError reason ends the child as timed out, not cancelled', async () => {
    const c = new AbortController();
    setTimeout(() => c.abort(hostDeadlineReason(100)), 100);
    const r = await runProcess('sleep', ['30'], { signal: c.signal });
    expect(r).toMatchObject({ timedOut: true, cancelled: false, exitCode: null });
    expect(r.durationMs).toBeLessThan(10_000);
    expect(isDeadline(c.signal)).toBe(true);
  });

  it('any other reason is a cancel', async () => {
    const c = new AbortController();
    setTimeout(() => c.abort(), 100);
    const r = await runProcess('sleep', ['30'], { signal: c.signal });
    expect(r).toMatchObject({ timedOut: false, cancelled: true });
    expect(isDeadline(c.signal)).toBe(false);
  });

  it('a signal already past its deadline starts nothing and says timed out', async () => {
    const r = await runProcess('sleep', ['30'], { signal: AbortSignal.abort(hostDeadlineReason(1)) });
    expect(r).toMatchObject({ timedOut: true, cancelled: false, durationMs: 0 });
  });
});

describe('runProcess and a process the kernel refuses to start', () => {
  it('an argument over 128 KiB (spawn throws E2BIG) is a spawnError result, not a rejection', async () => {
    const r = await runProcess('true', ['x'.repeat(140_000)]);
    expect(r.spawnError).toMatch(/E2BIG/);
    expect(r).toMatchObject({ command: 'true', exitCode: null, cancelled: false, timedOut: false });
  });
});
