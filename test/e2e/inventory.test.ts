/**
 * The inventory commands as a person runs them (the built CLI): host import from each
 * format's fixture (Include, children, group vars, ranges, a ProxyJump chain, a name
 * till refuses), all or nothing; host export and import back; host edit against a
 * real lab host (the port moves, host test follows, the old master is gone), --rename
 * keeping every state file; and Ansible itself through an export.
 */
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, watch, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLab, type Lab } from '../lab/lab.js';
import { closeMasters, TILL_BIN, tempHome, till, tillOk } from '../lab/till.js';

const FIXTURES = resolve('test/fixtures/import');
const homes: string[] = [];
afterAll(async () => {
  for (const h of homes) await closeMasters(h);
});

/** A fresh, initialised TILL_HOME. */
async function freshHome(): Promise<string> {
  const { home } = tempHome();
  homes.push(home);
  await tillOk(home, ['host', 'init']);
  return home;
}

/** Every file a failed command must leave byte-identical. */
const files = (home: string) => ({
  db: readFileSync(`${home}/hosts-local.json`, 'utf8'),
  seal: existsSync(`${home}/hosts-local.json.sha256`) ? readFileSync(`${home}/hosts-local.json.sha256`, 'utf8') : null,
  config: readFileSync(`${home}/ssh/config`, 'utf8'),
});

/** Each command is exit 2 with its message on stderr, and leaves the database and ssh/config byte-identical. */
async function expectRefused(home: string, cases: Array<[string[], RegExp]>): Promise<void> {
  const before = files(home);
  for (const [args, message] of cases) {
    const r = await till(home, args);
    expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
    expect(r.stderr, args.join(' ')).toMatch(message);
    expect(files(home), args.join(' ')).toEqual(before);
  }
}

interface ListedHost {
  name: string;
  user: string;
  host: string;
  port: number;
  jump?: string;
  tekton_path: string;
  groups: string[];
  status: string;
}
const hosts = async (home: string): Promise<Record<string, string>> => {
  const list = JSON.parse((await tillOk(home, ['host', 'list', '--json'])).stdout).hosts as ListedHost[];
  return Object.fromEntries(
    list.map((h) => [h.name, `${h.user}@${h.host}:${h.port}${h.jump ? ` via ${h.jump}` : ''} [${h.groups.join(',')}]`]),
  );
};
const groups = async (home: string) =>
  JSON.parse((await tillOk(home, ['host', 'group', 'list', '--json'])).stdout).groups as Record<string, string[]>;
const me = userInfo().username;

