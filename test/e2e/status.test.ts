import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TILL_BIN, tempHome, till, tillOk } from '../lab/till.js';

/**
 * `till status` and `till metrics` over a fleet of 40 hosts as the files describe it
 * (no network: both read only local state), rendered in a real headless Chromium.
 */
const NOW = Date.now();
const iso = (minutesAgo: number) => new Date(NOW - minutesAgo * 60_000).toISOString();
let home: string;
let cleanup: () => void;
const out = mkdtempSync('/tmp/t-hs-');

const names = [
  ...Array.from({ length: 30 }, (_, i) => `web-${String(i).padStart(2, '0')}`),
  ...Array.from({ length: 10 }, (_, i) => `db-${i}`),
];

function snapshot(i: number, extra: Record<string, unknown> = {}) {
  return {
    at: iso(1),
    up: true,
    latencyMs: 10 + i,
    uptimeSec: 86_400 * 3,
    load1: 0.5 + i / 10,
    load5: 0.4,
    load15: 0.3,
    cpus: 4,
    memTotalBytes: 8 * 1024 ** 3,
    memAvailableBytes: 5 * 1024 ** 3,
    diskFreeBytes: 40 * 1024 ** 3,
    diskTotalBytes: 100 * 1024 ** 3,
    os: 'Linux',
    arch: 'x86_64',
    tillVersion: '0.1.0',
    release: `r-2026112${i % 3}`,
    degraded: false,
    reasons: [],
    ...extra,
  };
}

function writeFleet(): void {
  const hosts: Record<string, unknown> = {};
  const history: Record<string, unknown[]> = {};
  names.forEach((name, i) => {
    const entry: Record<string, unknown> = {
      // Addresses as long as the lab's (tl711e340c@127.163.159.164:59336): the page must still fit.
      user: `tl711e34${String(i).padStart(2, '0')}`,
      host: `127.163.159.${100 + i}`,
      port: 59336 + i,
      status: 'deployed',
      added: iso(10_000),
      last_test: iso(30),
      last_sync: iso(120),
      tekton_path: '~/Tekton',
      installations: ['primary'],
      failures: 0,
      deploy: { current: `r-2026112${i % 3}`, previous: null, at: iso(600 + i) },
      health: snapshot(i),
      metadata: { os: 'Linux', arch: 'x86_64', cores: 4, memory: 8 * 1024 ** 3 },
    };
    if (name === 'db-3')
      Object.assign(entry, {
        status: 'unreachable',
        previous_status: 'deployed',
        failures: 3,
        last_error: 'connection refused: ssh: connect to host 127.0.0.34 port 22: Connection refused',
        health: { ...snapshot(i), up: false, latencyMs: null, load1: null, reasons: ['down: connection refused'] },
      });
    if (name === 'web-07')
      entry.health = snapshot(i, {
        degraded: true,
        diskFreeBytes: 1024 ** 3,
        reasons: ['disk: 1 GiB free (1%) at /home/deploy/<script>alert(1)</script>, below 10%'],
      });
    if (name === 'web-29')
      Object.assign(entry, {
        status: 'untested',
        last_test: null,
        last_sync: null,
        deploy: undefined,
        health: undefined,
        metadata: undefined,
      });
    if (name === 'web-05') (entry.deploy as Record<string, unknown>).current = 'weird"release\\name';
    if (name === 'web-05') (entry.health as Record<string, unknown>).release = null;
    hosts[name] = entry;
    if (name !== 'web-29') {
      history[name] = Array.from({ length: 24 }, (_, k) => ({
        at: iso(24 * 15 - k * 15),
        up: !(name === 'db-3' && k > 20),
        latencyMs: 10 + ((k * 7 + i) % 13),
        load1: 0.2 + ((k * 3 + i) % 10) / 5,
        cpus: 4,
      }));
    }
  });
  writeFileSync(
    join(home, 'hosts-local.json'),
    JSON.stringify(
      { hosts, groups: { web: names.slice(0, 30), db: names.slice(30) }, updated: String(Math.floor(NOW / 1000)) },
      null,
      2,
    ),
  );
  mkdirSync(join(home, 'state'), { recursive: true });
  writeFileSync(join(home, 'state', 'health-history.json'), JSON.stringify({ version: 1, hosts: history }));
  writeFileSync(
    join(home, 'schedule.json'),
    JSON.stringify({
      sync: {
        enabled: true,
        interval_hours: null,
        daily_at: '03:00',
        next_run: iso(-600),
        last_run: iso(120),
        status: 'success',
      },
      history: [],
    }),
  );
}

