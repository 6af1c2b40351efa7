import { describe, expect, it } from 'vitest';
import type { HostResult } from '../../src/core/fanout.js';
import { recordWaitMs, ResultRecorder } from '../../src/core/result-recorder.js';

function result(host: string): HostResult {
  return {
    host,
    ok: true,
    status: 'ok',
    exitCode: 0,
    stdout: '',
    stderr: '',
    attempts: 1,
    durationMs: 1,
    error: null,
    failureKind: null,
  };
}
const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('ResultRecorder', () => {
  it('writes a run whose hosts all finish within the wait once, at the end', async () => {
    const writes: string[][] = [];
    const rec = new ResultRecorder(async (batch) => void writes.push(batch.map((r) => r.host)), 10_000);
    for (const h of ['a', 'b', 'c']) rec.add(result(h));
    expect(writes).toEqual([]);
    await rec.flush();
    expect(writes).toEqual([['a', 'b', 'c']]);
  });

  it('writes the hosts that finished while a slow one is still running, once the first of them has waited', async () => {
    const writes: string[][] = [];
    const rec = new ResultRecorder(async (batch) => void writes.push(batch.map((r) => r.host)), 50);
    rec.add(result('fast-1'));
    rec.add(result('fast-2'));
    // The slow host is still running: the fast ones must not wait for it.
    for (let i = 0; i < 100 && writes.length === 0; i++) await tick(20);
    expect(writes).toEqual([['fast-1', 'fast-2']]);
    rec.add(result('slow'));
    await rec.flush();
    expect(writes).toEqual([['fast-1', 'fast-2'], ['slow']]);
  });

  it('never overlaps two writes, and keeps their order', async () => {
    let inFlight = 0;
    let peak = 0;
    const order: string[] = [];
    const rec = new ResultRecorder(async (batch) => {
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      await tick(30);
      order.push(...batch.map((r) => r.host));
      inFlight -= 1;
    }, 1);
    for (const h of ['a', 'b', 'c', 'd']) {
      rec.add(result(h));
      await tick(10);
    }
    await rec.flush();
    expect(peak).toBe(1);
    expect(order).toEqual(['a', 'b', 'c', 'd']);
  });

  it('flush rejects with the first failed write (a full disk), after still trying the rest', async () => {
    const tried: string[] = [];
    const rec = new ResultRecorder(async (batch) => {
      tried.push(...batch.map((r) => r.host));
      throw Object.assign(new Error(`ENOSPC ${batch[0]!.host}`), { code: 'ENOSPC' });
    }, 1);
    rec.add(result('a'));
    await tick(30);
    rec.add(result('b'));
    await expect(rec.flush()).rejects.toThrow('ENOSPC a');
    expect(tried).toEqual(['a', 'b']);
  });

  it('waits longer for a big fleet, whose database costs more to write', () => {
    expect(recordWaitMs(20)).toBe(2_000);
    expect(recordWaitMs(10_000)).toBe(100_000);
  });
});
