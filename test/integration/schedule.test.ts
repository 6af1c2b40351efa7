/**
 * The scheduler installers against the real tools: systemd-analyze (verify, calendar)
 * on generated units, and root's real crontab through the built CLI (saved before and
 * restored after). What cannot run in a container without a systemd user manager
 * (systemctl --user, launchctl) is covered as data: the exact commands are checked in
 * the unit tests, and here the files enable/disable write and remove.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeNextRun, emptyScheduleFile } from '../../src/core/state/schedule.js';
import { parseCronLine } from '../../src/schedule/cron.js';
import { applyFiles, detectInstalled, planDisable, planEnable, type UserContext } from '../../src/schedule/install.js';
import { applyCadence, type TillInvocation } from '../../src/schedule/spec.js';
import { onCalendarFor, renderSystemdService, renderSystemdTimer } from '../../src/schedule/systemd.js';
import { tempHome, till, tillOk } from '../lab/till.js';

for (const tool of ['/usr/bin/systemd-analyze', '/usr/bin/crontab', '/usr/share/zoneinfo/America/New_York']) {
  if (!existsSync(tool)) throw new Error(`missing ${tool}: run 'apt-get install -y systemd cron tzdata' (as .ci/run should)`);
}

const scratch = mkdtempSync('/tmp/tl-sched-');
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Every file under dir with its bytes and mode: "exactly as before" means equal snapshots. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        out[`${p}/`] = (statSync(p).mode & 0o7777).toString(8);
        walk(p);
      } else out[p] = `${(statSync(p).mode & 0o7777).toString(8)} ${readFileSync(p, 'base64')}`;
    }
  };
  walk(dir);
  return out;
}

/** A node binary reachable through a path with a space, `$` and `%`: verify fails unless ExecStart is escaped right. */
function oddInvocation(): TillInvocation {
  const dir = join(scratch, 'my node $HOME 5%');
  mkdirSync(dir, { recursive: true });
  symlinkSync(process.execPath, join(dir, 'node'));
  const script = join(dir, "till 'x'.mjs");
  writeFileSync(script, '');
  const home = join(scratch, 'till home %h');
  return { node: join(dir, 'node'), script, tillHome: home, logsDir: join(home, 'logs'), tz: 'Europe/Berlin' };
}