function chromium(args: string[]) {
  const profile = mkdtempSync('/tmp/t-chr-');
  try {
    return spawnSync(
      '/usr/bin/chromium',
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--enable-logging=stderr',
        '--v=0',
        `--user-data-dir=${profile}`,
        '--window-size=1200,800',
        ...args,
      ],
      { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 * 1024 * 1024 },
    );
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}

/** What Chromium logs when a page fails: console messages, failed loads, blocked requests. */
const PAGE_ERRORS = /CONSOLE|Failed to load resource|net::ERR_|Refused to|Uncaught/;

beforeAll(async () => {
  ({ home, cleanup } = tempHome());
  await tillOk(home, ['host', 'init']);
  writeFleet();
});

afterAll(() => {
  cleanup();
  // TILL_TEST_ARTIFACTS=<dir> keeps the page and the screenshot for a person to look at.
  if (process.env.TILL_TEST_ARTIFACTS) spawnSync('cp', ['-r', `${out}/.`, process.env.TILL_TEST_ARTIFACTS]);
  rmSync(out, { recursive: true, force: true });
});

describe('till status', () => {
  it('--json: every host with its state, trends and ages, and the groups summarized', async () => {
    const doc = JSON.parse((await tillOk(home, ['status', '--json'])).stdout);
    expect(doc.summary).toEqual({ total: 40, ok: 37, degraded: 1, down: 1, unknown: 1 });
    expect(doc.groups).toEqual([
      { name: 'db', total: 10, ok: 9, degraded: 0, down: 1, unknown: 0 },
      { name: 'web', total: 30, ok: 28, degraded: 1, down: 0, unknown: 1 },
    ]);
    const db3 = doc.hosts.find((h: { name: string }) => h.name === 'db-3');
    expect(db3).toMatchObject({ state: 'down', up: false, release: 'r-20261120' });
    expect(db3.reasons[0]).toMatch(/connection refused/);
    expect(db3.latencyTrend).toHaveLength(24);
    expect(db3.latencyTrend.slice(-3)).toEqual([null, null, null]);
    expect(doc.schedule).toMatchObject({ enabled: true, lastStatus: 'success' });
  });

  it('prints one line per host with sparklines when not on a terminal', async () => {
    const text = (await tillOk(home, ['status'])).stdout;
    writeFileSync(join(out, 'status.txt'), text);
    expect(text.split('\n')[0]).toBe(
      'till status  40 hosts, 37 ok, 1 degraded, 1 down, 1 never checked  ·  sync 2h ago (success), next in 10h',
    );
    const rows = text.split('\n').filter((l) => /^(web|db)-\d+ /.test(l));
    expect(rows).toHaveLength(40);
    expect(text).toMatch(/^web-07\s+degraded\s+deployed\s.*[▁▂▃▄▅▆▇█]{10} 17ms\s.*disk: 1 GiB free/m);
    expect(text).toMatch(/^db-3\s+down\s+unreachable\s/m);
    expect(text).toMatch(/^web\s+30\s+28\/30\s+1\s+0$/m);
  });

  it('on an 80-column terminal, the reason of the down and the degraded host stays readable', () => {
    // A real pseudo-terminal (util-linux script), 80 columns by 40 rows.
    const r = spawnSync(
      'script',
      ['-qec', `stty cols 80 rows 40; ${process.execPath} ${TILL_BIN} status`, '/dev/null'],
      {
        encoding: 'utf8',
        env: { PATH: process.env.PATH, HOME: process.env.HOME, TILL_HOME: home, NO_COLOR: '1', TERM: 'dumb' },
        timeout: 60_000,
      },
    );
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.replace(/\r/g, '').trimEnd().split('\n');
    expect(lines.filter((l) => l.length > 80)).toEqual([]);
    expect(lines.length).toBeLessThanOrEqual(40);
    const text = lines.join('\n');
    expect(text).toMatch(/^db-3\s+down\s/m);
    expect(text).toMatch(/^HOST\s+STATE\s.*LATENCY\s+LOAD\s+DISK$/m);
    const joined = text.replace(/\n\s+/g, ' ');
    expect(joined).toContain('db-3: connection refused: ssh: connect to host 127.0.0.34 port 22: Connection refused');
    expect(joined).toContain('web-07: disk: 1 GiB free (1%) at /home/deploy/<script>alert(1)</script>, below 10%');
  });

  it('on a terminal that reports 0 columns and rows (unknown size): full rows, not ellipses', () => {
    const r = spawnSync('script', ['-qec', `stty cols 0 rows 0; ${process.execPath} ${TILL_BIN} status`, '/dev/null'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, HOME: process.env.HOME, TILL_HOME: home, NO_COLOR: '1', TERM: 'dumb' },
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const text = r.stdout.replace(/\r/g, '');
    expect(text).toMatch(/^HOST\s+STATE\s/m);
    expect(text).toMatch(/^db-3\s+down\s+unreachable\s/m);
    expect(text.split('\n').filter((l) => /^\S*…\s*$/.test(l))).toEqual([]);
  });

  it('--html: a self-contained page that Chromium renders with one row per host, without errors', async () => {
    const page = join(out, 'status.html');
    const r = await tillOk(home, ['status', '--html', page]);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/wrote .*status\.html \(40 hosts\)/);
    const html = readFileSync(page, 'utf8');
    expect(html.match(/<tr class="host /g)).toHaveLength(40);
    // Self-contained and inert: no script, no external asset, hostile text escaped.
    expect(html).not.toMatch(/<script|https?:|src=|@import|url\(/i);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html.match(/<svg class="spark"/g)!.length).toBeGreaterThanOrEqual(70);

    const png = join(out, 'status.png');
    const shot = chromium([`--screenshot=${png}`, `file://${page}`]);
    expect(shot.status, shot.stderr).toBe(0);
    expect(shot.stderr).not.toMatch(PAGE_ERRORS);
    expect(statSync(png).size).toBeGreaterThan(20_000);
    expect(readFileSync(png).subarray(1, 4).toString()).toBe('PNG');

    // A 1200px window shows the whole table: no horizontal scrollbar. The page has no
    // script; a copy with one measures it.
    const probe = join(out, 'status-fit.html');
    writeFileSync(
      probe,
      html.replace(
        '</body>',
        '<script>document.body.setAttribute("data-fit", `${document.scrollingElement.scrollWidth}/${window.innerWidth}`)</script></body>',
      ),
    );
    const fit = chromium(['--dump-dom', `file://${probe}`]);
    expect(fit.status, fit.stderr).toBe(0);
    const [scrollWidth, innerWidth] = /data-fit="(\d+)\/(\d+)"/.exec(fit.stdout)!.slice(1).map(Number);
    expect(innerWidth).toBe(1200);
    expect(scrollWidth, 'the page is wider than the window').toBeLessThanOrEqual(innerWidth!);

    const dump = chromium(['--dump-dom', `file://${page}`]);
    expect(dump.status, dump.stderr).toBe(0);
    expect(dump.stderr).not.toMatch(PAGE_ERRORS);
    expect(dump.stdout.match(/<tr class="host /g)).toHaveLength(40);
    expect(dump.stdout).toContain('data-host="db-3"');
    expect(dump.stdout).not.toMatch(/<script/i);
  }, 300_000);

  it('--html refuses a missing folder, a folder and an empty name with exit 2, and leaves no file behind', async () => {
    const bad = mkdtempSync('/tmp/t-hb-');
    try {
      const cases: Array<[string, RegExp]> = [
        [join(bad, 'nonexist', 'dir', 's.html'), /--html .*: the folder .*nonexist\/dir does not exist/],
        [bad, /--html .*: .* is a folder, not a file/],
        ['', /--html needs a file name/],
      ];
      for (const [target, message] of cases) {
        const r = await till(home, ['status', '--html', target]);
        expect(r.code, `${target}: ${r.stderr}`).toBe(2);
        expect(r.stderr).toMatch(message);
        expect(r.stderr).not.toMatch(/internal error|ENOENT|EISDIR|at .*\.mjs/);
        expect(
          r.stderr
            .trim()
            .split('\n')
            .filter((l) => !l.startsWith('hint:')),
        ).toHaveLength(1);
        // Nothing written: not the page, not a temp file next to it.
        expect(readdirSync(bad)).toEqual([]);
      }
    } finally {
      rmSync(bad, { recursive: true, force: true });
    }
  });

  it('--html with --json is a usage error (--json would be ignored)', async () => {
    const r = await till(home, ['status', '--html', join(out, 'x.html'), '--json']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/'--json' cannot be used with option '--html/);
    expect(r.stdout).toBe('');
    expect(readdirSync(out)).not.toContain('x.html');
  });

  it('--watch redraws until Ctrl-C and exits 0; --watch with --json is a usage error', async () => {
    let child: import('node:child_process').ChildProcess | undefined;
    const run = till(home, ['status', '--watch', '1'], { onSpawn: (c) => (child = c), timeoutMs: 60_000 });
    let stdout = '';
    child!.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    const deadline = Date.now() + 45_000;
    while ((stdout.match(/^till status /gm) ?? []).length < 2 && Date.now() < deadline)
      await new Promise((res) => setTimeout(res, 50));
    expect((stdout.match(/^till status /gm) ?? []).length).toBeGreaterThanOrEqual(2);
    child!.kill('SIGINT');
    expect((await run).code).toBe(0);
    const bad = await till(home, ['status', '--watch', '--json']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--watch and --json/);
  });
});

describe('till metrics over the same fleet', () => {
  it('passes promtool, one till_host_up per host, deploy and schedule times, escaped labels', async () => {
    const text = (await tillOk(home, ['metrics'])).stdout;
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(check.status, `${check.stdout}${check.stderr}`).toBe(0);
    expect(text.split('\n').filter((l) => l.startsWith('till_host_up{'))).toHaveLength(40);
    expect(text).toContain('till_host_up{host="db-3"} 0');
    expect(text).toContain('till_host_up{host="web-29"} NaN');
    expect(text.split('\n').filter((l) => l.startsWith('till_host_last_deploy_timestamp_seconds{'))).toHaveLength(39);
    const values = (name: string) =>
      text
        .split('\n')
        .filter((l) => l.startsWith(`${name}{`))
        .map((l) => Number(l.split(' ').at(-1)));
    // last_sync is 2 h ago for every host but the never-synced web-29.
    const synced = values('till_host_last_sync_timestamp_seconds');
    expect(synced).toHaveLength(39);
    for (const v of synced) expect(Math.abs(v - (NOW / 1000 - 7200))).toBeLessThan(1);
    // Up hosts only (db-3 is down, web-29 never checked): latency 10+i ms, disk free 40 GiB (web-07: 1 GiB).
    expect(values('till_host_ssh_latency_seconds')).toHaveLength(38);
    expect(text).toContain('till_host_ssh_latency_seconds{host="web-00"} 0.01');
    expect(text).toContain('till_host_load1{host="web-03"} 0.8');
    expect(values('till_host_disk_free_bytes')).toHaveLength(38);
    expect(text).toContain(`till_host_disk_free_bytes{host="web-07"} ${1024 ** 3}`);
    expect(text).toContain(`till_host_disk_free_bytes{host="db-0"} ${40 * 1024 ** 3}`);
    expect(text).toContain(
      'till_host_info{host="web-05",status="deployed",version="0.1.0",release="weird\\"release\\\\name"} 1',
    );
    expect(text).toMatch(/^till_schedule_last_run_success 1$/m);
    expect(text).toMatch(/^till_schedule_last_run_timestamp_seconds \d+(\.\d+)?$/m);
    expect(text).toContain('till_hosts{status="unreachable"} 1');
    const json = JSON.parse((await tillOk(home, ['metrics', '--json'])).stdout);
    expect(json.metrics.find((m: { name: string }) => m.name === 'till_host_up').samples).toHaveLength(40);
  });
});
