/**
 * Defects a user-level review found in the built CLI, each pinned as the user met it:
 * the command line, its stdout, stderr, exit code and what it left in TILL_HOME.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ed25519Blob } from '../unit/keys.js';
import { homeWithOneHost, tempHomes } from '../lab/homes.js';
import { closeMasters, homeWithHosts, till, tillOk } from '../lab/till.js';

const home = tempHomes();

describe('a remote command line too long for one argument', () => {
  const big = 'x'.repeat(70_000);

  it('host exec refuses it as a usage error naming the bound, before anything runs (was: exit 70, E2BIG)', async () => {
    const h = await homeWithOneHost(home);
    const r = await till(h, ['host', 'exec', 'h0', '--json', '--', 'echo', big, big]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/remote command is 140,006 bytes, over the 131,071 bytes \(128 KiB\)/);
    expect(r.stderr).not.toMatch(/internal error|E2BIG|retry/i);
    const db = JSON.parse(readFileSync(join(h, 'hosts-local.json'), 'utf8'));
    expect(db.hosts.h0.last_test).toBeUndefined();
  });

  it('host exec --stop-remote counts the wrapper it sends, and host ssh refuses it too', async () => {
    const h = await homeWithOneHost(home);
    const r = await till(h, ['host', 'exec', 'h0', '--stop-remote', '--', 'x'.repeat(131_000)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/over the 131,071 bytes/);
    const s = await till(h, ['host', 'ssh', 'h0', '--', 'echo', big, big]);
    expect(s.code).toBe(2);
    expect(s.stderr).toMatch(/over the 131,071 bytes/);
  });
});

// eslint-disable-next-line no-control-regex -- an ESC anywhere is what must not reach the terminal
const ESC = /\x1b/;
const ED25519 = ed25519Blob(7);

describe('terminal escapes from a host or a file, in tables', () => {
  it("host audit shows a key comment's colour codes as escapes, with NO_COLOR and with colour on (till's own colours still paint)", async () => {
    const { home: h, lab } = await homeWithHosts(1);
    try {
      lab.hosts[0]!.shell(`printf 'ssh-ed25519 ${ED25519} evil\\033[31mRED\\nnot a key\\n' >> ~/.ssh/authorized_keys`);
      const plain = await tillOk(h, ['host', 'audit', 'h0']);
      expect(plain.stdout).toContain('evil\\x1b[31mRED');
      expect(plain.stdout).not.toMatch(ESC);
      const coloured = await tillOk(h, ['host', 'audit', 'h0'], { env: { NO_COLOR: '', FORCE_COLOR: '1' } });
      expect(coloured.stdout).toContain('evil\\x1b[31mRED');
      expect(coloured.stdout).not.toContain('evil\x1b[31m');
      // The severity column is till's own paint.
      // eslint-disable-next-line no-control-regex -- till's own colour codes are what it finds
      expect(coloured.stdout).toMatch(/\x1b\[(?:31|33|36|2)m(?:HIGH|MEDIUM|LOW|INFO)\x1b\[(?:39|22)m/);
    } finally {
      await closeMasters(h);
      lab.stop();
    }
  });

  it("host import's table escapes a pssh line's OSC and colour codes", async () => {
    const h = home();
    await tillOk(h, ['host', 'init']);
    const file = join(h, 'hosts.txt');
    writeFileSync(file, 'u@127.0.0.5\x1b]0;PWNED\x07\x1b[31mred\n');
    for (const env of [{}, { NO_COLOR: '', FORCE_COLOR: '1' }]) {
      const r = await till(h, ['host', 'import', file, '--format', 'pssh', '--dry-run'], { env });
      expect(r.stdout).toContain('127.0.0.5\\x1b]0;PWNED\\x07\\x1b[31mred');
      expect(r.stdout).not.toMatch(ESC);
    }
  });
});

describe('till help <command…>', () => {
  it("is the command's --help, exit 0, at any depth (was: exit 2, or the parent's help)", async () => {
    const h = home();
    for (const path of [['status'], ['host', 'deploy'], ['host', 'ls'], []]) {
      const want = await tillOk(h, [...path, '--help']);
      const got = await till(h, ['help', ...path]);
      expect({ path, code: got.code, stdout: got.stdout, stderr: got.stderr }).toEqual({
        path,
        code: 0,
        stdout: want.stdout,
        stderr: '',
      });
    }
    const nested = await till(h, ['host', 'help', 'deploy']);
    expect(nested.code).toBe(0);
    expect(nested.stdout).toMatch(/^Usage: till host deploy /);
  });

  it('an unknown command is a usage error that says so, with did-you-mean, and runs nothing', async () => {
    const h = home();
    const nope = await till(h, ['help', 'nope']);
    expect(nope).toMatchObject({ code: 2, stdout: '' });
    expect(nope.stderr).toMatch(/^error: unknown command 'nope'\nhint: the commands: till --help\n$/);
    const typo = await till(h, ['help', 'host', 'deplyo']);
    expect(typo).toMatchObject({ code: 2, stdout: '' });
    expect(typo.stderr).toContain("unknown command 'deplyo'\nhint: did you mean deploy?");
    const leaf = await till(h, ['help', 'status', 'extra']);
    expect(leaf).toMatchObject({ code: 2, stdout: '' });
    expect(leaf.stderr).toContain("till status has no command 'extra'");
  });
});

describe('an unknown TZ', () => {
  it('schedule set, show and enable refuse it (exit 2) and change nothing; a known zone goes into the timer', async () => {
    const h = home();
    await tillOk(h, ['host', 'init']);
    const schedule = () => readFileSync(join(h, 'schedule.json'), 'utf8');
    const before = schedule();
    const bogus = { TZ: 'Bogus/Zone' };
    for (const args of [
      ['schedule', 'set', '--daily-at', '03:00'],
      ['schedule', 'show'],
      ['schedule', 'enable', '--scheduler', 'systemd', '--dry-run'],
    ]) {
      const r = await till(h, args, { env: bogus });
      expect({ args, code: r.code, stdout: r.stdout }).toEqual({ args, code: 2, stdout: '' });
      expect(r.stderr).toContain('error: TZ=Bogus/Zone is not a time zone this system knows');
      expect(r.stderr).not.toContain('undefined');
    }
    expect(schedule()).toBe(before);

    const berlin = { TZ: ':Europe/Berlin' };
    await tillOk(h, ['schedule', 'set', '--daily-at', '03:00'], { env: berlin });
    const plan = await tillOk(h, ['schedule', 'enable', '--scheduler', 'systemd', '--dry-run'], { env: berlin });
    expect(plan.stdout).toContain('OnCalendar=*-*-* 03:00:00 Europe/Berlin');
    // An empty TZ is Node's UTC (its zone name is Etc/Unknown, which Intl refuses): no crash.
    const empty = await tillOk(h, ['schedule', 'show'], { env: { TZ: '' } });
    expect(empty.stdout).toMatch(/next run +\S+ \S+ UTC \(/);
  });
});

describe('smaller ones', () => {
  it('host lock refuses an empty or blank -m as it refuses none, and locks nothing', async () => {
    const h = await homeWithOneHost(home);
    const db = readFileSync(join(h, 'hosts-local.json'), 'utf8');
    for (const m of [[], ['-m', ''], ['-m', '   ']]) {
      const r = await till(h, ['host', 'lock', 'h0', ...m]);
      expect({ m, code: r.code, stdout: r.stdout }).toEqual({ m, code: 2, stdout: '' });
      expect(r.stderr).toContain('say why it is locked');
    }
    expect(readFileSync(join(h, 'hosts-local.json'), 'utf8')).toBe(db);
  });

  it('--trigger follows one rule in sync and schedule run, and a refused one records nothing', async () => {
    const h = await homeWithOneHost(home);
    const schedule = readFileSync(join(h, 'schedule.json'), 'utf8');
    for (const args of [
      ['sync', '--trigger', 'BAD'],
      ['schedule', 'run', '--trigger', 'BAD'],
      ['sync', '--trigger', 'a.b'],
      ['schedule', 'run', '--trigger', 'a.b'],
    ]) {
      const r = await till(h, args);
      expect({ args, code: r.code, stdout: r.stdout }).toEqual({ args, code: 2, stdout: '' });
      expect(r.stderr).toMatch(/^error: invalid --trigger "(BAD|a\.b)": a trigger is a short lowercase name$/m);
    }
    expect(readFileSync(join(h, 'schedule.json'), 'utf8')).toBe(schedule);
  });

  it('host export --json without --list-hosts is a usage error (the export has no JSON form)', async () => {
    const h = await homeWithOneHost(home);
    const r = await till(h, ['host', 'export', '--json']);
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toContain('--json goes with --list-hosts');
    const names = await tillOk(h, ['host', 'export', '--list-hosts', '--json']);
    expect(JSON.parse(names.stdout)).toEqual({ hosts: ['h0'] });
  });

  it('host fetch words a local folder it cannot make as a person would, not as errno', async () => {
    const h = await homeWithOneHost(home);
    const file = join(h, 'a-file');
    writeFileSync(file, '');
    const inTheWay = await till(h, ['host', 'fetch', 'h0', '/etc/hostname', file]);
    expect(inTheWay.code).toBe(2);
    expect(inTheWay.stderr).toContain(`error: cannot make the local folder ${file}: a file of that name is in the way`);
    const under = await till(h, ['host', 'fetch', 'h0', '/etc/hostname', join(file, 'sub')]);
    expect(under.code).toBe(2);
    expect(under.stderr).toContain(': a part of that path is a file, not a folder');
    for (const r of [inTheWay, under]) expect(r.stderr).not.toMatch(/EEXIST|ENOTDIR|mkdir '/);
  });

  it('host group create / add name each host once, and add says "already in" for members', async () => {
    const h = await homeWithOneHost(home);
    await tillOk(h, ['host', 'add', 'h1', 'u@127.0.0.6']);
    const created = await tillOk(h, ['host', 'group', 'create', 'g', 'h0', 'h0']);
    expect(created.stderr).toBe('created group g with h0\n');
    const added = await tillOk(h, ['host', 'group', 'add', 'g', 'h0', 'h1', 'h1']);
    expect(added.stderr).toBe('added h1 to g\nalready in g: h0\n');
    const again = await tillOk(h, ['host', 'group', 'add', 'g', 'h1']);
    expect(again.stderr).toBe('already in g: h1\n');
    expect(JSON.parse(readFileSync(join(h, 'hosts-local.json'), 'utf8')).groups).toEqual({ g: ['h0', 'h1'] });
  });
});
