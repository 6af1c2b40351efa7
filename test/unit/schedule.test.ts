import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/core/errors.js';
import { computeNextRun, emptyScheduleFile } from '../../src/core/state/schedule.js';
import {
  cronClockMatches,
  cronTiming,
  parseCronLine,
  removeCronLine,
  renderCronLine,
  schedulerPath,
  upsertCronLine,
} from '../../src/schedule/cron.js';
import { planDisable, planEnable, systemdOwner, type UserContext } from '../../src/schedule/install.js';
import { build, type PlistValue } from 'plist';
import { launchdJob, launchdPlistPath, parseLaunchdPlist, renderLaunchdPlist } from '../../src/schedule/launchd.js';
import { dueState, errorOf } from '../../src/schedule/run.js';
import {
  applyCadence,
  cadenceOf,
  parseDailyAt,
  parseIntervalHours,
  type Cadence,
  type TillInvocation,
} from '../../src/schedule/spec.js';
import {
  calendarTimeZone,
  environmentLine,
  quoteExecArg,
  renderSystemdService,
  renderSystemdTimer,
  systemdUserDir,
} from '../../src/schedule/systemd.js';
import { formatLocal, zoneFromTz } from '../../src/schedule/time.js';
import { RotatingLog } from '../../src/watch/log.js';

const inv: TillInvocation = {
  node: '/usr/bin/node',
  script: '/opt/till/bin/till.mjs',
  tillHome: '/home/a/.till',
  logsDir: '/home/a/.till/logs',
};
const odd: TillInvocation = {
  node: '/opt/my node/bin/node',
  script: '/opt/t 100%/it\'s "till".mjs',
  tillHome: '/home/a/till $HOME 50%',
  logsDir: '/home/a/till $HOME 50%/logs',
};
const user: UserContext = { userHome: '/home/a', env: {}, uid: 1000 };

describe('schedule set validation', () => {
  it('accepts 00:00 to 23:59 and refuses anything else with a usage error', () => {
    expect(parseDailyAt('00:00')).toEqual({ hour: 0, minute: 0 });
    expect(parseDailyAt('23:59')).toEqual({ hour: 23, minute: 59 });
    expect(parseDailyAt('7:05')).toEqual({ hour: 7, minute: 5 });
    for (const bad of ['24:00', '12:60', '1200', 'noon', '', '12:5', '-1:00'])
      expect(() => parseDailyAt(bad)).toThrow(UsageError);
  });

  it('accepts 1 to 8760 hours', () => {
    expect(parseIntervalHours('1')).toBe(1);
    expect(parseIntervalHours('8760')).toBe(8760);
    for (const bad of ['0', '8761', '1.5', '-2', 'x']) expect(() => parseIntervalHours(bad)).toThrow(UsageError);
  });

  it('stores daily_at with interval 24, or an interval with daily_at null, as in the seed', () => {
    const file = emptyScheduleFile();
    applyCadence(file.sync, { kind: 'interval', hours: 6 });
    expect(file.sync).toMatchObject({ daily_at: null, interval_hours: 6 });
    expect(cadenceOf(file.sync)).toEqual({ kind: 'interval', hours: 6 });
    applyCadence(file.sync, { kind: 'daily', hour: 4, minute: 5 });
    expect(file.sync).toMatchObject({ daily_at: '04:05', interval_hours: 24 });
    expect(cadenceOf(file.sync)).toEqual({ kind: 'daily', hour: 4, minute: 5 });
  });

  it('treats a hand-edited next_run as due when it is past, and garbage as missing', () => {
    const file = emptyScheduleFile();
    const now = new Date('2026-01-01T12:00:00Z');
    file.sync.next_run = '2026-01-01T11:59:59Z';
    expect(dueState(file, now).due).toBe(true);
    file.sync.next_run = '2026-01-01T12:00:03Z';
    expect(dueState(file, now)).toEqual({ due: false, nextRun: new Date('2026-01-01T12:00:03Z') });
    file.sync.next_run = 'tomorrow';
    expect(dueState(file, now)).toEqual({ due: false, nextRun: null });
  });
});