describe('host import', () => {
  it('ssh config: Include followed, wildcard defaults, a ProxyJump chain; a refused name stops it all; --skip-invalid imports the rest', async () => {
    const home = await freshHome();
    const user = mkdtempSync('/tmp/t-u-');
    homes.push(user);
    cpSync(join(FIXTURES, 'ssh'), join(user, '.ssh'), { recursive: true });
    const env = { HOME: user };
    const config = join(user, '.ssh', 'config');
    const before = files(home);

    const refused = await till(home, ['host', 'import', config], { env });
    expect(refused.code).toBe(2);
    expect(refused.stdout).toMatch(
      /refused\s+db\+replica\s+-\s+invalid host name "db\+replica".*suggested name: db-replica/,
    );
    expect(refused.stderr).toContain('error: 1 refused (see above); nothing imported');
    expect(files(home)).toEqual(before);

    const dry = await till(home, ['host', 'import', config, '--skip-invalid', '--dry-run', '--json'], { env });
    expect(dry.code).toBe(0);
    const doc = JSON.parse(dry.stdout) as {
      format: string;
      written: boolean;
      hosts: Array<{ name: string; action: string }>;
    };
    expect(doc.format).toBe('ssh-config');
    expect(doc.written).toBe(false);
    expect(doc.hosts.map((h) => `${h.action} ${h.name}`)).toEqual([
      'refused db+replica',
      'add web-1',
      'add web-2',
      'add bastion',
      'add inner',
      'add app',
      'add legacy',
      'add outside',
      'add 127.0.10.6',
    ]);
    expect(files(home)).toEqual(before);

    const done = await till(home, ['host', 'import', config, '--skip-invalid'], { env });
    expect(done.code, done.stderr).toBe(0);
    expect(await hosts(home)).toEqual({
      '127.0.10.6': 'fallback@127.0.10.6:22 []',
      app: 'fallback@127.0.10.3:22 via inner []',
      bastion: 'ops@127.0.10.1:2222 []',
      inner: 'fallback@127.0.10.2:22 via bastion []',
      legacy: 'fallback@127.0.10.4:22 []',
      outside: 'fallback@127.0.10.5:22 []',
      'web-1': 'deploy@127.0.11.1:22 []',
      'web-2': 'deploy@127.0.11.2:2202 []',
    });
    // What was not carried is said, per host.
    expect(done.stderr).toContain('note: app: IdentityFile ~/.ssh/id_app: not carried');
    expect(done.stderr).toContain('note: legacy: ProxyCommand ssh -W %h:%p bastion: not carried');
    expect(done.stderr).toMatch(/note: outside: ProxyJump admin@127\.0\.50\.1:2200: not carried/);
    expect(done.stderr).toMatch(/Match host \*\.internal is not evaluated/);
    expect(done.stderr).toMatch(/next: authorize till's key on each host .*then: till host test --all/);
    // The ssh config follows: app goes through inner, which goes through bastion.
    const g = execFileSync('ssh', ['-G', '-F', `${home}/ssh/config`, 'till-app'], { encoding: 'utf8' });
    expect(g).toMatch(/^proxyjump till-inner$/m);

    // The same file again changes nothing, and does not rewrite the database.
    const again = files(home);
    const twice = await tillOk(home, ['host', 'import', config, '--skip-invalid'], { env });
    expect(twice.stdout).toMatch(/unchanged\s+web-1/);
    expect(files(home).db).toBe(again.db);
  });

  it('Ansible INI: ranges, host:port, group vars by depth, children, --group; a local host skipped', async () => {
    const home = await freshHome();
    const r = await tillOk(home, ['host', 'import', join(FIXTURES, 'ansible/hosts.ini'), '--group', 'fleet']);
    expect(r.stdout).toMatch(/skip\s+localhost\s+-\s+ansible_connection=local: not reached over ssh/);
    const h = await hosts(home);
    expect(Object.keys(h)).toHaveLength(10);
    expect(h.jumpbox).toBe('ops@127.0.20.1:22 [fleet]');
    expect(h['127.0.21.14']).toBe('deploy@127.0.21.14:2201 [fleet,prod,web]');
    expect(h['db-main']).toBe('postgres@127.0.22.9:2222 [db,fleet,prod]');
    const g = await groups(home);
    expect(g.prod).toHaveLength(9);
    expect(g.web).toEqual(['127.0.21.1', '127.0.21.2', '127.0.21.3', '127.0.21.10', '127.0.21.12', '127.0.21.14']);
    expect(g.empty).toEqual([]);
    expect(r.stderr).toMatch(/then: till host test @fleet/);
  });

  it('Ansible YAML: all vars, nested children, a host in two groups', async () => {
    const home = await freshHome();
    await tillOk(home, ['host', 'import', join(FIXTURES, 'ansible/hosts.yml')]);
    expect(await hosts(home)).toEqual({
      '127.0.31.1': 'www@127.0.31.1:2200 [prod,web]',
      '127.0.31.2': 'www@127.0.31.2:2200 [prod,staging,web]',
      db1: 'admin@127.0.32.1:5022 [db,prod]',
      solo: 'admin@127.0.30.1:22 []',
      stage1: 'admin@127.0.33.1:22 [staging]',
    });
  });

  it('pssh: the current user by default; a name used twice is refused; existing hosts are skipped unless --replace', async () => {
    const home = await freshHome();
    await tillOk(home, ['host', 'add', '127.0.40.2', 'deploy@127.0.40.2:2299']);
    const file = join(FIXTURES, 'pssh-hosts');
    const r = await till(home, ['host', 'import', file, '--skip-invalid']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/refused\s+127\.0\.40\.1\s.*used twice in the file.*suggested name: 127\.0\.40\.1-2/);
    expect(r.stdout).toMatch(/skip\s+127\.0\.40\.2\s.*port 2299 → 22.*--replace/);
    expect(await hosts(home)).toEqual({
      '127.0.40.1': `${me}@127.0.40.1:22 []`,
      '127.0.40.2': 'deploy@127.0.40.2:2299 []',
      '127.0.40.3': 'deploy@127.0.40.3:2222 []',
    });
    const replace = await tillOk(home, ['host', 'import', file, '--skip-invalid', '--replace', '--json']);
    const doc = JSON.parse(replace.stdout) as { hosts: Array<{ name: string; action: string; changes: string[] }> };
    expect(doc.hosts.find((h) => h.name === '127.0.40.2')).toMatchObject({
      action: 'change',
      changes: ['port 2299 → 22'],
    });
    expect((await hosts(home))['127.0.40.2']).toBe('deploy@127.0.40.2:22 []');
  });

  it('bad input is exit 2 with a reason, and the database stays byte-identical', async () => {
    const home = await freshHome();
    await tillOk(home, ['host', 'add', 'keep', 'u@127.0.0.5']);
    const dir = mkdtempSync('/tmp/t-f-');
    homes.push(dir);
    const write = (name: string, text: string) => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    };
    const cases: Array<[string[], RegExp]> = [
      [['host', 'import', join(dir, 'missing')], /cannot read .*missing: no such file or folder$/m],
      [['host', 'import', dir], /cannot read .*: it is a folder, not a file$/m],
      [['host', 'import', ''], /host import needs a file name, got an empty string/],
      [['host', 'import', write('odd', 'this is = not an inventory !\n')], /cannot tell the format of .*odd/],
      [['host', 'import', write('empty', '# nothing\n'), '--format', 'pssh'], /no hosts in .*empty/],
      [['host', 'import', write('bad.yml', 'all:\n  hosts: [\n'), '--format', 'ansible'], /not valid YAML/],
      [['host', 'import', write('h', '127.0.0.9\n'), '--format', 'csv'], /argument 'csv' is invalid/],
      [['host', 'import', write('h2', '127.0.0.9\n'), '--group', 'bad group'], /invalid group name "bad group"/],
      [['host', 'import', write('inj', 'Host x\n  HostName 127.0.0.1\\nProxyCommand touch /tmp/pwned\n')], /1 refused/],
      [
        [
          'host',
          'import',
          write('loop', 'Host a\n  HostName 127.0.0.7\n  ProxyJump b\nHost b\n  HostName 127.0.0.8\n  ProxyJump a\n'),
        ],
        /2 refused/,
      ],
      [['host', 'import', write('r', 'web[3:1] ansible_host=127.0.0.1\n')], /range in web\[3:1\] is empty/],
      [
        [
          'host',
          'import',
          write(
            'nl.yml',
            'all:\n  hosts:\n    x:\n      ansible_host: "127.0.0.1\\nProxyCommand touch /tmp/t-pwned"\n',
          ),
        ],
        /1 refused/,
      ],
      [
        [
          'host',
          'import',
          write(
            'u.yml',
            'all:\n  hosts:\n    x:\n      ansible_host: 127.0.0.1\n      ansible_user: "-oProxyCommand=x"\n',
          ),
        ],
        /1 refused/,
      ],
    ];
    await expectRefused(home, cases);
  });

  it('is one atomic write: killed at any moment, the database is as before or fully imported', async () => {
    const home = await freshHome();
    const dir = mkdtempSync('/tmp/t-k-');
    homes.push(dir);
    const n = 3000;
    const file = join(dir, 'many');
    writeFileSync(file, Array.from({ length: n }, (_, i) => `u@127.1.${i >> 8}.${i & 255}`).join('\n'));
    const original = files(home).db;
    const outcomes = { before: 0, after: 0 };
    /** One import, killed after `delay` ms or when `when` sees its file event in TILL_HOME, whichever comes first. */
    const killedImport = async (delay: number, when?: (file: string) => boolean): Promise<void> => {
      const child = spawn(process.execPath, [TILL_BIN, 'host', 'import', file], {
        env: { PATH: process.env.PATH, HOME: process.env.HOME, TILL_HOME: home },
        stdio: 'ignore',
      });
      const kill = () => child.kill('SIGKILL');
      const watcher = when && watch(home, (_event, name) => name !== null && when(name) && kill());
      const timer = setTimeout(kill, delay);
      await new Promise<void>((done) => child.on('close', () => done()));
      clearTimeout(timer);
      watcher?.close();
      const text = readFileSync(`${home}/hosts-local.json`, 'utf8');
      if (text === original) outcomes.before += 1;
      else {
        expect(Object.keys(JSON.parse(text).hosts as object)).toHaveLength(n);
        outcomes.after += 1;
        writeFileSync(`${home}/hosts-local.json`, original);
      }
      // Whatever moment the kill hit, the next till reads a whole database (a leftover lock is taken over).
      await tillOk(home, ['host', 'list', '--json'], { timeoutMs: 60_000 });
    };
    for (let i = 0; i < 10; i++) await killedImport(40 + i * 60);
    // Killed the moment its temporary file appears (mid-write), and the moment the new
    // database is renamed into place (after the write, before it exits): not by the clock.
    await killedImport(600_000, (name) => /^hosts-local\.json\.[0-9a-f]+$/.test(name));
    await killedImport(600_000, (name) => name === 'hosts-local.json');
    // Both outcomes happened: a kill before the write left the database as it was (the
    // 40 ms one cannot get past start-up), and one after left the whole import.
    expect(outcomes.before, JSON.stringify(outcomes)).toBeGreaterThanOrEqual(1);
    expect(outcomes.after, JSON.stringify(outcomes)).toBeGreaterThanOrEqual(1);
    expect(outcomes.before + outcomes.after).toBe(12);
  }, 240_000);
});

