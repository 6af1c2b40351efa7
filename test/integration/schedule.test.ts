/**
 * The scheduler installers against the real tools: systemd-analyze (verify, calendar)
 * on generated units, and the real crontab of a throwaway lab user through the built
 * CLI. A container has no systemd user manager and no launchd: there, and only there,
 * `systemctl`, `loginctl` and `launchctl` are stand-in scripts on PATH (the system
 * boundary), so enable/disable run end to end through the CLI with HOME and
 * XDG_CONFIG_HOME in scratch directories; the files they write are real and verified.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCronLine } from '../../src/schedule/cron.js';
import { applyFiles, detectInstalled, planDisable, planEnable, type UserContext } from '../../src/schedule/install.js';
import { parseLaunchdPlist } from '../../src/schedule/launchd.js';
import { startLab, type Lab } from '../lab/lab.js';
import type { TillInvocation } from '../../src/schedule/spec.js';
import { onCalendarFor, renderSystemdService, renderSystemdTimer } from '../../src/schedule/systemd.js';
import { TILL_BIN, tempHome, till, tillOk } from '../lab/till.js';

for (const tool of ['/usr/bin/systemd-analyze', '/usr/bin/crontab', '/usr/share/zoneinfo/America/New_York']) {
  if (!existsSync(tool))
    throw new Error(`missing ${tool}: run npm run setup:test (apt-get install -y systemd cron tzdata)`);
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
  const r = spawnSync('systemd-analyze', ['verify', '--user', ...files], {
    env: { ...process.env, XDG_RUNTIME_DIR: runtime },
    encoding: 'utf8',
  });
  return { status: r.status, stderr: r.stderr };
}

describe('systemd units', () => {
  const inv = oddInvocation();

  for (const cadence of [
    { kind: 'daily', hour: 3, minute: 30 },
    { kind: 'interval', hours: 6 },
  ] as const) {
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

  // till's side comes from the CLI run with TZ set, as a user runs it: changing
  // process.env.TZ here would not reach a worker thread's clock.
  it('OnCalendar fires when till schedule set says (next_run), in the TZ zone (systemd-analyze calendar)', async () => {
    const pad = (n: number) => String(n).padStart(2, '0');
    for (const zone of ['UTC', 'America/New_York', 'Europe/Berlin', 'Asia/Kolkata']) {
      // A time well away from now, so the two computations cannot straddle it; its hour and minute in the zone.
      const probe = new Date(Date.now() + 5 * 3_600_000);
      const clock = new Intl.DateTimeFormat('en-US', {
        timeZone: zone,
        hour: 'numeric',
        minute: 'numeric',
        hourCycle: 'h23',
      })
        .formatToParts(probe)
        .reduce<Record<string, number>>((o, p) => ({ ...o, [p.type]: Number(p.value) }), {});
      for (const early of [0, 7]) {
        const hour = (clock.hour! + early) % 24;
        const { home, cleanup } = tempHome();
        try {
          await tillOk(home, ['schedule', 'set', '--daily-at', `${pad(hour)}:${pad(clock.minute!)}`], {
            env: { TZ: zone },
          });
          const expected = (
            JSON.parse(readFileSync(join(home, 'schedule.json'), 'utf8')).sync.next_run as string
          ).slice(0, 19);
          // As written into the timer when TZ is set (zone suffix), and as the manager's own TZ would read it.
          for (const [expr, env] of [
            [onCalendarFor(hour, clock.minute!, zone), 'UTC'],
            [onCalendarFor(hour, clock.minute!), zone],
          ] as const) {
            const out = execFileSync('systemd-analyze', ['calendar', expr], {
              env: { ...process.env, TZ: env },
              encoding: 'utf8',
            });
            const line =
              out.split('\n').find((l) => l.includes('(in UTC):')) ??
              out.split('\n').find((l) => l.includes('Next elapse:'))!;
            const at = /(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)/.exec(line)!;
            expect(`${at[1]}T${at[2]}`, `${expr} with TZ=${env}`).toBe(expected);
          }
        } finally {
          cleanup();
        }
      }
    }
  });

  it('applyFiles next to another unit: the two units are written and verify; disable leaves the directory exactly as before', async () => {
    const config = mkdtempSync(join(scratch, 'xdg-'));
    mkdirSync(join(config, 'systemd', 'user'), { recursive: true });
    writeFileSync(join(config, 'systemd', 'user', 'other.service'), '[Service]\nExecStart=/bin/true\n');
    const user: UserContext = {
      userHome: scratch,
      env: { ...process.env, XDG_CONFIG_HOME: config, PATH: '/nonexistent' },
      uid: 0,
    };
    const before = snapshot(config);
    const plan = planEnable('systemd', inv, { kind: 'daily', hour: 4, minute: 0 }, user);
    await applyFiles(plan);
    const unitDir = join(config, 'systemd', 'user');
    expect(readFileSync(join(unitDir, 'till-sync.service'), 'utf8')).toBe(plan.write[0]!.content);
    expect(readFileSync(join(unitDir, 'till-sync.timer'), 'utf8')).toBe(plan.write[1]!.content);
    expect(verify([join(unitDir, 'till-sync.service'), join(unitDir, 'till-sync.timer')]).status).toBe(0);
    const found = await detectInstalled(inv.tillHome, user);
    expect(found).toEqual([
      {
        scheduler: 'systemd',
        locations: [join(unitDir, 'till-sync.service'), join(unitDir, 'till-sync.timer')],
        detail: 'OnCalendar=*-*-* 04:00:00 Europe/Berlin',
      },
    ]);
    expect(await detectInstalled('/some/other/till', user)).toEqual([]);
    await applyFiles(planDisable(found[0]!, user, null, inv.tillHome));
    expect(snapshot(config)).toEqual(before);
  });

  it('till schedule enable --scheduler systemd without a user manager fails clearly and changes nothing', async () => {
    const { home, cleanup } = tempHome();
    const config = mkdtempSync(join(scratch, 'xdg-'));
    try {
      const before = snapshot(config);
      const r = await till(home, ['schedule', 'enable', '--scheduler', 'systemd'], {
        env: { XDG_CONFIG_HOME: config },
      });
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

/** A directory of stand-in commands (the system boundary where this machine has no such service). */
function stubDir(scripts: Record<string, string>): string {
  const dir = mkdtempSync(join(scratch, 'bin-'));
  for (const [name, body] of Object.entries(scripts)) {
    writeFileSync(join(dir, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(dir, name), 0o755);
  }
  return dir;
}

const calls = (log: string): string[] => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []);
const logCalls = (name: string) => `echo "${name} $*" >> "$STUB_LOG"`;