// The zone is passed, never set through process.env.TZ at run time (which a worker
// thread does not see); e2e/watch.test.ts runs the CLI with TZ set, as a user does.
describe('local time', () => {
  it('shows a time in a zone, minutes precision, with the zone named', () => {
    const at = new Date('2026-07-01T07:00:00Z');
    expect(formatLocal(at, 'America/New_York')).toBe('2026-07-01 03:00 America/New_York');
    expect(formatLocal(at, 'UTC')).toBe('2026-07-01 07:00 UTC');
    expect(formatLocal(at, 'Asia/Kolkata')).toBe('2026-07-01 12:30 Asia/Kolkata');
    // Midnight is 00, not 24; the date is the zone's.
    expect(formatLocal(new Date('2026-01-01T05:00:00Z'), 'America/New_York')).toBe('2026-01-01 00:00 America/New_York');
    expect(formatLocal(new Date('2026-01-01T04:59:00Z'), 'America/New_York')).toBe('2025-12-31 23:59 America/New_York');
  });
});

describe('systemd units', () => {
  it('escapes ExecStart words per systemd.syntax: %% for %, $$ for $, double quotes around spaces', () => {
    expect(quoteExecArg('/usr/bin/node')).toBe('/usr/bin/node');
    expect(quoteExecArg('/a b/c')).toBe('"/a b/c"');
    expect(quoteExecArg('/a%b')).toBe('/a%%b');
    expect(quoteExecArg('/a$HOME')).toBe('/a$$HOME');
    expect(quoteExecArg('/a$HOME b', true)).toBe('"/a$HOME b"');
    expect(quoteExecArg('say "hi"\\')).toBe('"say \\"hi\\"\\\\"');
    expect(quoteExecArg("it's")).toBe('"it\'s"');
    expect(quoteExecArg('')).toBe('""');
  });

  it('quotes the whole Environment= assignment, %-escaped, $ left literal', () => {
    expect(environmentLine('TILL_HOME', '/h/a b 5%$x')).toBe('Environment="TILL_HOME=/h/a b 5%%$x"');
  });

  it('renders a oneshot service that runs this node and till with schedule run --trigger systemd, logging to TILL_HOME/logs', () => {
    const text = renderSystemdService(odd);
    expect(text).toContain('Type=oneshot\n');
    expect(text).toContain(
      `ExecStart="/opt/my node/bin/node" "/opt/t 100%%/it's \\"till\\".mjs" schedule run --trigger systemd\n`,
    );
    expect(renderSystemdService({ ...inv, node: '/n$x/node', script: '/s$x.mjs' })).toContain(
      'ExecStart=/n$x/node /s$$x.mjs schedule run',
    );
    expect(text).toContain('Environment="TILL_HOME=/home/a/till $HOME 50%%"\n');
    expect(text).toContain('StandardOutput=append:/home/a/till $HOME 50%%/logs/sync.log\n');
    expect(text).toContain('StandardError=append:/home/a/till $HOME 50%%/logs/sync.log\n');
    expect(systemdOwner(text)).toBe(odd.tillHome);
    expect(renderSystemdService({ ...inv, tz: 'Europe/Berlin' })).toContain('Environment="TZ=Europe/Berlin"\n');
    expect(text).not.toMatch(/PATH=/);
  });

  it('passes the enabling shell’s PATH on (absolute entries, no control characters), escaped for the unit', () => {
    const text = renderSystemdService({
      ...inv,
      path: '/opt/home brew/bin:relative:/usr/bin:/a%b:/bad\nline:/usr/bin',
    });
    expect(text).toContain('Environment="PATH=/opt/home brew/bin:/usr/bin:/a%%b"\n');
    expect(schedulerPath('rel:./x')).toBeUndefined();
    expect(schedulerPath(undefined)).toBeUndefined();
  });

  it('renders OnCalendar for daily_at and OnActiveSec/OnUnitActiveSec for an interval, Persistent, timers.target', () => {
    const daily = renderSystemdTimer({ kind: 'daily', hour: 3, minute: 5 });
    expect(daily).toMatch(/^OnCalendar=\*-\*-\* 03:05:00$/m);
    expect(daily).toMatch(/^Persistent=true$/m);
    expect(daily).toMatch(/^WantedBy=timers\.target$/m);
    expect(renderSystemdTimer({ kind: 'daily', hour: 3, minute: 5 }, 'Europe/Berlin')).toMatch(
      /^OnCalendar=\*-\*-\* 03:05:00 Europe\/Berlin$/m,
    );
    const every = renderSystemdTimer({ kind: 'interval', hours: 6 });
    expect(every).toMatch(/^OnActiveSec=6h$/m);
    expect(every).toMatch(/^OnUnitActiveSec=6h$/m);
    expect(every).not.toMatch(/OnCalendar/);
  });

  it('takes the zone for OnCalendar only from an IANA TZ name', () => {
    expect(calendarTimeZone('Europe/Berlin')).toBe('Europe/Berlin');
    expect(calendarTimeZone(':America/New_York')).toBe('America/New_York');
    expect(calendarTimeZone('UTC')).toBe('UTC');
    expect(calendarTimeZone('EST5EDT,M3.2.0,M11.1.0')).toBeUndefined();
    expect(calendarTimeZone(undefined)).toBeUndefined();
    // The right shape, but no zone: systemd would refuse the timer.
    expect(calendarTimeZone('Bogus/Zone')).toBeUndefined();
  });

  it('zoneFromTz: unset or empty is no zone, a known one is its name, an unknown one a usage error', () => {
    expect(zoneFromTz(undefined)).toBeUndefined();
    expect(zoneFromTz('')).toBeUndefined();
    expect(zoneFromTz(':Europe/Berlin')).toBe('Europe/Berlin');
    expect(() => zoneFromTz('Bogus/Zone')).toThrow(
      expect.objectContaining({ exitCode: 2, message: expect.stringContaining('TZ=Bogus/Zone is not a time zone') }),
    );
  });

  it('respects an absolute XDG_CONFIG_HOME', () => {
    expect(systemdUserDir('/home/a', {})).toBe('/home/a/.config/systemd/user');
    expect(systemdUserDir('/home/a', { XDG_CONFIG_HOME: '/x/cfg' })).toBe('/x/cfg/systemd/user');
    expect(systemdUserDir('/home/a', { XDG_CONFIG_HOME: 'rel' })).toBe('/home/a/.config/systemd/user');
  });

  it('plans the files and the exact systemctl commands for enable and disable', () => {
    const plan = planEnable('systemd', inv, { kind: 'daily', hour: 3, minute: 0 }, user);
    expect(plan.write.map((f) => f.path)).toEqual([
      '/home/a/.config/systemd/user/till-sync.service',
      '/home/a/.config/systemd/user/till-sync.timer',
    ]);
    expect(plan.after.map((s) => s.run.join(' '))).toEqual([
      'systemctl --user daemon-reload',
      'systemctl --user enable --now till-sync.timer',
      'systemctl --user restart till-sync.timer',
    ]);
    const off = planDisable(
      { scheduler: 'systemd', locations: plan.write.map((f) => f.path), detail: '' },
      user,
      null,
      inv.tillHome,
    );
    expect(off.remove).toEqual(plan.write.map((f) => f.path));
    expect(off.removeDirs).toEqual([]);
    const created = ['/home/a/.config', '/home/a/.config/systemd/user', '/home/a/.config/systemd'];
    const withDirs = planDisable(
      { scheduler: 'systemd', locations: [], detail: '' },
      user,
      null,
      inv.tillHome,
      created,
    );
    expect(withDirs.removeDirs).toEqual(['/home/a/.config/systemd/user', '/home/a/.config/systemd', '/home/a/.config']);
    expect(off.before.map((s) => s.run.join(' '))).toEqual(['systemctl --user disable --now till-sync.timer']);
    expect(off.after.map((s) => s.run.join(' '))).toEqual(['systemctl --user daemon-reload']);
  });
});

