import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { type HostEntry, type HostsFile } from '../../src/core/state/hosts.js';
import { hostsFileSchema } from '../../src/core/state/hosts-schema.js';
import { emptyHealthHistory } from '../../src/core/state/health.js';
import { emptyScheduleFile } from '../../src/core/state/schedule.js';
import { fleetMetricFamilies } from '../../src/metrics/fleet.js';
import { renderPrometheus } from '../../src/metrics/prometheus.js';
import { downSnapshot, snapshotOf, DEFAULT_THRESHOLDS } from '../../src/ops/health.js';
import { parseHealthOutput } from '../../src/protocol/probes.js';
import { healthBoundMs } from '../../src/watch/health-task.js';
import { countsLine, hostStates, stateChanges } from '../../src/watch/transitions.js';

/** What the watch daemon logs after each health run, and the reason /metrics gives for a down host. */
const at = new Date('2026-01-01T00:00:00Z');
function entry(extra: Partial<HostEntry> = {}): HostEntry {
  return {
    user: 'u',
    host: '127.0.0.9',
    port: 22,
    status: 'connected',
    added: '2026-01-01T00:00:00Z',
    tekton_path: '~/T',
    installations: [],
    ...extra,
  };
}
const upSnapshot = (degraded = false) => ({
  ...snapshotOf(at, parseHealthOutput('till_health_begin=1\nload=0.1 0.1 0.1\ncpus=2\ntill_health_end=1\n'), 3, {
    ...DEFAULT_THRESHOLDS,
    loadMaxPerCore: degraded ? 0.01 : null,
  }),
});
function db(hosts: Record<string, HostEntry>): HostsFile {
  return hostsFileSchema.parse({ hosts });
}

describe('the watch daemon after a health run', () => {
  it('names every host that is not up on its first run, and only changes after that', () => {
    const first = hostStates(
      db({
        a: entry({ health: upSnapshot() }),
        b: entry({ health: downSnapshot(at, 'connection refused: x', 'refused'), failures: 1 }),
        c: entry({ health: upSnapshot(true) }),
      }),
    );
    expect(countsLine(first)).toBe('1 up, 1 degraded, 1 down');
    expect(stateChanges(undefined, first)).toEqual([
      'b is down: connection refused: x',
      expect.stringMatching(/^c is degraded: load: /),
    ]);
    expect(stateChanges(first, first)).toEqual([]);

    const second = hostStates(
      db({
        a: entry({ health: downSnapshot(at, 'no answer within 5 s: …', 'timeout'), failures: 1 }),
        b: entry({ health: upSnapshot() }),
        c: entry({ health: upSnapshot(true) }),
      }),
    );
    expect(stateChanges(first, second)).toEqual(['a is down: no answer within 5 s: …', 'b is up again (was down)']);

    const third = hostStates(
      db({
        a: entry({ health: downSnapshot(at, 'host key changed for host a', 'hostkey-changed'), failures: 2 }),
        b: entry({ health: upSnapshot() }),
        c: entry({ health: upSnapshot() }),
      }),
    );
    expect(stateChanges(second, third)).toEqual([
      'a is still down, now: host key changed for host a',
      'c is up again (was degraded)',
    ]);
  });

  it('a host whose last contact failed is down even while its last snapshot was up (as till_host_up says)', () => {
    const states = hostStates(
      db({ a: entry({ health: upSnapshot(), failures: 1, last_error: 'connection refused' }) }),
    );
    expect(states.get('a')).toEqual({ condition: 'down', reason: 'connection refused' });
  });

  it('bounds each host by half the interval, 10 s at least and 20 s at most', () => {
    expect(healthBoundMs(10_000)).toBe(10_000);
    expect(healthBoundMs(30_000)).toBe(15_000);
    expect(healthBoundMs(15 * 60_000)).toBe(20_000);
  });
});

describe('till_host_down_reason', () => {
  it('gives a down host the kind of its failure, another failed contact failed-contact, and an up host nothing', () => {
    const text = renderPrometheus(
      fleetMetricFamilies({
        db: db({
          frozen: entry({ health: downSnapshot(at, 'no answer', 'timeout'), failures: 1 }),
          rekeyed: entry({ health: downSnapshot(at, 'host key changed', 'hostkey-changed'), failures: 3 }),
          synced: entry({ health: upSnapshot(), failures: 1 }),
          old: entry({ health: downSnapshot(at, 'refused'), failures: 1 }),
          fine: entry({ health: upSnapshot() }),
        }),
        history: emptyHealthHistory(),
        schedule: emptyScheduleFile(),
      }),
    );
    const reasons = text.split('\n').filter((l) => l.startsWith('till_host_down_reason{'));
    expect(reasons.sort()).toEqual([
      'till_host_down_reason{host="frozen",reason="timeout"} 1',
      'till_host_down_reason{host="old",reason="failed-contact"} 1',
      'till_host_down_reason{host="rekeyed",reason="hostkey-changed"} 1',
      'till_host_down_reason{host="synced",reason="failed-contact"} 1',
    ]);
    expect(text).toContain('till_host_up{host="frozen"} 0');
    expect(text).toContain('till_host_up{host="fine"} 1');
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(check.status, `${check.stdout}${check.stderr}`).toBe(0);
  });
});