describe("the original Till's database", () => {
  it("loads as it is (no exit 4), and the next write stores till's own forms, keeping every other field", async () => {
    const { home } = tempHome();
    homes.push(home);
    const env = { TZ: 'America/New_York' };
    cpSync(resolve('test/fixtures/original-till-hosts-local.json'), `${home}/hosts-local.json`);
    // As an original ~/.till is: its key, its own ssh/config (till renders its own).
    await tillOk(home, ['host', 'init'], { env });
    const list = JSON.parse((await tillOk(home, ['host', 'list', '--json'], { env })).stdout).hosts as Array<
      ListedHost & { added: string }
    >;
    expect(list.map((h) => [h.name, h.status, h.added, h.tekton_path, h.port])).toEqual([
      ['db1', 'untested', '2026-12-06T21:36:41.000Z', '~/projects/github/Tekton', 22],
      ['legacy-a', 'untested', '2026-12-06T21:36:27.000Z', '~/projects/github/Tekton', 2222],
      ['web1', 'connected', '2026-12-06T21:36:40.000Z', '~/projects/github/Tekton', 2222],
    ]);
    expect(readFileSync(`${home}/ssh/config`, 'utf8')).toMatch(/^Host till-web1\n {4}HostName 127\.0\.60\.1\n/m);
    await tillOk(home, ['host', 'group', 'create', 'old', 'web1', 'db1'], { env });
    const written = JSON.parse(readFileSync(`${home}/hosts-local.json`, 'utf8'));
    expect(written.hosts.web1).toMatchObject({ status: 'connected', added: '2026-12-06T21:36:40.000Z' });
    expect(written.hosts['legacy-a'].tekton_path).toBe('~/projects/github/Tekton');

    // A version that soft-deleted hosts: the removed one is kept, out of reach of --all.
    const other = tempHome().home;
    homes.push(other);
    cpSync(resolve('test/fixtures/original-till-soft-delete-hosts-local.json'), `${other}/hosts-local.json`);
    await tillOk(other, ['host', 'init']);
    expect((await tillOk(other, ['host', 'exec', '--all', '--list-hosts'])).stdout).toBe('keep\n');
    expect((await till(other, ['host', 'show', 'gone'])).code).toBe(2);
    await tillOk(other, ['host', 'edit', 'keep', '--port', '2200']);
    const kept = JSON.parse(readFileSync(`${other}/hosts-local.json`, 'utf8'));
    expect(kept.hosts.keep).toMatchObject({
      port: 2200,
      state: 'active',
      version: 1,
      last_seen: '2026-12-06T21:37:03Z',
    });
    expect(kept.removed_hosts.gone).toMatchObject({ state: 'removed', removed_date: '2026-12-06T21:37:03Z' });
    expect(kept.local_hostname).toBe('vm');
  });
});