describe('launchd plist', () => {
  it('parses back to the same values, daily and interval, with XML-hostile paths', async () => {
    const daily = await parseLaunchdPlist(
      renderLaunchdPlist({ ...odd, script: '/x/<a&b>/till.mjs' }, { kind: 'daily', hour: 3, minute: 7 }),
    );
    expect(daily).toEqual({
      Label: 'com.till.sync',
      ProgramArguments: [odd.node, '/x/<a&b>/till.mjs', 'schedule', 'run', '--trigger', 'launchd'],
      StartCalendarInterval: { Hour: 3, Minute: 7 },
      EnvironmentVariables: { TILL_HOME: odd.tillHome },
      StandardOutPath: `${odd.logsDir}/sync.log`,
      StandardErrorPath: `${odd.logsDir}/sync.log`,
    });
    const every = await parseLaunchdPlist(
      renderLaunchdPlist(
        { ...inv, tz: 'Asia/Tokyo', path: '/opt/homebrew/bin:/usr/bin:x' },
        { kind: 'interval', hours: 12 },
      ),
    );
    expect(every.StartInterval).toBe(43_200);
    expect(every.StartCalendarInterval).toBeUndefined();
    expect(every.EnvironmentVariables).toEqual({
      TILL_HOME: inv.tillHome,
      TZ: 'Asia/Tokyo',
      PATH: '/opt/homebrew/bin:/usr/bin',
    });
  });

  it('renders byte for byte what the plist package builds', () => {
    for (const [i, c] of [
      [
        { ...odd, script: '/x/<a&b>/"till".mjs' },
        { kind: 'daily', hour: 3, minute: 7 },
      ],
      [
        { ...inv, tz: 'Asia/Tokyo', path: '/a&b/bin:/usr/bin' },
        { kind: 'interval', hours: 12 },
      ],
    ] as const) {
      expect(renderLaunchdPlist(i, c)).toBe(`${build(launchdJob(i, c) as unknown as PlistValue)}\n`);
    }
  });

  it('installs to ~/Library/LaunchAgents/com.till.sync.plist, bootstrap with load -w as fallback', () => {
    const plan = planEnable('launchd', inv, { kind: 'daily', hour: 3, minute: 0 }, user);
    expect(plan.write[0]!.path).toBe(launchdPlistPath('/home/a'));
    expect(plan.write[0]!.path).toBe('/home/a/Library/LaunchAgents/com.till.sync.plist');
    expect(plan.after).toEqual([
      {
        run: ['launchctl', 'bootstrap', 'gui/1000', plan.write[0]!.path],
        fallback: ['launchctl', 'load', '-w', plan.write[0]!.path],
      },
    ]);
    const off = planDisable(
      { scheduler: 'launchd', locations: [plan.write[0]!.path], detail: '' },
      user,
      null,
      inv.tillHome,
    );
    expect(off.before[0]).toMatchObject({
      run: ['launchctl', 'bootout', 'gui/1000', plan.write[0]!.path],
      fallback: ['launchctl', 'unload', '-w', plan.write[0]!.path],
    });
    expect(off.remove).toEqual([plan.write[0]!.path]);
  });
});

