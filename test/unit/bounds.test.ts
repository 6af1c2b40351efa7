import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  appendHistory,
  DEFAULT_HISTORY_PER_HOST,
  DEFAULT_HISTORY_TOTAL,
  emptyHealthHistory,
  type HealthSnapshot,
} from '../../src/core/state/health.js';
import { RotatingLog, rotateIfOver, SYNC_LOG_MAX_BYTES, WATCH_LOG_MAX_BYTES } from '../../src/watch/log.js';

/**
 * What a controller running `till watch` for a year keeps under TILL_HOME, and what it
 * cannot exceed however long it runs (docs/health.md, "How much disk"). The history and
 * the logs are bounded by count and size, not by time: once full, they stay full.
 */

/** The largest point a snapshot can make: every number present and long. */
function fullSnapshot(at: Date): HealthSnapshot {
  return {
    at: at.toISOString(),
    up: true,
    latencyMs: 123456,
    uptimeSec: 987654321,
    load1: 123.456,
    load5: 123.456,
    load15: 123.456,
    cpus: 1024,
    memTotalBytes: 1099511627776,
    memAvailableBytes: 1099511627775,
    diskFreeBytes: 1125899906842624,
    diskTotalBytes: 1125899906842624,
    diskPath: '/x',
    os: 'Linux',
    arch: 'x86_64',
    tillVersion: '1.0.0',
    release: 'r',
    degraded: true,
    reasons: ['why'],
  };
}

/** The written size of a history point, as the store writes the file (JSON, 2-space indent). */
const BYTES_PER_POINT = 420;

describe('a year of till watch cannot fill the controller disk', () => {
  it('health history: at most 20,000 points, under 8.4 MB, whatever the fleet size and however many runs', () => {
    // A year of checks every 15 minutes is 35,040 runs; the bounds are reached long before,
    // so 1.5 × the per-host bound over 250 hosts (more than the total bound) shows the plateau.
    const history = emptyHealthHistory();
    const hosts = Array.from({ length: 250 }, (_, i) => `web-${i}`);
    const limits = { perHost: DEFAULT_HISTORY_PER_HOST, total: DEFAULT_HISTORY_TOTAL };
    const sizes: number[] = [];
    const start = Date.UTC(2026, 0, 1);
    const runs = 150;
    for (let run = 0; run < runs; run++) {
      const at = new Date(start + run * 15 * 60_000);
      appendHistory(history, new Map(hosts.map((h) => [h, fullSnapshot(at)])), limits);
      if (run === 99 || run === runs - 1) sizes.push(Buffer.byteLength(`${JSON.stringify(history, null, 2)}\n`));
    }
    const points = Object.values(history.hosts).reduce((n, l) => n + l.length, 0);
    expect(points).toBe(DEFAULT_HISTORY_TOTAL);
    // The newest points are kept: the last run's for every host.
    for (const h of hosts)
      expect(history.hosts[h]!.at(-1)!.at).toBe(new Date(start + (runs - 1) * 15 * 60_000).toISOString());
    // Full after 80 runs: the file does not grow after that.
    expect(sizes[1]).toBe(sizes[0]);
    expect(sizes[0]!).toBeLessThanOrEqual(DEFAULT_HISTORY_TOTAL * BYTES_PER_POINT);
  });

  it('watch.log: at most 2 × 1 MiB, rotated, however much is logged', () => {
    const dir = mkdtempSync(join(tmpdir(), 't-'));
    try {
      const file = join(dir, 'logs', 'watch.log');
      const log = new RotatingLog(file);
      // ~2.4 MiB of lines: rotated twice (a year of a 10 s health interval logs far more).
      const line = `host health exit 1 in 812 ms (19 up, 0 degraded, 1 down): ${'x'.repeat(120)}`;
      for (let i = 0; i < 12_000; i++) expect(log.write(line)).toBe(true);
      expect(readdirSync(join(dir, 'logs')).sort()).toEqual(['watch.log', 'watch.log.1']);
      expect(statSync(file).size).toBeLessThanOrEqual(WATCH_LOG_MAX_BYTES);
      expect(statSync(`${file}.1`).size).toBeLessThanOrEqual(WATCH_LOG_MAX_BYTES);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('sync.log (appended by the scheduler): rotated by schedule run once past 1 MiB', () => {
    const dir = mkdtempSync(join(tmpdir(), 't-'));
    try {
      const file = join(dir, 'sync.log');
      expect(rotateIfOver(file, SYNC_LOG_MAX_BYTES)).toBe(false); // none yet
      writeFileSync(file, 'x'.repeat(SYNC_LOG_MAX_BYTES));
      expect(rotateIfOver(file, SYNC_LOG_MAX_BYTES)).toBe(false); // not past it
      writeFileSync(file, 'y'.repeat(SYNC_LOG_MAX_BYTES + 1));
      writeFileSync(`${file}.1`, 'older');
      expect(rotateIfOver(file, SYNC_LOG_MAX_BYTES)).toBe(true);
      expect(readdirSync(dir).sort()).toEqual(['sync.log.1']);
      expect(statSync(`${file}.1`).size).toBe(SYNC_LOG_MAX_BYTES + 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
