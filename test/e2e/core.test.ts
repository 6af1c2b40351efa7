import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLab, type Lab } from '../lab/lab.js';
import { tempHomes } from '../lab/homes.js';
import { closeMasters, tempHome, till, tillOk } from '../lab/till.js';

const home = tempHomes();

const mode = (p: string) => statSync(p).mode & 0o777;

describe('till host init', () => {
  it('creates the tree with private modes, and a second run keeps the key and database', async () => {
    const h = home();
    const first = await tillOk(h, ['host', 'init']);
    expect(first.stdout).toMatch(/^ssh-ed25519 \S+ till-federation@/);
    const key = readFileSync(`${h}/ssh/till_federation_ed25519`, 'utf8');
    expect(mode(`${h}/ssh`)).toBe(0o700);
    expect(mode(`${h}/ssh/control`)).toBe(0o700);
    expect(mode(`${h}/ssh/till_federation_ed25519`)).toBe(0o600);
    expect(JSON.parse(readFileSync(`${h}/hosts-local.json`, 'utf8')).hosts).toEqual({});
    expect(JSON.parse(readFileSync(`${h}/schedule.json`, 'utf8')).sync).toBeDefined();
    expect(readFileSync(`${h}/ssh/config`, 'utf8')).toContain('Host till-*');

    await tillOk(h, ['host', 'add', 'web1', 'deploy@127.0.0.5']);
    const db = readFileSync(`${h}/hosts-local.json`, 'utf8');
    const second = await tillOk(h, ['host', 'init']);
    expect(second.stderr).toContain('kept existing key');
    expect(readFileSync(`${h}/ssh/till_federation_ed25519`, 'utf8')).toBe(key);
    expect(readFileSync(`${h}/hosts-local.json`, 'utf8')).toBe(db);
    expect(second.stdout.trim()).toBe(readFileSync(`${h}/ssh/till_federation_ed25519.pub`, 'utf8').trim());
  });

  it('run many times at once on a fresh home: every run succeeds and they share one key', async () => {
    for (let round = 0; round < 4; round++) {
      const h = home();
      const runs = await Promise.all(Array.from({ length: 4 }, () => till(h, ['host', 'init'])));
      expect(runs.map((r) => `${r.code} ${r.stderr.match(/^error: .*/m)?.[0] ?? ''}`)).toEqual(Array(4).fill('0 '));
      const pub = readFileSync(`${h}/ssh/till_federation_ed25519.pub`, 'utf8').trim();
      for (const r of runs) expect(r.stdout.trim()).toBe(pub);
      expect(runs.filter((r) => r.stderr.includes('created key'))).toHaveLength(1);
      expect(
        readdirSync(`${h}/ssh`)
          .filter((f) => f.startsWith('till_federation'))
          .sort(),
      ).toEqual(['till_federation_ed25519', 'till_federation_ed25519.pub']);
    }
  }, 120_000);

  it('refuses a TILL_HOME whose ControlPath would exceed the socket limit', async () => {
    const h = `${home()}/${'x'.repeat(60)}`;
    const r = await till(h, ['host', 'init']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/too long for ssh's ControlMaster socket/);
    expect(existsSync(`${h}/ssh`)).toBe(false);
  });

  it('commands other than init ask for init first', async () => {
    const r = await till(home(), ['host', 'list']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('run: till host init');
  });
});

describe('a TILL_HOME that belongs to another user, or cannot be read or written', () => {
  // A real second Unix user (not named like the lab's tl* users), removed afterwards.
  const user = `own${randomBytes(4).toString('hex')}`;
  let owner: { uid: number; gid: number };
  let dir: string;
  let bin: string;
  beforeAll(() => {
    execFileSync('useradd', ['-M', '-s', '/usr/sbin/nologin', user]);
    owner = {
      uid: Number(execFileSync('id', ['-u', user], { encoding: 'utf8' })),
      gid: Number(execFileSync('id', ['-g', user], { encoding: 'utf8' })),
    };
    dir = mkdtempSync('/tmp/t-');
    chmodSync(dir, 0o755);
    // The built till where that user can read it (the checkout may be under a private home).
    const cli = readdirSync('dist/cli').map((f) => join('dist/cli', f));
    for (const f of ['bin/till.cjs', 'dist/till.mjs', 'package.json', ...cli]) {
      mkdirSync(dirname(join(dir, f)), { recursive: true });
      copyFileSync(f, join(dir, f));
    }
    bin = join(dir, 'bin', 'till.cjs');
  });
  afterAll(() => {
    execFileSync('userdel', [user]);
    rmSync(dir, { recursive: true, force: true });
  });

  /** The built till run as `who` (default: this test's user, root). */
  const run = (tillHome: string, args: string[], who?: { uid: number; gid: number }) =>
    spawnSync(process.execPath, [bin, ...args], {
      env: { PATH: process.env.PATH, HOME: dir, TILL_HOME: tillHome, NO_COLOR: '1' },
      encoding: 'utf8',
      ...who,
    });
  /** An empty folder of `who`'s in the test's folder (which is root's). */
  const mkdirFor = (who: { uid: number; gid: number }, name: string) => {
    const path = join(dir, name);
    mkdirSync(path, { mode: 0o700 });
    chownSync(path, who.uid, who.gid);
    return path;
  };
  /** Every path under a tree with its owner and content hash. */
  const tree = (root: string): string[] =>
    readdirSync(root, { recursive: true, encoding: 'utf8' })
      .sort()
      .map((p) => {
        const st = statSync(join(root, p));
        const hash = st.isFile()
          ? createHash('sha256')
              .update(readFileSync(join(root, p)))
              .digest('hex')
          : 'dir';
        return `${p} ${st.uid} ${hash}`;
      });

  it("root is refused another user's TILL_HOME with exit 4 and a hint, and leaves nothing of its own in it", () => {
    const theirs = mkdirFor(owner, 'theirs');
    expect(run(theirs, ['host', 'init'], owner).status).toBe(0);
    expect(run(theirs, ['host', 'add', 'web1', 'deploy@127.0.0.7'], owner).status).toBe(0);
    const before = tree(theirs);
    for (const args of [['host', 'list'], ['host', 'add', 'web2', 'deploy@127.0.0.8'], ['host', 'init'], ['status']]) {
      const r = run(theirs, args);
      expect(r.status, `till ${args.join(' ')}: ${r.stderr}`).toBe(4);
      expect(r.stderr).toContain(
        `error: TILL_HOME ${theirs} belongs to ${user} (uid ${owner.uid}), not to root (uid 0)`,
      );
      expect(r.stderr).toContain(`hint: run till as ${user} (sudo -u ${user} till …)`);
      expect(r.stdout).toBe('');
    }
    expect(tree(theirs)).toEqual(before);
  });

  it('a user on a TILL_HOME it cannot use: exit 4 with the reason, never "internal error"', () => {
    const roots = join(dir, 'roots');
    expect(run(roots, ['host', 'init']).status).toBe(0);
    const locked = join(dir, 'locked'); // root's, 0755: the user cannot create anything in it
    mkdirSync(locked, { mode: 0o755 });
    const cases: Array<[string, string, string[], string]> = [
      ["root's TILL_HOME", roots, ['host', 'list'], `TILL_HOME ${roots} belongs to root (uid 0), not to ${user}`],
      ["root's TILL_HOME, init", roots, ['host', 'init'], `TILL_HOME ${roots} belongs to root (uid 0)`],
      [
        'under a folder it cannot create in',
        join(locked, 'th'),
        ['host', 'init'],
        `cannot set up TILL_HOME ${join(locked, 'th')}: permission denied: cannot mkdir ${join(locked, 'th')}`,
      ],
      [
        "inside root's private TILL_HOME",
        join(roots, 'x'),
        ['host', 'list'],
        `cannot reach TILL_HOME ${join(roots, 'x')}: permission denied`,
      ],
    ];
    for (const [what, tillHome, args, message] of cases) {
      const r = run(tillHome, args, owner);
      expect(r.status, `${what}: ${r.stderr}`).toBe(4);
      expect(r.stderr).toContain(`error: ${message}`);
      expect(r.stderr).toMatch(/\nhint: /);
      expect(r.stderr).not.toContain('internal error');
    }
    expect(existsSync(join(locked, 'th'))).toBe(false);
    // Its own TILL_HOME with the database left root's by a till once run through sudo.
    const own = mkdirFor(owner, 'own');
    expect(run(own, ['host', 'init'], owner).status).toBe(0);
    chownSync(join(own, 'hosts-local.json'), 0, 0);
    const r = run(own, ['host', 'list'], owner);
    expect(r.status, r.stderr).toBe(4);
    expect(r.stderr).toContain(`error: cannot read ${join(own, 'hosts-local.json')}: permission denied`);
    expect(r.stderr).toContain('hint: it must belong to the user till runs as');
  });
});

describe('host inventory', () => {
  let h: string;
  beforeAll(async () => {
    h = home();
    await tillOk(h, ['host', 'init']);
  });

  it('adds, shows, lists and removes hosts, keeping the ssh config in step', async () => {
    await tillOk(h, ['host', 'add', 'web1', 'deploy@127.0.0.1:2222', '--group', 'web', '--tekton-path', '/srv/tekton']);
    await tillOk(h, ['host', 'add', '--port', '2200', 'v6', 'ops@[::1]']);
    const list = JSON.parse((await tillOk(h, ['host', 'list', '--json'])).stdout);
    expect(list.hosts.map((x: { name: string }) => x.name)).toEqual(['v6', 'web1']);
    const web1 = JSON.parse((await tillOk(h, ['host', 'show', 'web1', '--json'])).stdout);
    expect(web1).toMatchObject({
      name: 'web1',
      user: 'deploy',
      host: '127.0.0.1',
      port: 2222,
      status: 'untested',
      tekton_path: '/srv/tekton',
      groups: ['web'],
    });
    const table = (await tillOk(h, ['host', 'list'])).stdout;
    expect(table).toMatch(/^NAME\s+ADDRESS\s+STATUS/);
    expect(table).toMatch(/v6\s+ops@\[::1\]:2200\s+untested/);
    const config = readFileSync(`${h}/ssh/config`, 'utf8');
    expect(config).toContain('Host till-v6\n    HostName ::1\n    User ops\n    Port 2200');

    const dup = await till(h, ['host', 'add', 'web1', 'x@y']);
    expect(dup.code).toBe(2);
    expect(dup.stderr).toContain('already exists');

    await tillOk(h, ['host', 'remove', 'web1']);
    expect(readFileSync(`${h}/ssh/config`, 'utf8')).not.toContain('till-web1');
    const groups = JSON.parse((await tillOk(h, ['host', 'group', 'list', '--json'])).stdout);
    expect(groups.groups.web).toEqual([]);
    const gone = await till(h, ['host', 'show', 'web1']);
    expect(gone.code).toBe(2);
  });

  it('20 concurrent `host add` processes on one database lose nothing', async () => {
    const h2 = home();
    await tillOk(h2, ['host', 'init']);
    const runs = await Promise.all(
      Array.from({ length: 20 }, (_, i) => till(h2, ['host', 'add', `c${i}`, `u@127.9.0.${i + 1}`])),
    );
    expect(runs.map((r) => r.code)).toEqual(Array(20).fill(0));
    const db = JSON.parse(readFileSync(`${h2}/hosts-local.json`, 'utf8'));
    expect(Object.keys(db.hosts).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `c${i}`).sort());
    const config = readFileSync(`${h2}/ssh/config`, 'utf8');
    for (let i = 0; i < 20; i++) expect(config).toContain(`Host till-c${i}\n`);
  });

  it.each([
    ['newline in the host', ['host', 'add', 'evil', 'u@a\nProxyCommand touch /tmp/till-canary-1']],
    ['shell in the name', ['host', 'add', 'x;y', 'u@h']],
    ['space in the user', ['host', 'add', 'x', 'u v@h']],
    ['option injection in the host', ['host', 'add', 'x', 'u@-oProxyCommand=touch /tmp/till-canary-2']],
    ['bad port', ['host', 'add', 'x', 'u@h:99999']],
    ['bad --port', ['host', 'add', 'x', 'u@h', '--port', '22;id']],
    ['quote in tekton path', ['host', 'add', 'x', 'u@h', '--tekton-path', "/srv/'x"]],
    ['traversal in tekton path', ['host', 'add', 'x', 'u@h', '--tekton-path', '/srv/../etc']],
    ['the root as tekton path', ['host', 'add', 'x', 'u@h', '--tekton-path', '/']],
    ['the home as tekton path', ['host', 'add', 'x', 'u@h', '--tekton-path', '~/']],
    ['~/.ssh as tekton path', ['host', 'add', 'x', 'u@h', '--tekton-path', '~/.ssh']],
    ['a folder in ~/.till as tekton path', ['host', 'add', 'x', 'u@h', '--tekton-path', '~/.till/bin']],
    ['an empty segment in the tekton path', ['host', 'add', 'x', 'u@h', '--tekton-path', '~/a//b']],
    ['glob in the group', ['host', 'add', 'x', 'u@h', '--group', 'web*']],
    ['unknown jump host', ['host', 'add', 'x', 'u@h', '--jump', 'nowhere']],
    ['IPv6 zone id', ['host', 'add', 'zz', 'u@[fe80::1%eth0]']],
    ['IPv6 zone id with a port', ['host', 'add', 'zz', 'u@[fe80::1%eth0]:22']],
  ])('refuses %s with exit 2, database and config byte-identical', async (_why, args) => {
    const db = readFileSync(`${h}/hosts-local.json`);
    const config = readFileSync(`${h}/ssh/config`);
    const r = await till(h, args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: /);
    expect(readFileSync(`${h}/hosts-local.json`).equals(db)).toBe(true);
    expect(readFileSync(`${h}/ssh/config`).equals(config)).toBe(true);
    expect(existsSync('/tmp/till-canary-1') || existsSync('/tmp/till-canary-2')).toBe(false);
  });

  it('treats names like constructor and toString as plain names, on every read', async () => {
    const h3 = home();
    await tillOk(h3, ['host', 'init']);
    await tillOk(h3, ['host', 'add', 'constructor', 'u@127.0.0.9']);
    // Later commands read the database the first one wrote (the sealed fast path).
    for (const args of [
      ['host', 'show', 'toString'],
      ['host', 'remove', 'valueOf'],
      ['host', 'test', '--group', 'toString'],
      ['host', 'group', 'add', 'constructor', 'constructor'],
    ]) {
      const r = await till(h3, args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^error: no such (host|group)/);
    }
    await tillOk(h3, ['host', 'group', 'create', 'g', 'constructor']);
    const shown = JSON.parse((await tillOk(h3, ['host', 'show', 'constructor', '--json'])).stdout);
    expect(shown).toMatchObject({ name: 'constructor', host: '127.0.0.9', groups: ['g'] });
  });

  it('pubkey and remove answer --json', async () => {
    const pub = JSON.parse((await tillOk(h, ['host', 'pubkey', '--json'])).stdout);
    expect(pub.publicKey).toBe(readFileSync(`${h}/ssh/till_federation_ed25519.pub`, 'utf8').trim());
    expect(pub.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(pub.file).toBe(`${h}/ssh/till_federation_ed25519.pub`);
    await tillOk(h, ['host', 'add', 'gone', 'u@127.0.0.77']);
    const removed = await tillOk(h, ['host', 'remove', 'gone', '--json']);
    expect(JSON.parse(removed.stdout)).toEqual({ removed: 'gone', cleanedRemote: false });
    expect(readFileSync(`${h}/hosts-local.json`, 'utf8')).not.toContain('"gone"');
  });

  it('a target that matches nothing is an error, not a no-op', async () => {
    const r = await till(h, ['host', 'test', 'nomatch-*']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no host matches "nomatch-*"');
  });
});

describe('a corrupt database', () => {
  it('stops every command that reads it, names the file, and leaves it byte-identical', async () => {
    const h = home();
    await tillOk(h, ['host', 'init']);
    const corrupt = '{"hosts": {"a": {"user": "u", "host": "h", "port": "twenty-two"';
    writeFileSync(`${h}/hosts-local.json`, corrupt);
    for (const args of [
      ['host', 'list'],
      ['host', 'show', 'a'],
      ['host', 'add', 'b', 'u@h'],
      ['host', 'remove', 'a'],
      ['host', 'test', '--all'],
      ['host', 'exec', '--all', '--', 'true'],
      ['host', 'group', 'list'],
      ['host', 'group', 'create', 'g'],
      ['host', 'init'],
    ]) {
      const r = await till(h, args);
      expect(r.code, args.join(' ')).toBe(4);
      expect(r.stderr).toContain(`${h}/hosts-local.json is not valid JSON`);
      expect(readFileSync(`${h}/hosts-local.json`, 'utf8')).toBe(corrupt);
    }
  });

  it('a schema-invalid database (valid JSON) stops them too', async () => {
    const h = home();
    await tillOk(h, ['host', 'init']);
    const invalid =
      '{"hosts": {"a": {"user": "u", "host": "h", "port": "twenty-two", "status": "untested", "added": "2025-01-05T10:00:00Z", "tekton_path": "/x", "installations": []}}}\n';
    writeFileSync(`${h}/hosts-local.json`, invalid);
    const config = readFileSync(`${h}/ssh/config`, 'utf8');
    for (const args of [
      ['host', 'list'],
      ['host', 'show', 'a'],
      ['host', 'add', 'b', 'u@h'],
      ['host', 'remove', 'a'],
      ['host', 'test', '--all'],
      ['host', 'exec', '--all', '--', 'true'],
      ['host', 'group', 'list'],
      ['host', 'group', 'create', 'g'],
      ['host', 'init'],
      ['status'],
      ['metrics'],
      ['schedule', 'run'],
      ['sync'],
    ]) {
      const r = await till(h, args);
      expect(r.code, args.join(' ')).toBe(4);
      expect(r.stderr, args.join(' ')).toContain(`${h}/hosts-local.json does not match its schema at hosts.a.port`);
      expect(readFileSync(`${h}/hosts-local.json`, 'utf8')).toBe(invalid);
      expect(readFileSync(`${h}/ssh/config`, 'utf8')).toBe(config);
    }
  });

  it.each([
    ['a host', '{"hosts": {"__proto__": null}}\n', 'at hosts'],
    ['a group', '{"hosts": {}, "groups": {"__proto__": "web"}}\n', 'at groups'],
  ])(
    'a "__proto__" key for %s holding no entry: exit 4 naming the file, not an internal error',
    async (_, text, where) => {
      const h = home();
      await tillOk(h, ['host', 'init']);
      writeFileSync(`${h}/hosts-local.json`, text);
      for (const args of [
        ['host', 'list'],
        ['host', 'add', 'b', 'u@127.0.0.9'],
      ]) {
        const r = await till(h, args);
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(4);
        expect(r.stderr).toContain(
          `${h}/hosts-local.json does not match its schema ${where}: "__proto__" is not a valid name`,
        );
        expect(readFileSync(`${h}/hosts-local.json`, 'utf8')).toBe(text);
      }
    },
  );
});

describe('a corrupt schedule.json or installations.json', () => {
  const readers: Record<string, string[][]> = {
    'schedule.json': [
      ['host', 'init'],
      ['schedule', 'show'],
      ['schedule', 'set', '--daily-at', '03:00'],
      ['schedule', 'run'],
      ['sync'],
      ['status'],
      ['metrics'],
      ['watch', '--status'],
    ],
    'installations.json': [
      ['installation', 'list'],
      ['installation', 'add', '.'],
      ['installation', 'remove', 'x'],
      ['installation', 'default', 'x'],
      ['sync'],
    ],
  };
  it.each([
    ['schedule.json', 'invalid JSON', '{"sync": ', 'is not valid JSON'],
    ['schedule.json', 'schema-invalid', '{"sync": 5}\n', 'does not match its schema at sync'],
    ['installations.json', 'invalid JSON', '{"inst', 'is not valid JSON'],
    ['installations.json', 'schema-invalid', '{"installations": 5}\n', 'does not match its schema at installations'],
  ])(
    '%s (%s) stops every command that reads it, naming the file, byte-identical',
    async (file, _why, text, message) => {
      const h = home();
      await tillOk(h, ['host', 'init']);
      writeFileSync(`${h}/${file}`, text);
      for (const args of readers[file]!) {
        const r = await till(
          h,
          args.map((a) => (a === '.' ? h : a)),
        );
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(4);
        expect(r.stderr, args.join(' ')).toContain(`${h}/${file} ${message}`);
        expect(readFileSync(`${h}/${file}`, 'utf8')).toBe(text);
      }
    },
  );
});

/** The options ssh would use for an alias of till's config. */
function sshG(h: string, alias: string): Record<string, string> {
  const out = execFileSync('ssh', ['-G', '-F', `${h}/ssh/config`, alias], { encoding: 'utf8' });
  return Object.fromEntries(
    out
      .split('\n')
      .filter((l) => l.includes(' '))
      .map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)]),
  );
}