describe('crontab line', () => {
  const cadences: Cadence[] = [
    { kind: 'daily', hour: 3, minute: 0 },
    { kind: 'daily', hour: 23, minute: 59 },
    { kind: 'daily', hour: 0, minute: 0 },
    { kind: 'interval', hours: 1 },
    { kind: 'interval', hours: 6 },
    { kind: 'interval', hours: 24 },
  ];

  it('round-trips a daily line (cron’s clock is next_run’s zone): render → parse gives the same schedule and TILL_HOME', () => {
    for (const c of cadences.filter((x) => x.kind === 'daily')) {
      for (const i of [inv, odd, { ...inv, tz: 'Etc/UTC', systemTz: 'UTC' }]) {
        const parsed = parseCronLine(renderCronLine(i, c));
        expect(parsed?.cadence).toEqual(c);
        expect(parsed?.tillHome).toBe(i.tillHome);
        expect(parsed?.ifDue).toBe(false);
      }
    }
  });

  it('renders the seed-like line with quoted values and the marker, running schedule run so failures are recorded', () => {
    expect(renderCronLine(inv, { kind: 'daily', hour: 3, minute: 0 })).toBe(
      '0 3 * * * TILL_HOME=/home/a/.till /usr/bin/node /opt/till/bin/till.mjs schedule run --trigger cron >> /home/a/.till/logs/sync.log 2>&1 # till-sync (managed by till; TILL_HOME=/home/a/.till)',
    );
    expect(renderCronLine({ ...inv, path: '/opt/x y/bin:/usr/bin' }, { kind: 'daily', hour: 3, minute: 0 })).toContain(
      "TILL_HOME=/home/a/.till PATH='/opt/x y/bin:/usr/bin' /usr/bin/node ",
    );
  });

  it('escapes % (cron would turn it into a newline) and single-quotes values', () => {
    const line = renderCronLine(odd, { kind: 'daily', hour: 3, minute: 0 });
    expect(line).not.toMatch(/[^\\]%/);
    expect(line).toContain("TILL_HOME='/home/a/till $HOME 50\\%'");
  });

  it('turns every interval into a 5-minute `schedule run --if-due` check (cron cannot count hours since the last run)', () => {
    for (const hours of [1, 5, 6, 7, 24, 36, 168]) {
      const line = renderCronLine(inv, { kind: 'interval', hours });
      expect(line.startsWith('*/5 * * * * ')).toBe(true);
      expect(line).toContain(' schedule run --if-due --trigger cron ');
      expect(parseCronLine(line)).toMatchObject({ ifDue: true, cadence: undefined, tillHome: inv.tillHome });
    }
  });

  it('uses the --if-due check for a daily time when TZ is not the system zone (cron fires on the system clock)', () => {
    expect(cronClockMatches({})).toBe(true);
    expect(cronClockMatches({ tz: 'America/New_York', systemTz: 'Etc/UTC' })).toBe(false);
    expect(cronClockMatches({ tz: 'America/New_York' })).toBe(false);
    expect(cronClockMatches({ tz: ':UTC', systemTz: 'Etc/UTC' })).toBe(true);
    expect(cronClockMatches({ tz: 'Europe/Berlin', systemTz: 'Europe/Berlin' })).toBe(true);
    const line = renderCronLine(
      { ...inv, tz: 'America/New_York', systemTz: 'Etc/UTC' },
      { kind: 'daily', hour: 3, minute: 0 },
    );
    expect(parseCronLine(line)).toMatchObject({ ifDue: true, fields: '*/5 * * * *', cadence: undefined });
    expect(line).toContain(' TZ=America/New_York ');
    expect(cronTiming({ kind: 'daily', hour: 3, minute: 0 }, false)).toEqual({ fields: '*/5 * * * *', ifDue: true });
  });

  it('does not take other lines, or another TILL_HOME’s line, for its own', () => {
    expect(parseCronLine('0 3 * * * /usr/bin/backup # nightly')).toBeUndefined();
    expect(parseCronLine('# till-sync (managed by till; TILL_HOME=/x)')).toBeUndefined();
    const other = renderCronLine(
      { ...inv, tillHome: '/other', logsDir: '/other/logs' },
      { kind: 'daily', hour: 1, minute: 0 },
    );
    const tab = `MAILTO=a\n${other}\n`;
    expect(removeCronLine(tab, inv.tillHome)).toBe(tab);
  });

  it('replaces only its own line in place, and removing it restores the crontab byte for byte', () => {
    const otherLine = fc.stringMatching(/^[ -~\t]{0,60}$/).filter((l) => !l.includes('till-sync'));
    fc.assert(
      fc.property(
        fc.array(otherLine, { maxLength: 8 }),
        fc.constantFrom(...cadences),
        fc.constantFrom(...cadences),
        (lines, c1, c2) => {
          const original = lines.length ? `${lines.join('\n')}\n` : '';
          const once = upsertCronLine(original, renderCronLine(inv, c1), inv.tillHome);
          expect(once.startsWith(original)).toBe(true);
          const twice = upsertCronLine(once, renderCronLine(inv, c2), inv.tillHome);
          expect(twice.split('\n').filter((l) => l.includes('till-sync')).length).toBe(1);
          expect(twice).toBe(`${original}${renderCronLine(inv, c2)}\n`);
          expect(removeCronLine(twice, inv.tillHome)).toBe(original);
        },
      ),
    );
  });

  it('keeps its line where it was when replacing, between other lines', () => {
    const old = renderCronLine(inv, { kind: 'daily', hour: 1, minute: 0 });
    const tab = `# top\n${old}\n5 4 * * * echo 'a%b' \\% x\n`;
    const updated = upsertCronLine(tab, renderCronLine(inv, { kind: 'daily', hour: 6, minute: 30 }), inv.tillHome);
    expect(updated.split('\n')[0]).toBe('# top');
    expect(parseCronLine(updated.split('\n')[1]!)?.cadence).toEqual({ kind: 'daily', hour: 6, minute: 30 });
    expect(updated.split('\n')[2]).toBe("5 4 * * * echo 'a%b' \\% x");
  });

  it('plans no crontab at all after disable when till’s line was its only content', () => {
    const tab = `${renderCronLine(inv, cadences[0]!)}\n`;
    expect(
      planDisable({ scheduler: 'cron', locations: ['crontab'], detail: '' }, user, tab, inv.tillHome).crontab,
    ).toEqual({ before: tab, after: null });
    expect(planEnable('cron', inv, cadences[0]!, user, null).crontab).toEqual({ before: null, after: tab });
  });
});

