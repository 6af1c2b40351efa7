import { describe, expect, it } from 'vitest';
import { emptyScheduleFile } from '../../src/core/state/schedule.js';
import { hostsFileSchema } from '../../src/core/state/hosts-schema.js';
import { renderStatusText, wrap } from '../../src/cli/output/status.js';
import { colorFor } from '../../src/cli/output/terminal.js';
import { escapeHtml, renderStatusHtml, sparklineSvg } from '../../src/status/html.js';
import { buildStatusView, pickRows, sparkline } from '../../src/status/model.js';
import { healthSnapshot } from './health-snapshot.js';

const NOW = new Date('2026-11-26T12:00:00Z');
const plain = colorFor({ isTTY: false } as NodeJS.WriteStream);

function fleet(n: number) {
  const hosts: Record<string, unknown> = {};
  const history: Record<string, unknown[]> = {};
  for (let i = 0; i < n; i++) {
    const name = `h${String(i).padStart(3, '0')}`;
    const down = i % 50 === 7;
    const degraded = i % 50 === 9;
    hosts[name] = {
      user: 'u',
      host: 'h.example',
      port: 22,
      status: down ? 'unreachable' : 'deployed',
      added: '2026-01-01T00:00:00Z',
      tekton_path: '~/T',
      failures: down ? 3 : 0,
      last_error: down ? 'connection timed out' : null,
      health: healthSnapshot({
        up: !down,
        release: 'r1',
        degraded,
        reasons: degraded ? ['disk: <low>'] : [],
      }),
    };
    history[name] = [10, 20, null, 40].map((v, k) => ({
      at: `2026-11-26T11:5${k}:00Z`,
      up: v !== null,
      latencyMs: v,
      load1: v === null ? null : v / 10,
    }));
  }
  const db = hostsFileSchema.parse({ hosts, groups: { all: Object.keys(hosts) } });
  return buildStatusView({ db, history: { version: 1, hosts: history as never }, schedule: emptyScheduleFile() }, NOW);
}

describe('sparkline', () => {
  it('scales between min and max, leaves gaps for down points, keeps the newest', () => {
    expect(sparkline([1, 2, 3, 4, 5, 6, 7, 8])).toBe('▁▂▃▄▅▆▇█');
    expect(sparkline([0, null, 10])).toBe('▁ █');
    expect(sparkline([5, 5])).toBe('▁▁');
    expect(sparkline([null, null])).toBe('  ');
    expect(sparkline([1, 2, 3, 100], 2)).toBe('▁█');
  });

  it('draws an SVG polyline with a gap for down points, or says there is no data', () => {
    const svg = sparklineSvg([1, null, 3, 4], { color: '#000', label: 'x' });
    expect(svg.match(/<polyline/g)).toHaveLength(1);
    expect(svg.match(/<circle/g)).toHaveLength(1);
    expect(sparklineSvg([null], { color: '#000', label: 'x' })).toContain('no data');
  });
});