describe('ssh/config follows a hand-edited database', () => {
  it("the seed's file copied in: the next command that reads the database rebuilds the config", async () => {
    const h = home();
    await tillOk(h, ['host', 'init']);
    copyFileSync('test/fixtures/seed-hosts-local.json', `${h}/hosts-local.json`);
    await tillOk(h, ['host', 'list']);
    const g = sshG(h, 'till-production');
    expect(g.hostname).toBe('127.0.20.1');
    expect(g.user).toBe('deploy');
    expect(g.port).toBe('22');
  });

  describe('with a real lab host', () => {
    let h: string;
    let lab: Lab;
    beforeAll(async () => {
      ({ home: h } = tempHome());
      await tillOk(h, ['host', 'init']);
      lab = await startLab(1, { authorizedKey: readFileSync(`${h}/ssh/till_federation_ed25519.pub`, 'utf8') });
      await tillOk(h, ['host', 'add', 'h0', lab.hosts[0]!.spec]);
    }, 60_000);
    afterAll(async () => {
      await closeMasters(h);
      lab?.stop();
    });

    it('a port changed by hand is the port `host test` connects to', async () => {
      await tillOk(h, ['host', 'test', 'h0']);
      const db = JSON.parse(readFileSync(`${h}/hosts-local.json`, 'utf8'));
      // Port 1: nothing listens there, on any loopback address.
      db.hosts.h0.port = 1;
      writeFileSync(`${h}/hosts-local.json`, `${JSON.stringify(db, null, 2)}\n`);
      const r = await till(h, ['host', 'test', 'h0']);
      expect(r.code, r.stdout + r.stderr).toBe(1);
      expect(r.stdout + r.stderr).toMatch(/connection refused/i);
      const shown = JSON.parse((await tillOk(h, ['host', 'show', 'h0', '--json'])).stdout);
      expect(shown).toMatchObject({ port: 1, failures: 1 });
      expect(shown.last_error).toMatch(/connection refused/i);
      expect(sshG(h, 'till-h0').port).toBe('1');
    }, 60_000);
  });
});