describe('the recorded error of a failed sync', () => {
  const result = (stderr: string) => ({
    command: 'node',
    args: [],
    exitCode: 4,
    signal: null,
    stdout: '',
    stderr,
    durationMs: 1,
    timedOut: false,
    cancelled: false,
  });
  it('is till’s error: line, not the hint after it', () => {
    expect(errorOf(result('error: /h/hosts-local.json is not valid JSON\nhint: fix the file by hand\n'))).toBe(
      'exit 4: /h/hosts-local.json is not valid JSON',
    );
    expect(errorOf(result('\u001b[31merror:\u001b[39m lock held\nhint: wait\n'))).toBe('exit 4: lock held');
  });
  it('is the last line when there is no error: line', () => {
    expect(errorOf(result('warming up\nboom: disk full\n'))).toBe('exit 4: boom: disk full');
    expect(errorOf(result(''))).toBe('exit 4');
  });
});

describe('next run computation used by set and watch', () => {
  it('is from now after a missed run, not once per missed day', () => {
    const file = emptyScheduleFile();
    applyCadence(file.sync, { kind: 'daily', hour: 3, minute: 0 });
    const now = new Date(2026, 0, 10, 12, 0, 0);
    const next = computeNextRun(file.sync, now);
    expect(next.getTime()).toBeGreaterThan(now.getTime());
    expect(next.getTime() - now.getTime()).toBeLessThanOrEqual(24 * 3_600_000);
  });
});

describe('watch log', () => {
  it('rotates to watch.log.1 so the two files stay bounded', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tl-'));
    try {
      const file = join(dir, 'logs', 'watch.log');
      const log = new RotatingLog(file, 2_000);
      for (let i = 0; i < 200; i++) log.write(`line ${i} ${'x'.repeat(40)}`);
      expect(statSync(file).size).toBeLessThanOrEqual(2_000);
      expect(statSync(`${file}.1`).size).toBeLessThanOrEqual(2_000);
      expect(readdirSync(join(dir, 'logs')).sort()).toEqual(['watch.log', 'watch.log.1']);
      expect(readFileSync(file, 'utf8')).toMatch(/line 199 x+\n$/);
      writeFileSync(file, '');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
