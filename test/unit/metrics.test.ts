import { spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/core/errors.js';
import { hostsFileSchema } from '../../src/core/state/hosts-schema.js';
import { emptyScheduleFile } from '../../src/core/state/schedule.js';
import { emptyHealthHistory } from '../../src/core/state/health.js';
import { fleetMetricFamilies, reachabilityOf } from '../../src/metrics/fleet.js';
import { escapeLabelValue, familiesJson, renderPrometheus, type MetricFamily } from '../../src/metrics/prometheus.js';
import {
  checkBindAddress,
  isLoopbackAddress,
  parseListenAddress,
  startMetricsServer,
} from '../../src/metrics/server.js';
import { healthSnapshot } from './health-snapshot.js';

describe('renderPrometheus', () => {
  it('writes HELP and TYPE once per family, escapes help and label values, and skips empty families', () => {
    const families: MetricFamily[] = [
      {
        name: 'till_x',
        help: 'a \\ backslash\nand a newline',
        type: 'gauge',
        samples: [
          { labels: { host: 'a"b\\c\nd' }, value: 1.5 },
          { labels: { host: 'e' }, value: NaN },
        ],
      },
      { name: 'till_empty', help: 'nothing', type: 'gauge', samples: [] },
      { name: 'till_plain', help: 'no labels', type: 'untyped', samples: [{ value: Infinity }, { value: -Infinity }] },
    ];
    expect(renderPrometheus(families)).toBe(
      [
        '# HELP till_x a \\\\ backslash\\nand a newline',
        '# TYPE till_x gauge',
        'till_x{host="a\\"b\\\\c\\nd"} 1.5',
        'till_x{host="e"} NaN',
        '# HELP till_plain no labels',
        '# TYPE till_plain untyped',
        'till_plain +Inf',
        'till_plain -Inf',
        '',
      ].join('\n'),
    );
    expect(escapeLabelValue('\\"\n')).toBe('\\\\\\"\\n');
  });

  it('refuses invalid or repeated names (a bug in a family builder, not user input)', () => {
    expect(() => renderPrometheus([{ name: 'till-x', help: '', type: 'gauge', samples: [] }])).toThrow(
      /invalid metric name/,
    );
    expect(() =>
      renderPrometheus([
        { name: 'till_x', help: '', type: 'gauge', samples: [{ labels: { 'bad-label': 'v' }, value: 1 }] },
      ]),
    ).toThrow(/invalid label name/);
    const f: MetricFamily = { name: 'till_x', help: '', type: 'gauge', samples: [] };
    expect(() => renderPrometheus([f, f])).toThrow(/given twice/);
  });

  it('gives the same families as JSON, non-finite values as null', () => {
    expect(familiesJson([{ name: 'till_x', help: 'h', type: 'gauge', samples: [{ value: NaN }] }])).toEqual({
      metrics: [{ name: 'till_x', help: 'h', type: 'gauge', samples: [{ labels: {}, value: null }] }],
    });
  });

  it('lets another feature add its families: promtool accepts the mix', () => {
    const db = hostsFileSchema.parse({
      hosts: {
        a: {
          user: 'u',
          host: 'a.example',
          port: 22,
          status: 'untested',
          added: '2026-01-01T00:00:00Z',
          tekton_path: '~/T',
        },
      },
    });
    const audit: MetricFamily = {
      name: 'till_host_audit_findings',
      help: 'Audit findings by severity.',
      type: 'gauge',
      samples: [{ labels: { host: 'a', severity: 'high' }, value: 2 }],
    };
    const text = renderPrometheus([
      ...fleetMetricFamilies({ db, history: emptyHealthHistory(), schedule: emptyScheduleFile() }),
      audit,
    ]);
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(check.status, `${check.stdout}${check.stderr}`).toBe(0);
    expect(text).toContain('till_host_up{host="a"} NaN');
    expect(text).toContain('till_schedule_enabled 0');
    expect(text).not.toContain('till_schedule_last_run_success');
  });
});

describe('till_host_info', () => {
  it("labels the host's till version as every contact records it, not a health snapshot a setup since outdated", () => {
    const health = healthSnapshot({ tillVersion: '0.1.0-rc.1' });
    const host = { user: 'u', host: '127.0.0.5', port: 22, added: '2026-01-01T00:00:00Z', tekton_path: '~/T' };
    const db = hostsFileSchema.parse({
      hosts: {
        a: { ...host, status: 'till-ready', till_version: '0.1.0', health },
        b: { ...host, status: 'connected', health },
        // a later host test found no till: its answer, not the older snapshot's
        n: { ...host, status: 'connected', till_version: null, health },
        c: { ...host, status: 'untested' },
      },
    });
    const info = fleetMetricFamilies({ db, history: emptyHealthHistory(), schedule: emptyScheduleFile() }).find(
      (f) => f.name === 'till_host_info',
    )!;
    expect(info.samples.map((s) => [s.labels!.host, s.labels!.version])).toEqual([
      ['a', '0.1.0'],
      ['b', '0.1.0-rc.1'],
      ['c', ''],
      ['n', ''],
    ]);
  });
});

describe('reachabilityOf', () => {
  const base = {
    user: 'u',
    host: 'a.example',
    port: 22,
    added: '2026-01-01T00:00:00Z',
    tekton_path: '~/T',
    installations: [],
  };
  it('a failed contact since the last snapshot wins; never contacted is unknown', () => {
    expect(reachabilityOf({ ...base, status: 'untested' })).toBeNull();
    expect(reachabilityOf({ ...base, status: 'connected', last_test: '2026-01-01T00:00:00Z' })).toBe(true);
    expect(reachabilityOf({ ...base, status: 'connected', failures: 1 })).toBe(false);
    expect(reachabilityOf({ ...base, status: 'unreachable' })).toBe(false);
  });
});

describe('the metrics server', () => {
  it('knows loopback addresses and parses addr:port', () => {
    for (const a of ['127.0.0.1', '127.9.8.7', '::1', '::ffff:127.0.0.1']) expect(isLoopbackAddress(a), a).toBe(true);
    for (const a of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.1', 'example.com'])
      expect(isLoopbackAddress(a), a).toBe(false);
    expect(parseListenAddress('127.0.0.1:9100')).toEqual({ address: '127.0.0.1', port: 9100 });
    expect(parseListenAddress('[::1]:9100')).toEqual({ address: '::1', port: 9100 });
    expect(parseListenAddress('localhost:0')).toEqual({ address: '127.0.0.1', port: 0 });
    expect(parseListenAddress('9100')).toEqual({ address: '127.0.0.1', port: 9100 });
    expect(() => parseListenAddress('metrics.example.com:9100')).toThrow(/not an IP address/);
    expect(() => parseListenAddress('127.0.0.1:99999')).toThrow(/invalid port/);
    expect(() => parseListenAddress('::1:9100')).toThrow(/address:port/);
  });

  it('refuses a non-loopback bind with a UsageError before listening, unless allowed', async () => {
    let rendered = 0;
    const attempt = startMetricsServer({ address: '0.0.0.0', port: 0, render: () => String(++rendered) });
    await expect(attempt).rejects.toBeInstanceOf(UsageError);
    await expect(attempt).rejects.toThrow(/not a loopback address/);
    expect(() => checkBindAddress('0.0.0.0', true)).not.toThrow();
    expect(rendered).toBe(0);
  });

  it('answers GET /metrics on 127.0.0.1, 404 elsewhere, 405 for other methods, 500 when rendering fails', async () => {
    let fail = false;
    const server = await startMetricsServer({
      address: '127.0.0.1',
      port: 0,
      render: async () => {
        if (fail) throw new Error('database unreadable');
        return 'till_x 1\n';
      },
    });
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const ok = await fetch(server.url);
      expect(ok.status).toBe(200);
      expect(ok.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      expect(await ok.text()).toBe('till_x 1\n');
      expect((await fetch(`${server.url}?x=1`)).status).toBe(200);
      expect((await fetch(server.url.replace('/metrics', '/'))).status).toBe(404);
      expect((await fetch(server.url.replace('/metrics', '/metricsx'))).status).toBe(404);
      expect((await fetch(server.url, { method: 'POST', body: 'x' })).status).toBe(405);
      fail = true;
      const broken = await fetch(server.url);
      expect(broken.status).toBe(500);
      expect(await broken.text()).toMatch(/database unreadable/);
    } finally {
      await server.close();
    }
    // Closed: the port no longer answers.
    await expect(
      new Promise((resolve, reject) => request(server.url, resolve).on('error', reject).end()),
    ).rejects.toThrow(/ECONNREFUSED/);
  });
});