describe('the CLI surface', () => {
  it('prints the version alone', async () => {
    const r = await tillOk(home(), ['--version']);
    expect(r.stdout).toBe(`${JSON.parse(readFileSync('package.json', 'utf8')).version}\n`);
  });

  it('ends quietly with its own exit code when the reader of its output has gone (till … | head)', async () => {
    const h = home();
    await tillOk(h, ['host', 'init']);
    for (let i = 0; i < 3; i++) await tillOk(h, ['host', 'add', `h${i}`, `u@127.0.0.${i + 2}`]);
    const db = readFileSync(`${h}/hosts-local.json`, 'utf8');
    // The read end is closed before till has loaded, so its first write gets EPIPE.
    const closed = { onSpawn: (c: import('node:child_process').ChildProcess) => c.stdout!.destroy() };
    for (const args of [
      ['host', 'list', '--json'],
      ['host', 'list'],
      ['schedule', 'show'],
    ]) {
      const r = await till(h, args, closed);
      expect(r.stderr, args.join(' ')).not.toMatch(/EPIPE|internal error|Unhandled/);
      expect(r.code, args.join(' ')).toBe(0);
    }
    expect(readFileSync(`${h}/hosts-local.json`, 'utf8')).toBe(db);
  });

  it('reports an unknown option as a usage error', async () => {
    const r = await till(home(), ['host', 'list', '--frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown option '--frobnicate'");
  });
});