describe('host group remove', () => {
  it('a host not in the group is exit 2 with "did you mean" among its members', async () => {
    const home = await freshHome();
    await tillOk(home, ['host', 'add', 'web1', 'u@127.0.0.11']);
    await tillOk(home, ['host', 'add', 'web2', 'u@127.0.0.12', '--group', 'prod']);
    await expectRefused(home, [
      [['host', 'group', 'remove', 'prod', 'wbe2'], /error: not in group prod: wbe2\nhint: did you mean web2\?/],
      [
        ['host', 'group', 'remove', 'prod', 'wbe2', 'web1', 'db'],
        /not in group prod: wbe2, web1, db\nhint: wbe2: did you mean web2\?\n/,
      ],
      [['host', 'group', 'remove', 'prod', 'db'], /not in group prod: db\nhint: it holds: web2/],
    ]);
  });
});

describe('host export', () => {
  it('ansible and ssh-config exports import back to the same hosts and groups', async () => {
    const home = await freshHome();
    await tillOk(home, ['host', 'import', join(FIXTURES, 'ansible/hosts.ini'), '--group', 'fleet']);
    await tillOk(home, ['host', 'edit', 'dba', '--jump', 'jumpbox', '--tekton-path', '/srv/tekton']);
    await tillOk(home, ['host', 'group', 'create', 'hollow']);
    const want = { hosts: await hosts(home), groups: await groups(home) };
    const dir = mkdtempSync('/tmp/t-x-');
    homes.push(dir);
    for (const format of ['ansible', 'ssh-config']) {
      const exported = join(dir, format);
      writeFileSync(exported, (await tillOk(home, ['host', 'export', '--format', format])).stdout);
      const other = await freshHome();
      const r = await tillOk(other, ['host', 'import', exported]);
      expect(r.stderr).toContain(`(${format})`);
      expect({ hosts: await hosts(other), groups: await groups(other) }, format).toEqual(want);
      const show = JSON.parse((await tillOk(other, ['host', 'show', 'dba', '--json'])).stdout) as ListedHost;
      expect(show.tekton_path).toBe('/srv/tekton');
    }
    // A pattern exports some hosts; a jump host left out comes along, with till's key and
    // known_hosts, and is jumped through by its alias.
    const some = (await tillOk(home, ['host', 'export', 'dba,db-main', '--format', 'ssh-config'])).stdout;
    expect(some.match(/^Host .*/gm)).toEqual(['Host dba', 'Host db-main', 'Host jumpbox']);
    expect(some).toMatch(/^Host dba\n(?: {4}.*\n)*? {4}ProxyJump jumpbox\n/m);
    const jumpBlock = /^Host jumpbox\n((?: {4}.*\n)+)/m.exec(some)![1]!;
    expect(jumpBlock).toContain('    HostName 127.0.20.1\n    User ops\n');
    expect(jumpBlock).toContain(`    IdentityFile ${home}/ssh/till_federation_ed25519\n    IdentitiesOnly yes\n`);
    expect(jumpBlock).toContain(`    UserKnownHostsFile ${home}/ssh/known_hosts\n`);
    expect(jumpBlock).not.toContain('ProxyJump');
    const yaml = (await tillOk(home, ['host', 'export', '@db', '--limit', '!dbb'])).stdout;
    expect(yaml).toMatch(/ansible_ssh_args: -F \/tmp\/t-.*\/ssh\/config/);
    expect(yaml).toMatch(/^ {4}dba:\n {6}ansible_host: till-dba$/m);
    expect(yaml).not.toMatch(/dbb:/);
  });
});

