import type { HealthSnapshot } from '../../src/core/state/health.js';

/** A host health snapshot as `host health` records it: an up, healthy host with these fields changed. */
export function healthSnapshot(over: Partial<HealthSnapshot> = {}): HealthSnapshot {
  return {
    at: '2026-11-26T11:59:00Z',
    up: true,
    latencyMs: 12,
    uptimeSec: 1,
    load1: 0.5,
    load5: 0.5,
    load15: 0.5,
    cpus: 2,
    memTotalBytes: 1,
    memAvailableBytes: 1,
    diskFreeBytes: 1,
    diskTotalBytes: 2,
    os: 'Linux',
    arch: 'x86_64',
    tillVersion: null,
    release: null,
    degraded: false,
    reasons: [],
    ...over,
  };
}