function verify(files: string[]): { status: number | null; stderr: string } {
  const runtime = mkdtempSync(join(scratch, 'rt-'));
  chmodSync(runtime, 0o700);
  // --user needs a runtime dir; a container has none until we name one.
  const r = spawnSync('systemd-analyze', ['verify', '--user', ...files], { env: { ...process.env, XDG_RUNTIME_DIR: runtime }, encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

describe('systemd units', () => {
  const inv = oddInvocation();

  for (const cadence of [{ kind: 'daily', hour: 3, minute: 30 }, { kind: 'interval', hours: 6 }] as const) {
    it(`pass systemd-analyze verify (${cadence.kind}), with a space, $ and % in every path`, () => {
      const dir = mkdtempSync(join(scratch, 'units-'));
      writeFileSync(join(dir, 'till-sync.service'), renderSystemdService(inv));
      writeFileSync(join(dir, 'till-sync.timer'), renderSystemdTimer(cadence, 'Europe/Berlin'));
      const r = verify([join(dir, 'till-sync.service'), join(dir, 'till-sync.timer')]);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    });
  }

  it('fail verify when the ExecStart escaping is missing (the check above can fail)', () => {
    const dir = mkdtempSync(join(scratch, 'bad-'));
    const unescaped = renderSystemdService(inv).replace(/^ExecStart=.*$/m, `ExecStart=${inv.node} ${inv.script} sync`);
    writeFileSync(join(dir, 'till-sync.service'), unescaped);
    writeFileSync(join(dir, 'till-sync.timer'), renderSystemdTimer({ kind: 'daily', hour: 3, minute: 0 }));
    const r = verify([join(dir, 'till-sync.service'), join(dir, 'till-sync.timer')]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/not executable|No such file/);
  });

  it('OnCalendar fires when computeNextRun says, in the TZ zone (systemd-analyze calendar)', () => {
    const saved = process.env.TZ;
    try {
      for (const zone of ['UTC', 'America/New_York', 'Europe/Berlin', 'Asia/Kolkata']) {
        // A time well away from now, so the two computations cannot straddle it.
        const probe = new Date(Date.now() + 5 * 3_600_000);
        process.env.TZ = zone;
        const file = emptyScheduleFile();
        applyCadence(file.sync, { kind: 'daily', hour: probe.getHours(), minute: probe.getMinutes() });
        for (const early of [0, 7]) {
          const hour = (probe.getHours() + early) % 24;
          applyCadence(file.sync, { kind: 'daily', hour, minute: probe.getMinutes() });
          const expected = computeNextRun(file.sync, new Date()).toISOString().slice(0, 19);
          // As written into the timer when TZ is set (zone suffix), and as the manager's own TZ would read it.
          for (const [expr, env] of [
            [onCalendarFor(hour, probe.getMinutes(), zone), 'UTC'],
            [onCalendarFor(hour, probe.getMinutes()), zone],
          ] as const) {
            const out = execFileSync('systemd-analyze', ['calendar', expr], { env: { ...process.env, TZ: env }, encoding: 'utf8' });
            const line = out.split('\n').find((l) => l.includes('(in UTC):')) ?? out.split('\n').find((l) => l.includes('Next elapse:'))!;
            const at = /(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)/.exec(line)!;
            expect(`${at[1]}T${at[2]}`, `${expr} with TZ=${env}`).toBe(expected);
          }
        }
      }
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });

  it('enable writes the two units under XDG_CONFIG_HOME; disable leaves the directory exactly as before', async () => {
    const config = mkdtempSync(join(scratch, 'xdg-'));
    mkdirSync(join(config, 'systemd', 'user'), { recursive: true });
    writeFileSync(join(config, 'systemd', 'user', 'other.service'), '[Service]\nExecStart=/bin/true\n');
    const user: UserContext = { userHome: scratch, env: { ...process.env, XDG_CONFIG_HOME: config, PATH: '/nonexistent' }, uid: 0 };
    const before = snapshot(config);
    const plan = planEnable('systemd', inv, { kind: 'daily', hour: 4, minute: 0 }, user);
    await applyFiles(plan);
    const unitDir = join(config, 'systemd', 'user');
    expect(readFileSync(join(unitDir, 'till-sync.service'), 'utf8')).toBe(plan.write[0]!.content);
    expect(readFileSync(join(unitDir, 'till-sync.timer'), 'utf8')).toBe(plan.write[1]!.content);
    expect(verify([join(unitDir, 'till-sync.service'), join(unitDir, 'till-sync.timer')]).status).toBe(0);
    const found = await detectInstalled(inv.tillHome, user);
    expect(found).toEqual([{ scheduler: 'systemd', locations: [join(unitDir, 'till-sync.service'), join(unitDir, 'till-sync.timer')], detail: 'OnCalendar=*-*-* 04:00:00 Europe/Berlin' }]);
    expect(await detectInstalled('/some/other/till', user)).toEqual([]);
    await applyFiles(planDisable(found[0]!, user, null, inv.tillHome));
    expect(snapshot(config)).toEqual(before);
  });

  it('till schedule enable --scheduler systemd without a user manager fails clearly and changes nothing', async () => {
    const { home, cleanup } = tempHome();
    const config = mkdtempSync(join(scratch, 'xdg-'));
    try {
      const before = snapshot(config);
      const r = await till(home, ['schedule', 'enable', '--scheduler', 'systemd'], { env: { XDG_CONFIG_HOME: config } });
      if (spawnSync('systemctl', ['--user', 'show-environment']).status !== 0) {
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(/systemctl --user daemon-reload: .*nothing was installed/);
        expect(r.stderr).toMatch(/till watch/);
        expect(snapshot(config)).toEqual(before);
      } else {
        // A machine with a user manager: the real install, then the real removal.
        expect(r.code, r.stderr).toBe(0);
        await tillOk(home, ['schedule', 'disable'], { env: { XDG_CONFIG_HOME: config } });
        expect(snapshot(config)).toEqual(before);
      }
    } finally {
      cleanup();
    }
  });
});

describe('crontab (root’s real crontab, restored afterwards)', () => {
  let saved: string | null = null;
  const readTab = (): string | null => {
    const r = spawnSync('crontab', ['-l'], { encoding: 'utf8' });
    return r.status === 0 ? r.stdout : null;
  };
  const writeTab = (text: string | null) => {
    if (text === null) spawnSync('crontab', ['-r']);
    else execFileSync('crontab', ['-'], { input: text });
  };
  beforeAll(() => {
    saved = readTab();
  });
  afterAll(() => writeTab(saved));

  const others = [
    '# m h dom mon dow command',
    'MAILTO=""',
    '',
    "5 4 * * 1 printf '\\%s' 'a b' >/dev/null  # weekly, keeps its % escaped",
    '*/15 * * * * /usr/bin/true',
    '0 1 * * * TILL_HOME=/tmp/someone-else /usr/bin/node /x/till.mjs sync --trigger cron # till-sync (managed by till; TILL_HOME=/tmp/someone-else)',
  ].join('\n') + '\n';

  it('enable adds one marked line, set + enable replaces it, disable leaves the crontab byte-identical', async () => {
    const { home, cleanup } = tempHome();
    try {
      writeTab(others);
      const original = readTab();
      expect(original).toBe(others);

      const dry = await tillOk(home, ['schedule', 'enable', '--scheduler', 'cron', '--dry-run', '--json']);
      expect(JSON.parse(dry.stdout).crontab.after).toContain(`# till-sync (managed by till; TILL_HOME=${home})`);
      expect(readTab()).toBe(original);

      await tillOk(home, ['schedule', 'set', '--daily-at', '02:15']);
      const on = await tillOk(home, ['schedule', 'enable', '--scheduler', 'cron']);
      expect(on.stderr).toMatch(/installed the cron scheduler/);
      const tab1 = readTab()!;
      expect(tab1.startsWith(original!)).toBe(true);
      const ours = tab1.slice(original!.length).trimEnd();
      expect(ours.split('\n')).toHaveLength(1);
      expect(parseCronLine(ours)).toMatchObject({ tillHome: home, cadence: { kind: 'daily', hour: 2, minute: 15 }, fields: '15 2 * * *' });

      const show = JSON.parse((await tillOk(home, ['schedule', 'show', '--json'])).stdout);
      expect(show.schedulers).toEqual([{ scheduler: 'cron', locations: ['crontab'], detail: '15 2 * * *' }]);
      expect(show.schedule.enabled).toBe(true);

      const set = await tillOk(home, ['schedule', 'set', '--interval-hours', '6']);
      expect(set.stderr).toMatch(/till schedule enable --scheduler cron/);
      await tillOk(home, ['schedule', 'enable', '--scheduler', 'cron']);
      const tab2 = readTab()!;
      expect(tab2.startsWith(original!)).toBe(true);
      expect(parseCronLine(tab2.slice(original!.length).trimEnd())).toMatchObject({ tillHome: home, cadence: { kind: 'interval', hours: 6 } });

      const off = await tillOk(home, ['schedule', 'disable']);
      expect(off.stderr).toMatch(/removed the cron scheduler/);
      expect(readTab()).toBe(original);
      const after = JSON.parse((await tillOk(home, ['schedule', 'show', '--json'])).stdout);
      expect(after.schedulers).toEqual([]);
      expect(after.schedule.enabled).toBe(false);
    } finally {
      cleanup();
    }
  });

  it('with no crontab before, enable → disable leaves no crontab', async () => {
    const { home, cleanup } = tempHome();
    try {
      writeTab(null);
      expect(readTab()).toBeNull();
      await tillOk(home, ['schedule', 'enable', '--scheduler', 'cron']);
      expect(readTab()).toMatch(/till-sync \(managed by till/);
      await tillOk(home, ['schedule', 'disable', '--scheduler', 'cron']);
      expect(readTab()).toBeNull();
      const again = await tillOk(home, ['schedule', 'disable']);
      expect(again.stderr).toMatch(/no till scheduler is installed/);
    } finally {
      cleanup();
    }
  });
});