describe('against a real host', () => {
  let lab: Lab;
  let home: string;
  const masterCheck = (args: string[]) => {
    try {
      execFileSync('ssh', ['-F', `${home}/ssh/config`, ...args, '-O', 'check', 'till-h'], { stdio: 'pipe' });
      return true;
    } catch {
      return false;
    }
  };

  beforeAll(async () => {
    home = await freshHome();
    const key = readFileSync(`${home}/ssh/till_federation_ed25519.pub`, 'utf8');
    lab = await startLab(2, { authorizedKey: key, perHost: () => ({ secondPort: true }) });
    await tillOk(home, ['host', 'add', 'h', lab.hosts[0]!.spec, '--group', 'web']);
    await tillOk(home, ['host', 'add', 'other', lab.hosts[1]!.spec, '--jump', 'h']);
  }, 120_000);
  afterAll(() => lab?.stop());

  it('host edit --port: the config follows, host test reaches the new port, the master to the old one is closed', async () => {
    const h = lab.hosts[0]!;
    await tillOk(home, ['host', 'test', 'h']);
    expect(masterCheck([])).toBe(true);
    const before = readdirSync(`${home}/ssh/control`);
    expect(before).toHaveLength(1);

    const r = await tillOk(home, ['host', 'edit', 'h', '--port', String(h.altPort)]);
    expect(r.stderr).toContain(`h: port ${h.port} → ${h.altPort}`);
    // The old master is gone: its socket, and ssh finds none at the old address.
    expect(readdirSync(`${home}/ssh/control`)).toEqual([]);
    expect(masterCheck(['-o', `Port=${h.port}`])).toBe(false);

    const test = JSON.parse((await tillOk(home, ['host', 'test', 'h', '--json'])).stdout) as {
      results: Array<{ ok: boolean }>;
    };
    expect(test.results[0]!.ok).toBe(true);
    const exec = JSON.parse((await tillOk(home, ['host', 'exec', 'h', '--json', '--', 'echo $SSH_CONNECTION'])).stdout);
    expect((exec.results[0].stdout as string).trim().split(/\s+/).at(-1)).toBe(String(h.altPort));
    expect(masterCheck([])).toBe(true);
    expect(readdirSync(`${home}/ssh/control`)).not.toEqual(before);
  });

  it('host edit --rename: groups, jumps, health and audit history and the deploy journal follow the name', async () => {
    // Thresholds off: only the history matters here, not how loaded the test machine is.
    await tillOk(home, ['host', 'health', 'h', '--load-max', '1000', '--disk-min', '0']);
    await tillOk(home, ['host', 'audit', 'h']);
    const journal = `${home}/state/deploy-journal.json`;
    writeFileSync(
      journal,
      JSON.stringify({
        runs: [
          {
            run: 'r1',
            release: '20260101T000000Z-abcdef',
            source: '/tmp/src',
            installation: 'x',
            started: '2026-01-01T00:00:00.000Z',
            options: { shared: [], keep: 5, maxFail: 0, check: null },
            hosts: { h: { state: 'done', at: '2026-01-01T00:00:00.000Z' } },
          },
        ],
      }),
    );
    const health = () => JSON.parse(readFileSync(`${home}/state/health-history.json`, 'utf8')).hosts as object;
    const points = (health() as Record<string, unknown[]>).h!.length;

    const r = await tillOk(home, ['host', 'edit', 'h', '--rename', 'web-1', '--json']);
    expect(JSON.parse(r.stdout)).toMatchObject({ name: 'web-1', changes: ['name h → web-1'] });
    expect(Object.keys(await hosts(home)).sort()).toEqual(['other', 'web-1']);
    expect((await groups(home)).web).toEqual(['web-1']);
    expect((await hosts(home)).other).toMatch(/via web-1/);
    expect(Object.keys(health())).toEqual(['web-1']);
    expect(existsSync(`${home}/state/audit/h.json`)).toBe(false);
    expect(JSON.parse(readFileSync(`${home}/state/audit/web-1.json`, 'utf8'))).toMatchObject({ host: 'web-1' });
    expect(JSON.parse(readFileSync(journal, 'utf8')).runs[0].hosts).toEqual({
      'web-1': { state: 'done', at: '2026-01-01T00:00:00.000Z' },
    });
    // Under its new name the host works, and its history goes on.
    await tillOk(home, ['host', 'health', 'web-1', '--load-max', '1000', '--disk-min', '0']);
    expect((health() as Record<string, unknown[]>)['web-1']).toHaveLength(points + 1);
    await tillOk(home, ['host', 'test', 'other']);
  });

  it('host edit refuses bad values with exit 2, "did you mean", and leaves everything as it was', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['host', 'edit', 'web-l', '--port', '22'], /no such host: web-l\nhint: did you mean web-1\?/],
      [['host', 'edit', 'web-1'], /nothing to change/],
      [['host', 'edit', 'web-1', '--port', '0'], /invalid port 0/],
      [['host', 'edit', 'web-1', '--user', 'bad user'], /invalid user "bad user"/],
      [
        ['host', 'edit', 'web-1', '--address', 'u@-oProxyCommand=x'],
        /the address must start with a letter, a digit or \[/,
      ],
      [['host', 'edit', 'web-1', '--address', 'u@127.0.0.1:2200', '--port', '2201'], /port given twice/],
      [['host', 'edit', 'web-1', '--tekton-path', '../x'], /invalid --tekton-path/],
      [['host', 'edit', 'web-1', '--jump', 'web-1'], /cannot jump through itself/],
      [['host', 'edit', 'web-1', '--jump', 'othr'], /--jump othr: no such host.*\nhint: did you mean other\?/],
      [['host', 'edit', 'web-1', '--jump', 'other'], /other already reaches web-1 through its own jumps/],
      [['host', 'edit', 'web-1', '--jump', 'other', '--no-jump'], /--jump and --no-jump exclude each other/],
      [['host', 'edit', 'other', '--no-jump', '--jump', 'web-1'], /--jump and --no-jump exclude each other/],
      [['host', 'edit', 'web-1', '--rename', 'other'], /host other already exists/],
      [['host', 'edit', 'web-1', '--rename', 'bad name'], /invalid host name "bad name"/],
    ];
    await expectRefused(home, cases);
  });

  it("ansible -i <(till host export) reaches the hosts through till's key, known_hosts and master", async () => {
    const dir = mkdtempSync('/tmp/t-a-');
    homes.push(dir);
    const inventory = join(dir, 'inventory.yml');
    writeFileSync(inventory, (await tillOk(home, ['host', 'export', 'web-1'])).stdout);
    await tillOk(home, ['host', 'test', 'web-1']); // a master to share
    const masters = readdirSync(`${home}/ssh/control`);
    // No ~/.ssh of the person running the tests, no Ansible config of theirs: only what the export says.
    writeFileSync(join(dir, 'ansible.cfg'), '[defaults]\n');
    const out = execFileSync('ansible', ['-i', inventory, 'all', '-m', 'ping', '-o'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, HOME: dir, ANSIBLE_CONFIG: join(dir, 'ansible.cfg') },
      timeout: 120_000,
    });
    expect(out).toMatch(/^web-1 \| SUCCESS/m);
    expect(readdirSync(`${home}/ssh/control`)).toEqual(masters);
    expect(existsSync(join(dir, '.ansible', 'cp'))).toBe(false);
  });
});