describe('the status view', () => {
  it('states, counts, group summary and trends from history', () => {
    const v = fleet(100);
    expect(v.summary).toEqual({ total: 100, ok: 96, degraded: 2, down: 2, unknown: 0 });
    expect(v.groups).toEqual([{ name: 'all', total: 100, ok: 96, degraded: 2, down: 2, unknown: 0 }]);
    const down = v.hosts.find((h) => h.name === 'h007')!;
    expect(down).toMatchObject({ state: 'down', up: false, reasons: ['connection timed out'] });
    expect(down.latencyTrend).toEqual([10, 20, null, 40]);
  });

  it('fits hundreds of hosts on one screen: problems first, the rest counted', () => {
    const v = fleet(300);
    const { shown, hidden } = pickRows(v.hosts, 20);
    expect(shown).toHaveLength(19);
    expect(shown.slice(0, 12).map((h) => h.state)).toEqual([...Array(6).fill('down'), ...Array(6).fill('degraded')]);
    expect(hidden).toEqual({ total: 281, ok: 281, degraded: 0, down: 0, unknown: 0 });
    const text = renderStatusText(v, { colors: plain, maxRows: 30, width: 120, now: NOW.getTime() });
    const lines = text.trimEnd().split('\n');
    expect(lines.length).toBeLessThanOrEqual(30);
    expect(lines.every((l) => l.length <= 120)).toBe(true);
    expect(
      lines.filter((l) => /^… and \d+ more hosts \(\d+ ok\); all of them: till status --all, or --json$/.test(l)),
    ).toHaveLength(1);
    expect(text).toMatch(/^h007\s+down\s/m);
  });

  it('lists every host when they fit, by name', () => {
    const text = renderStatusText(fleet(5), { colors: plain, maxRows: Infinity, width: Infinity, now: NOW.getTime() });
    expect(
      text
        .split('\n')
        .filter((l) => /^h\d{3} /.test(l))
        .map((l) => l.slice(0, 4)),
    ).toEqual(['h000', 'h001', 'h002', 'h003', 'h004']);
    expect(text).toMatch(
      /^h000\s+ok\s+deployed\s+1m ago\s+never\s+never\s+never\s+r1\s+-\s+▁▃ █ 12ms\s+▁▃ █ 0\.5\/2\s+1 B$/m,
    );
  });

  it('the page escapes every text and has one row per host, no script', () => {
    const html = renderStatusHtml(fleet(60), { refreshSeconds: 30 });
    expect(html.match(/<tr class="host /g)).toHaveLength(60);
    expect(html).toContain('<meta http-equiv="refresh" content="30">');
    expect(html).toContain('disk: &lt;low&gt;');
    expect(html).not.toMatch(/<script|https?:/);
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });
});

describe('the terminal view on an 80-column screen', () => {
  it('keeps the reason of every down or degraded host visible, whole, under the table', () => {
    const v = fleet(60);
    const long =
      'connection refused: ssh: connect to host 127.163.159.164 port 59336: Connection refused (after 3 attempts, the last one 2 minutes ago)';
    v.hosts.find((h) => h.name === 'h007')!.reasons = [long];
    const text = renderStatusText(v, { colors: plain, maxRows: 40, width: 80, now: NOW.getTime() });
    const lines = text.trimEnd().split('\n');
    expect(lines.length).toBeLessThanOrEqual(40);
    expect(lines.filter((l) => l.length > 80)).toEqual([]);
    // The table no longer carries a NOTE column that the width would cut.
    expect(lines.find((l) => l.startsWith('HOST '))).not.toMatch(/NOTE/);
    // Ages go before the numbers: latency, load and disk stay on the line, uncut.
    expect(lines.find((l) => l.startsWith('HOST '))).toMatch(/^HOST\s+STATE\s.*RELEASE\s+LATENCY\s+LOAD\s+DISK$/);
    expect(text).not.toContain('…\n');
    const notes = lines.slice(lines.findIndex((l) => l.startsWith('h007: ')));
    expect(notes.join(' ').replace(/\s+/g, ' ')).toContain(`h007: ${long}`);
    for (const h of ['h009', 'h057', 'h059']) expect(text).toMatch(new RegExp(`^${h}: `, 'm'));
    expect(text).toMatch(/^h059: disk: <low>$/m);
  });

  it('a wide screen keeps the NOTE column and adds no lines', () => {
    const text = renderStatusText(fleet(10), { colors: plain, maxRows: 40, width: 400, now: NOW.getTime() });
    expect(text).toMatch(/^HOST .*NOTE$/m);
    expect(text).not.toMatch(/^h009: /m);
  });

  it('caps the reasons at half the screen and says how many more there are', () => {
    const v = fleet(600);
    const text = renderStatusText(v, { colors: plain, maxRows: 30, width: 80, now: NOW.getTime() });
    const lines = text.trimEnd().split('\n');
    expect(lines.length).toBeLessThanOrEqual(30);
    expect(lines.at(-1)).toMatch(/^… \d+ more problems; every reason: till status --json$/);
  });

  it('wraps words to the width, cutting only a word longer than a line', () => {
    expect(wrap('aaa bbb ccc ddd', 8, '  ')).toEqual(['aaa bbb', '  ccc', '  ddd']);
    expect(wrap('x'.repeat(20), 8, '  ')).toEqual(['xxxxxxxx', '  xxxxxx', '  xxxxxx']);
  });
});

describe('restricted hosts whose till gate is older than this till', () => {
  const entry = (over: Record<string, unknown>) => ({
    user: 'u',
    host: 'h.example',
    port: 22,
    status: 'till-ready',
    added: '2026-01-01T00:00:00Z',
    tekton_path: '~/T',
    ...over,
  });
  const view = (hosts: Record<string, unknown>, version = '0.2.0') =>
    buildStatusView(
      {
        db: hostsFileSchema.parse({ hosts }),
        history: { version: 1, hosts: {} },
        schedule: emptyScheduleFile(),
      },
      NOW,
      undefined,
      version,
    );
  const many = (n: number) =>
    Object.fromEntries(
      Array.from({ length: n }, (_, i) => [
        `g${String(i).padStart(2, '0')}`,
        entry({ restricted: true, till_version: '0.1.0' }),
      ]),
    );

  it('flags them in the view (gateOutdated, with the version compared with), never an unrestricted host', () => {
    const v = view({
      old: entry({ restricted: true, till_version: '0.2.0-rc.1' }),
      same: entry({ restricted: true, till_version: '0.2.0' }),
      unknown: entry({ restricted: true }),
      open: entry({ till_version: '0.0.1' }),
    });
    expect(v.version).toBe('0.2.0');
    expect(Object.fromEntries(v.hosts.map((h) => [h.name, h.gateOutdated]))).toEqual({
      old: true,
      same: false,
      unknown: null,
      open: false,
    });
  });

  it("shows the version the host last reported, not a health check's that a setup has since replaced", () => {
    const health = healthSnapshot({ at: '2026-11-26T11:00:00Z', tillVersion: '0.1.0' });
    const v = view({ h: entry({ restricted: true, till_version: '0.2.0', health }) });
    expect(v.hosts[0]).toMatchObject({ tillVersion: '0.2.0', gateOutdated: false });
    expect(view({ h: entry({ health }) }).hosts[0]!.tillVersion).toBe('0.1.0');
  });

  it('the terminal view names them in a footnote, within the screen; none when there are none', () => {
    const opts = { colors: plain, maxRows: Infinity, width: Infinity, now: NOW.getTime() };
    const one = renderStatusText(
      view({ h0: entry({ restricted: true, till_version: '0.1.0' }), h1: entry({ till_version: '0.1.0' }) }),
      opts,
    );
    expect(one.trimEnd().split('\n').slice(-2)).toEqual([
      '',
      'till gate older than this till (0.2.0) on 1 restricted host: h0 (0.1.0); fixes to the gate reach a host only when it runs a newer till: till host setup h0',
    ]);
    expect(renderStatusText(view({ h1: entry({ till_version: '0.1.0' }) }), opts)).not.toContain('gate');
    const narrow = renderStatusText(view(many(40)), { ...opts, maxRows: 20, width: 80 });
    const lines = narrow.trimEnd().split('\n');
    expect(lines.length).toBeLessThanOrEqual(20);
    expect(lines.filter((l) => l.length > 80)).toEqual([]);
    expect(lines.at(-6)).toBe('');
    expect(lines.slice(-5).join(' ').replace(/\s+/g, ' ')).toBe(
      'till gate older than this till (0.2.0) on 40 restricted hosts: g00 (0.1.0), g01 (0.1.0), g02 (0.1.0), g03 (0.1.0), g04 (0.1.0), g05 (0.1.0), g06 (0.1.0), g07 (0.1.0), g08 (0.1.0), g09 (0.1.0), and 30 more (till status --json: "gateOutdated": true); fixes to the gate reach a host only when it runs a newer till: till host setup <host>…',
    );
  });

  it('a huge version a host reported is cut short in the footnote: the table keeps the screen', () => {
    const huge = `0.0.1-${'a'.repeat(20_000)}`;
    const hosts = { ...many(5), h: entry({ restricted: true, till_version: huge }) };
    const lines = renderStatusText(view(hosts), {
      colors: plain,
      maxRows: 24,
      width: 80,
      now: NOW.getTime(),
    })
      .trimEnd()
      .split('\n');
    expect(lines.length).toBeLessThanOrEqual(24);
    // every host's row is on the screen
    expect(lines.filter((l) => /^(g0\d|h) /.test(l))).toHaveLength(6);
    expect(lines.join(' ').replace(/\s+/g, ' ')).toContain(`h (0.0.1-${'a'.repeat(34)}…)`);
  });

  it('the page marks their row and lists them under "Needs attention"', () => {
    const html = renderStatusHtml(
      view({ h0: entry({ restricted: true, till_version: '0.1.0' }), h1: entry({ till_version: '0.1.0' }) }),
    );
    expect(html).toContain('<h2>Needs attention</h2>');
    expect(html).toContain(
      '<li class="gate-old"><span class="badge gate">old gate</span> <a href="#host-h0"><strong>h0</strong></a> <span class="small">till gate 0.1.0 is older than this till (0.2.0): fixes to the gate reach the host only when it runs a newer till; upgrade: <code>till host setup h0</code></span></li>',
    );
    expect(html.match(/· gate older than 0\.2\.0/g)).toHaveLength(1);
    expect(renderStatusHtml(view({ h1: entry({ till_version: '0.1.0' }) }))).not.toMatch(/Needs attention|gate older/);
  });
});