describe('schedule enable/disable through the CLI (stand-in systemctl/loginctl/launchctl: no user manager here)', () => {
  const homes: Array<() => void> = [];
  afterAll(() => homes.forEach((c) => c()));
  const setup = (scripts: Record<string, string>, extraPath = ':/usr/bin:/bin') => {
    const { home, cleanup } = tempHome();
    homes.push(cleanup);
    const userHome = mkdtempSync(join(scratch, 'home-'));
    const log = join(mkdtempSync(join(scratch, 'log-')), 'calls');
    const bin = stubDir(scripts);
    return { home, userHome, log, bin, env: { HOME: userHome, PATH: `${bin}${extraPath}`, STUB_LOG: log } };
  };
  const schedule = (home: string) => JSON.parse(readFileSync(join(home, 'schedule.json'), 'utf8'));

  it('enable → disable leaves HOME exactly as before, including the directories enable had to create', async () => {
    const t = setup({ systemctl: logCalls('systemctl'), loginctl: `${logCalls('loginctl')}\necho Linger=no` });
    const before = snapshot(t.userHome);
    const on = await tillOk(t.home, ['schedule', 'enable'], { env: t.env });
    expect(on.stderr).toMatch(/installed the systemd scheduler/);
    expect(on.stderr).toMatch(
      /warning: lingering is off for \S+: systemd runs the timer only while you are logged in; .*loginctl enable-linger/,
    );
    const unitDir = join(t.userHome, '.config', 'systemd', 'user');
    const service = readFileSync(join(unitDir, 'till-sync.service'), 'utf8');
    expect(service).toMatch(/^ExecStart=\S+ \S+ schedule run --trigger systemd$/m);
    expect(service).toContain(`Environment="PATH=${t.bin}:/usr/bin:/bin"`);
    expect(verify([join(unitDir, 'till-sync.service'), join(unitDir, 'till-sync.timer')]).status).toBe(0);
    expect(calls(t.log)).toEqual([
      'systemctl --user show-environment',
      'systemctl --user daemon-reload',
      'systemctl --user enable --now till-sync.timer',
      'systemctl --user restart till-sync.timer',
      expect.stringMatching(/^loginctl show-user \S+ --property=Linger$/),
    ]);
    const created = [unitDir, join(t.userHome, '.config', 'systemd'), join(t.userHome, '.config')];
    expect(schedule(t.home).installed).toEqual({ systemd: { created_dirs: created } });
    // A re-enable (after set) creates nothing new and keeps the record.
    await tillOk(t.home, ['schedule', 'set', '--interval-hours', '6'], { env: t.env });
    await tillOk(t.home, ['schedule', 'enable'], { env: t.env });
    expect(schedule(t.home).installed).toEqual({ systemd: { created_dirs: created } });

    // An unreadable schedule.json stops disable before it removes anything (exit 4).
    const good = readFileSync(join(t.home, 'schedule.json'), 'utf8');
    writeFileSync(join(t.home, 'schedule.json'), '{bad');
    const broken = await till(t.home, ['schedule', 'disable'], { env: t.env });
    expect(broken.code).toBe(4);
    expect(existsSync(join(unitDir, 'till-sync.service'))).toBe(true);
    expect(existsSync(join(unitDir, 'till-sync.timer'))).toBe(true);
    writeFileSync(join(t.home, 'schedule.json'), good);

    const dry = JSON.parse(
      (await tillOk(t.home, ['schedule', 'disable', '--dry-run', '--json'], { env: t.env })).stdout,
    );
    expect(dry.removed[0].remove_dirs).toEqual(created);
    const off = await tillOk(t.home, ['schedule', 'disable'], { env: t.env });
    expect(off.stderr).toMatch(/removed the systemd scheduler/);
    expect(snapshot(t.userHome)).toEqual(before);
    expect(readdirSync(t.userHome)).toEqual([]);
    expect(schedule(t.home).installed).toEqual({});
  });

  it('disable keeps a created directory that now holds something else', async () => {
    const t = setup({ systemctl: logCalls('systemctl') });
    await tillOk(t.home, ['schedule', 'enable'], { env: t.env });
    writeFileSync(join(t.userHome, '.config', 'mine.conf'), 'x\n');
    await tillOk(t.home, ['schedule', 'disable'], { env: t.env });
    expect(snapshot(t.userHome)).toEqual({
      [`${join(t.userHome, '.config')}/`]: expect.any(String),
      [join(t.userHome, '.config', 'mine.conf')]: expect.any(String),
    });
  });

  it('refuses (exit 2) a service or timer it did not write, or another TILL_HOME’s, and changes nothing', async () => {
    const other = {
      node: '/usr/bin/node',
      script: '/x/till.mjs',
      tillHome: '/x/other home',
      logsDir: '/x/other home/logs',
    };
    for (const [name, content, message, hint] of [
      [
        'till-sync.timer',
        '[Timer]\nOnCalendar=daily\n',
        /till-sync\.timer already exists and was not written by till; till leaves it alone/,
        /move it away or remove it by hand/,
      ],
      [
        'till-sync.service',
        '[Service]\nExecStart=/bin/true\n',
        /till-sync\.service already exists and was not written by till/,
        /move it away/,
      ],
      [
        'till-sync.service',
        renderSystemdService(other),
        /till-sync\.service already exists and belongs to TILL_HOME=\/x\/other home/,
        /TILL_HOME='\/x\/other home' till schedule disable/,
      ],
    ] as const) {
      const t = setup({ systemctl: logCalls('systemctl') });
      const dir = join(t.userHome, '.config', 'systemd', 'user');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, name), content);
      const before = snapshot(t.userHome);
      for (const args of [
        ['schedule', 'enable', '--scheduler', 'systemd'],
        ['schedule', 'enable'],
      ]) {
        const r = await till(t.home, args, { env: t.env });
        expect(r.code, `${name}: ${r.stderr}`).toBe(2);
        expect(r.stderr).toMatch(message);
        expect(r.stderr).toMatch(hint);
        expect(r.stderr).not.toMatch(/not generated by till/);
      }
      expect(snapshot(t.userHome)).toEqual(before);
      expect(calls(t.log).filter((c) => !c.endsWith('show-environment'))).toEqual([]);
      expect((await tillOk(t.home, ['schedule', 'disable'], { env: t.env })).stderr).toMatch(
        /no till scheduler is installed/,
      );
      expect(snapshot(t.userHome)).toEqual(before);
    }
  });

  it('detects systemd when the user manager answers, else cron when crontab exists, else says no scheduler found (exit 2)', async () => {
    const sd = setup({ systemctl: `${logCalls('systemctl')}\nexit 0` }, '');
    expect(
      JSON.parse((await tillOk(sd.home, ['schedule', 'enable', '--dry-run', '--json'], { env: sd.env })).stdout)
        .scheduler,
    ).toBe('systemd');

    const noManager = setup({ systemctl: 'echo "Failed to connect to bus: No medium found" >&2; exit 1' }, '');
    symlinkSync('/usr/bin/crontab', join(noManager.bin, 'crontab'));
    const cron = JSON.parse(
      (await tillOk(noManager.home, ['schedule', 'enable', '--dry-run', '--json'], { env: noManager.env })).stdout,
    );
    expect(cron.scheduler).toBe('cron');
    expect(cron.crontab.after).toContain(`till-sync (managed by till; TILL_HOME=${noManager.home})`);

    const none = setup({ systemctl: 'exit 1' }, '');
    const r = await till(none.home, ['schedule', 'enable'], { env: none.env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/error: no scheduler found: no systemd user manager, not macOS, and no crontab command/);
    expect(r.stderr).toMatch(/hint: .*till watch/);
    expect(readdirSync(none.userHome)).toEqual([]);
  });

  it('launchd: falls back to launchctl load -w when bootstrap fails, warns that systemd is installed too, and disable removes both', async () => {
    const t = setup({
      systemctl: logCalls('systemctl'),
      launchctl: `${logCalls('launchctl')}\ncase "$1" in bootstrap|bootout) echo "Bootstrap failed: 5: Input/output error" >&2; exit 5;; esac`,
    });
    const before = snapshot(t.userHome);
    await tillOk(t.home, ['schedule', 'enable', '--scheduler', 'systemd'], { env: t.env });
    const on = await tillOk(t.home, ['schedule', 'enable', '--scheduler', 'launchd', '--json'], { env: t.env });
    const plist = join(t.userHome, 'Library', 'LaunchAgents', 'com.till.sync.plist');
    expect(on.stderr).toMatch(
      /warning: the systemd scheduler is installed too, so syncs would run twice; remove it: till schedule disable --scheduler systemd/,
    );
    const out = JSON.parse(on.stdout);
    expect(out.ran).toEqual([
      {
        command: ['launchctl', 'bootout', expect.stringMatching(/^gui\/\d+$/), plist],
        ok: false,
        error: 'Bootstrap failed: 5: Input/output error',
      },
      { command: ['launchctl', 'unload', '-w', plist], ok: true },
      {
        command: ['launchctl', 'bootstrap', expect.stringMatching(/^gui\/\d+$/), plist],
        ok: false,
        error: 'Bootstrap failed: 5: Input/output error',
      },
      { command: ['launchctl', 'load', '-w', plist], ok: true },
    ]);
    const job = await parseLaunchdPlist(readFileSync(plist, 'utf8'));
    expect(job.ProgramArguments.slice(2)).toEqual(['schedule', 'run', '--trigger', 'launchd']);
    expect(job.EnvironmentVariables).toMatchObject({ TILL_HOME: t.home, PATH: `${t.bin}:/usr/bin:/bin` });
    const show = JSON.parse((await tillOk(t.home, ['schedule', 'show', '--json'], { env: t.env })).stdout);
    expect(show.schedulers.map((s: { scheduler: string }) => s.scheduler)).toEqual(['systemd', 'launchd']);

    const off = await tillOk(t.home, ['schedule', 'disable'], { env: t.env });
    expect(off.stderr).toMatch(/removed the systemd scheduler/);
    expect(off.stderr).toMatch(/removed the launchd scheduler/);
    expect(calls(t.log)).toContain(`launchctl unload -w ${plist}`);
    expect(snapshot(t.userHome)).toEqual(before);
  });

  it('the command the scheduler runs records a sync that fails before it can record itself (corrupt hosts-local.json)', async () => {
    const t = setup({ systemctl: logCalls('systemctl') });
    await tillOk(t.home, ['host', 'init'], { env: t.env });
    await tillOk(t.home, ['schedule', 'set', '--daily-at', '03:00'], { env: t.env });
    writeFileSync(join(t.home, 'hosts-local.json'), '{bad');

    // systemd: the ExecStart of the service enable would install, with its Environment=.
    const dry = JSON.parse(
      (await tillOk(t.home, ['schedule', 'enable', '--scheduler', 'systemd', '--dry-run', '--json'], { env: t.env }))
        .stdout,
    );
    const service: string = dry.files[0].content;
    const exec = /^ExecStart=(.*)$/m.exec(service)![1]!.split(' ');
    const unitEnv = Object.fromEntries(
      [...service.matchAll(/^Environment="([A-Z_]+)=(.*)"$/gm)].map((m) => [m[1]!, m[2]!]),
    );
    expect(unitEnv.TILL_HOME).toBe(t.home);
    const r = spawnSync(exec[0]!, exec.slice(1), { env: unitEnv, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(4);
    let show = JSON.parse((await tillOk(t.home, ['schedule', 'show', '--json'], { env: t.env })).stdout);
    expect(show).toMatchObject({ status: 'failed', consecutive_failures: 1 });
    expect(show.last_error).toMatch(/^exit 4: .*hosts-local\.json/);
    expect(show.last_error).not.toMatch(/hint/);
    expect(show.history[0]).toMatchObject({ status: 'failed', trigger: 'systemd' });

    // cron: the line enable would install, run by sh as cron does (its output goes to sync.log).
    symlinkSync('/usr/bin/crontab', join(t.bin, 'crontab'));
    const cron = JSON.parse(
      (await tillOk(t.home, ['schedule', 'enable', '--scheduler', 'cron', '--dry-run', '--json'], { env: t.env }))
        .stdout,
    );
    const line = (cron.crontab.after as string).split('\n').find((l) => l.includes(`TILL_HOME=${t.home})`))!;
    const parsed = parseCronLine(line)!;
    expect(parsed.command).toMatch(/ schedule run --trigger cron /);
    mkdirSync(join(t.home, 'logs'), { recursive: true });
    const c = spawnSync('/bin/sh', ['-c', parsed.command], { env: { PATH: '/usr/bin:/bin' }, encoding: 'utf8' });
    expect(c.status).toBe(4);
    show = JSON.parse((await tillOk(t.home, ['schedule', 'show', '--json'], { env: t.env })).stdout);
    expect(show).toMatchObject({ status: 'failed', consecutive_failures: 2 });
    expect(show.history[0]).toMatchObject({ status: 'failed', trigger: 'cron' });
    expect(show.last_error).toMatch(/hosts-local\.json/);
    expect(readFileSync(join(t.home, 'logs', 'sync.log'), 'utf8')).toMatch(/sync failed: exit 4: .*hosts-local\.json/);
  });
});

/** The first minute at or after `from` that a cron line's fields match, on this process's clock (the system zone). */
function firstFiring(fields: string, from: Date): Date {
  const [min, hour, dom, mon, dow] = fields.split(' ');
  expect([dom, mon, dow]).toEqual(['*', '*', '*']);
  const matches = (field: string, v: number) =>
    field === '*' || (field.startsWith('*/') ? v % Number(field.slice(2)) === 0 : Number(field) === v);
  const t = new Date(Math.ceil(from.getTime() / 60_000) * 60_000);
  for (let i = 0; i < 2 * 24 * 60; i++, t.setTime(t.getTime() + 60_000)) {
    if (matches(min!, t.getMinutes()) && matches(hour!, t.getHours())) return new Date(t);
  }
  throw new Error(`${fields} never fires`);
}

describe('crontab (a throwaway lab user’s real crontab)', () => {
  let lab: Lab;
  let user: string;
  let tillHome: string;
  const readTab = (): string | null => {
    const r = spawnSync('crontab', ['-l', '-u', user], { encoding: 'utf8' });
    return r.status === 0 ? r.stdout : null;
  };
  const writeTab = (text: string | null) => {
    if (text === null) spawnSync('crontab', ['-r', '-u', user]);
    else execFileSync('crontab', ['-u', user, '-'], { input: text });
  };
  /** The built till as the lab user (its own crontab), exit code and both streams. */
  const tillAs = (args: string[], env = ''): { code: number; out: string } => {
    const q = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
    try {
      const out = lab.hosts[0]!.shell(
        `TILL_HOME=${q(tillHome)} ${env} ${q(process.execPath)} ${q(TILL_BIN)} ${args.map(q).join(' ')} 2>&1`,
      );
      return { code: 0, out };
    } catch (e) {
      const err = e as { status: number; stdout: string };
      return { code: err.status, out: err.stdout };
    }
  };
  const tillAsOk = (args: string[], env = ''): string => {
    const r = tillAs(args, env);
    if (r.code !== 0) throw new Error(`till ${args.join(' ')} exited ${r.code}: ${r.out}`);
    return r.out;
  };
  beforeAll(async () => {
    lab = await startLab(1);
    user = lab.hosts[0]!.user;
    tillHome = `${lab.hosts[0]!.home}/.till`;
  }, 120_000);
  afterAll(() => {
    if (user) writeTab(null);
    lab?.stop();
  });

  const others =
    [
      '# m h dom mon dow command',
      'MAILTO=""',
      '',
      "5 4 * * 1 printf '\\%s' 'a b' >/dev/null  # weekly, keeps its % escaped",
      '*/15 * * * * /usr/bin/true',
      '0 1 * * * TILL_HOME=/tmp/someone-else /usr/bin/node /x/till.mjs sync --trigger cron # till-sync (managed by till; TILL_HOME=/tmp/someone-else)',
    ].join('\n') + '\n';

  it('enable adds one marked line, set + enable replaces it, disable leaves the crontab byte-identical', () => {
    writeTab(others);
    const original = readTab();
    expect(original).toBe(others);

    const dry = JSON.parse(tillAsOk(['schedule', 'enable', '--scheduler', 'cron', '--dry-run', '--json']));
    expect(dry.crontab.after).toContain(`# till-sync (managed by till; TILL_HOME=${tillHome})`);
    expect(readTab()).toBe(original);

    tillAsOk(['schedule', 'set', '--daily-at', '02:15']);
    expect(tillAsOk(['schedule', 'enable', '--scheduler', 'cron'])).toMatch(/installed the cron scheduler/);
    const tab1 = readTab()!;
    expect(tab1.startsWith(original!)).toBe(true);
    const ours = tab1.slice(original!.length).trimEnd();
    expect(ours.split('\n')).toHaveLength(1);
    expect(parseCronLine(ours)).toMatchObject({
      tillHome,
      cadence: { kind: 'daily', hour: 2, minute: 15 },
      fields: '15 2 * * *',
    });

    const show = JSON.parse(tillAsOk(['schedule', 'show', '--json']));
    expect(show.schedulers).toEqual([{ scheduler: 'cron', locations: ['crontab'], detail: '15 2 * * *' }]);
    expect(show.schedule.enabled).toBe(true);

    expect(tillAsOk(['schedule', 'set', '--interval-hours', '6'])).toMatch(/till schedule enable --scheduler cron/);
    tillAsOk(['schedule', 'enable', '--scheduler', 'cron']);
    const tab2 = readTab()!;
    expect(tab2.startsWith(original!)).toBe(true);
    expect(parseCronLine(tab2.slice(original!.length).trimEnd())).toMatchObject({
      tillHome,
      ifDue: true,
      fields: '*/5 * * * *',
    });

    expect(tillAsOk(['schedule', 'disable'])).toMatch(/removed the cron scheduler/);
    expect(readTab()).toBe(original);
    const after = JSON.parse(tillAsOk(['schedule', 'show', '--json']));
    expect(after.schedulers).toEqual([]);
    expect(after.schedule.enabled).toBe(false);
  });

  it('with no crontab before, enable → disable leaves no crontab', () => {
    writeTab(null);
    expect(readTab()).toBeNull();
    tillAsOk(['schedule', 'enable', '--scheduler', 'cron']);
    expect(readTab()).toMatch(/till-sync \(managed by till/);
    tillAsOk(['schedule', 'disable', '--scheduler', 'cron']);
    expect(readTab()).toBeNull();
    expect(tillAsOk(['schedule', 'disable'])).toMatch(/no till scheduler is installed/);
  });

  it('the line fires when next_run says: exactly for a daily time on the system clock, within 5 minutes otherwise', () => {
    writeTab(null);
    for (const [set, tz, exact] of [
      [['--daily-at', '03:00'], '', true],
      [['--daily-at', '03:00'], 'TZ=America/New_York', false],
      [['--interval-hours', '6'], '', false],
      [['--interval-hours', '5'], 'TZ=Asia/Kolkata', false],
    ] as const) {
      tillAsOk(['schedule', 'set', ...set], tz);
      tillAsOk(['schedule', 'enable', '--scheduler', 'cron'], tz);
      const line = parseCronLine(readTab()!.trimEnd())!;
      const next = new Date(JSON.parse(tillAsOk(['schedule', 'show', '--json'], tz)).next_run);
      // A plain line fires at its fields; an --if-due line runs the sync at its first check at or after next_run.
      const fires = firstFiring(line.fields, exact ? new Date() : next);
      const label = `${set.join(' ')} ${tz}: ${line.fields}`;
      expect(line.ifDue, label).toBe(!exact);
      if (exact) expect(fires.toISOString(), label).toBe(next.toISOString());
      else expect(fires.getTime() - next.getTime(), label).toBeLessThan(5 * 60_000);
      expect(fires.getTime() - next.getTime(), label).toBeGreaterThanOrEqual(0);
    }
    tillAsOk(['schedule', 'disable']);
    expect(readTab()).toBeNull();
  });
});
