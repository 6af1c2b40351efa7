import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expandAnsibleRange, parseAnsible } from '../../src/core/import/ansible.js';
import { detectFormat } from '../../src/core/import/detect.js';
import { applyImport, planImport, refusals, suggestName, type PlanOptions } from '../../src/core/import/plan.js';
import { ipv6Name, parsePssh } from '../../src/core/import/pssh.js';
import type { FoundInventory } from '../../src/core/import/source.js';
import { parseSshConfig, splitConfigWords } from '../../src/core/import/ssh-config.js';
import { emptyHostsFile, type HostsFile } from '../../src/core/state/hosts.js';
import { hostsFileSchema } from '../../src/core/state/hosts-schema.js';

const FIXTURES = 'test/fixtures/import';
const read = (path: string) => ({ path, text: readFileSync(join(FIXTURES, path), 'utf8') });
/** Include as ssh reads it, relative to the fixture's ~/.ssh. */
const includes = (pattern: string) => {
  const dir = join(FIXTURES, 'ssh', pattern.split('/')[0]!);
  const re = new RegExp(`^${pattern.split('/')[1]!.replace(/\./g, '\\.').replace(/\*/g, '.*')}$`);
  return readdirSync(dir)
    .filter((f) => re.test(f))
    .sort()
    .map((f) => ({ path: join(dir, f), text: readFileSync(join(dir, f), 'utf8') }));
};
const brief = (inv: FoundInventory) =>
  Object.fromEntries(
    inv.hosts.map((h) => [
      h.name,
      [h.user ?? '-', h.address, h.port ?? '-', h.jump ?? '-', h.groups.join(','), h.skip ?? ''].join(' '),
    ]),
  );

describe('ssh config', () => {
  const inv = parseSshConfig(read('ssh/config'), includes);

  it('takes every alias without wildcards, with the options ssh would apply (Include read in place, first value wins)', () => {
    expect(brief(inv)).toEqual({
      'db+replica': 'fallback 127.0.12.1 - -  ',
      'web-1': 'deploy 127.0.11.1 - -  ',
      'web-2': 'deploy 127.0.11.2 2202 -  ',
      bastion: 'ops 127.0.10.1 2222 -  ',
      inner: 'fallback 127.0.10.2 - bastion  ',
      app: 'fallback 127.0.10.3 - bastion,inner  ',
      legacy: 'fallback 127.0.10.4 - -  ',
      outside: 'fallback 127.0.10.5 - admin@127.0.50.1:2200  ',
      '127.0.10.6': 'fallback 127.0.10.6 - -  ',
    });
  });

  it('reports every option it does not carry, per host, and Match blocks', () => {
    const notes = Object.fromEntries(inv.hosts.map((h) => [h.name, h.notes]));
    expect(notes.app).toEqual([
      'IdentityFile ~/.ssh/id_app: not carried; till connects with its own key (authorize it: till host authorize <name>)',
      'ServerAliveInterval 30: not carried; till uses its own ssh settings',
    ]);
    expect(notes.legacy![0]).toMatch(/^ProxyCommand ssh -W %h:%p bastion: not carried/);
    expect(inv.notes).toEqual([`ssh/config:29: Match host *.internal is not evaluated; its options are left out`]);
  });

  it('negated patterns, quotes, Keyword=value, and options that say what till does anyway', () => {
    const file = {
      path: 'c',
      text: [
        '# till: groups=empty',
        'Host web-9 web-8',
        '  # till: groups=a,b tekton_path=/srv/t',
        'Host web-* !web-9',
        '  User "d e"',
        'Host *',
        '  Port=2200',
        '  IdentityFile /till/ssh/till_federation_ed25519',
      ].join('\n'),
    };
    const own = (k: string, args: string[]) => k === 'identityfile' && args[0]!.startsWith('/till/ssh/');
    const parsed = parseSshConfig(file, () => [], own);
    expect(brief(parsed)).toEqual({ 'web-9': '- web-9 2200 - a,b ', 'web-8': 'd e web-8 2200 - a,b ' });
    expect(parsed.hosts[0]!.tektonPath).toBe('/srv/t');
    expect(parsed.hosts.flatMap((h) => h.notes)).toEqual([]);
    expect(parsed.groups).toEqual(['empty', 'a', 'b']);
    expect(splitConfigWords(`a "b c" 'd'`)).toEqual(['a', 'b c', 'd']);
  });

  it('stops an Include loop at ssh depth limit', () => {
    const file = { path: '/x', text: 'Include /x\nHost h\n  HostName 127.0.0.9' };
    const parsed = parseSshConfig(file, () => [file]);
    expect(parsed.hosts.map((h) => h.name)).toEqual(['h']);
    expect(parsed.notes.some((n) => /nested more than 16 deep/.test(n))).toBe(true);
  });
});

describe('Ansible', () => {
  it.each([
    ['web[01:03]', ['web01', 'web02', 'web03']],
    ['db-[a:c]', ['db-a', 'db-b', 'db-c']],
    ['n[0:10:5]', ['n0', 'n5', 'n10']],
    ['r[1:2]-[a:b]', ['r1-a', 'r1-b', 'r2-a', 'r2-b']],
    ['plain', ['plain']],
  ])('range %s', (pattern, names) => expect(expandAnsibleRange(pattern)).toEqual(names));

  it('INI: ungrouped hosts, ranges, host:port, group vars by depth, children, a non-ssh host skipped', () => {
    const inv = parseAnsible(read('ansible/hosts.ini'));
    expect(brief(inv)).toEqual({
      localhost: '- localhost - -  ansible_connection=local: not reached over ssh',
      jumpbox: 'ops 127.0.20.1 - -  ',
      '127.0.21.1': 'deploy 127.0.21.1 2201 - prod,web ',
      '127.0.21.2': 'deploy 127.0.21.2 2201 - prod,web ',
      '127.0.21.3': 'deploy 127.0.21.3 2201 - prod,web ',
      '127.0.21.10': 'deploy 127.0.21.10 2201 - prod,web ',
      '127.0.21.12': 'deploy 127.0.21.12 2201 - prod,web ',
      '127.0.21.14': 'deploy 127.0.21.14 2201 - prod,web ',
      dba: 'postgres 127.0.22.1 - - prod,db ',
      dbb: 'postgres 127.0.22.1 - - prod,db ',
      'db-main': 'postgres 127.0.22.9 2222 - prod,db ',
    });
    expect(inv.groups).toEqual(['web', 'db', 'prod', 'empty']);
    expect(inv.hosts.find((h) => h.name === 'dba')!.notes).toEqual([
      'ansible_python_interpreter=/usr/bin/python3: not carried',
      'ansible_ssh_private_key_file=~/.ssh/db_key: not carried; till connects with its own key',
    ]);
    expect(inv.hosts.find((h) => h.name === '127.0.21.1')!.notes).toContain(
      '1 variable not carried (till keeps no variables): http_port',
    );
  });

  it('YAML: all vars, nested children, a host in two groups (the deeper group wins)', () => {
    const inv = parseAnsible(read('ansible/hosts.yml'));
    expect(brief(inv)).toEqual({
      solo: 'admin 127.0.30.1 - -  ',
      '127.0.31.1': 'www 127.0.31.1 2200 - prod,web ',
      '127.0.31.2': 'www 127.0.31.2 2200 - prod,staging,web ',
      db1: 'admin 127.0.32.1 5022 - prod,db ',
      stage1: 'admin 127.0.33.1 - - staging ',
    });
    expect(inv.groups).toEqual(['prod', 'web', 'db', 'staging']);
  });

  it('YAML: a host key with :port is the host with that port, as in INI (its own ansible_port still wins)', () => {
    const inv = parseAnsible({
      path: 'x.yml',
      text: 'all:\n  hosts:\n    "h3:2222":\n    web[1:2]:2200:\n      ansible_host: 127.0.0.7\n    h4:2201:\n      ansible_port: 2202\n',
    });
    expect(brief(inv)).toEqual({
      h3: '- h3 2222 -  ',
      web1: '- 127.0.0.7 2200 -  ',
      web2: '- 127.0.0.7 2200 -  ',
      h4: '- h4 2202 -  ',
    });
  });

  it('a host-level ansible_ssh_* beats a group-level ansible_user/port/host (host vars beat group vars, whatever the alias)', () => {
    const text = (hostLine: string) =>
      `[web]\n${hostLine}\n[web:vars]\nansible_user=group\nansible_port=2200\nansible_host=127.0.0.1\n`;
    const ini = parseAnsible({
      path: 'x.ini',
      text: text('w1 ansible_ssh_user=legacy ansible_ssh_port=2201 ansible_ssh_host=127.0.0.2'),
    });
    expect(brief(ini)).toEqual({ w1: 'legacy 127.0.0.2 2201 - web ' });
    const yaml = parseAnsible({
      path: 'x.yml',
      text: 'all:\n  vars:\n    ansible_ssh_user: top\n  children:\n    web:\n      vars:\n        ansible_user: group\n      hosts:\n        w1:\n          ansible_ssh_port: 2201\n        w2:\n',
    });
    // As in Ansible (checked with `ansible -vvv` in test/integration/ansible-oracle.test.ts):
    // the merged variables have both names, and ansible_ssh_user, read last, wins.
    expect(brief(yaml)).toEqual({ w1: 'top w1 2201 - web ', w2: 'top w2 - - web ' });
  });

  it("a group's ansible_ssh_* beats the host's ansible_user/port/host, as Ansible's ssh connection reads the ssh_ form last", () => {
    const ini = parseAnsible({
      path: 'x.ini',
      text: '[web]\nw1 ansible_user=own ansible_port=2201 ansible_host=127.0.0.2\nw2 ansible_user=own2\n[web:vars]\nansible_ssh_user=legacy\nansible_ssh_port=2200\nansible_ssh_host=127.0.0.1\n',
    });
    expect(brief(ini)).toEqual({ w1: 'legacy 127.0.0.1 2200 - web ', w2: 'legacy 127.0.0.1 2200 - web ' });
    // said, since it surprises
    expect(ini.hosts[0]!.notes).toEqual([
      'ansible_ssh_host=127.0.0.1 wins over ansible_host=127.0.0.2 (as in Ansible)',
      'ansible_ssh_port=2200 wins over ansible_port=2201 (as in Ansible)',
      'ansible_ssh_user=legacy wins over ansible_user=own (as in Ansible)',
    ]);
  });

  it("till's own variables (an export) win over ansible_host", () => {
    const inv = parseAnsible({
      path: 'x.yml',
      text: 'all:\n  hosts:\n    a:\n      ansible_host: till-a\n      till_host: 127.0.0.5\n      till_jump: b\n      till_tekton_path: /srv/x\n    b:\n      ansible_host: 127.0.0.6\n',
    });
    expect(brief(inv)).toEqual({ a: '- 127.0.0.5 - b  ', b: '- 127.0.0.6 - -  ' });
    expect(inv.hosts[0]!.tektonPath).toBe('/srv/x');
  });
});

describe('pssh', () => {
  it('[user@]host[:port] per line, comments', () => {
    expect(parsePssh(read('pssh-hosts')).hosts.map((h) => [h.name, h.user, h.port])).toEqual([
      ['127.0.40.1', undefined, undefined],
      ['127.0.40.2', 'deploy', undefined],
      ['127.0.40.3', 'deploy', '2222'],
      ['127.0.40.1', undefined, '2200'],
    ]);
  });

  it('an IPv6 address is the address; the name is made from it, `:` as `-`, and said so', () => {
    const found = parsePssh({ path: 'h', text: '[::1]:2222\nu@[0:0:0:0:0:0:0:1]\n' }).hosts;
    expect(found.map((h) => [h.name, h.address, h.user, h.port])).toEqual([
      ['0--1', '::1', undefined, '2222'],
      ['0-0-0-0-0-0-0-1', '0:0:0:0:0:0:0:1', 'u', undefined],
    ]);
    expect(found[0]!.notes).toEqual([
      'named after its IPv6 address ::1 (till host edit --rename gives it another name)',
    ]);
    expect(['::1', 'fe80::1', '2001:db8::', 'fe80::1%eth0'].map(ipv6Name)).toEqual([
      '0--1',
      'fe80--1',
      '2001-db8--0',
      'fe80--1-eth0',
    ]);
  });
});

describe('format detection', () => {
  it.each([
    ['ssh/config', 'ssh-config'],
    ['ansible/hosts.ini', 'ansible'],
    ['ansible/hosts.yml', 'ansible'],
    ['pssh-hosts', 'pssh'],
  ])('%s is %s', (file, format) => expect(detectFormat(read(file).text)).toBe(format));

  it.each([
    ['web1 ansible_host=127.0.0.1', 'ansible'],
    ['web[01:03]\n', 'ansible'],
    ['127.0.0.1\nu@127.0.0.2:22\n', 'pssh'],
    ['Host=a\n', 'ssh-config'],
    ['# only includes\nInclude ~/.ssh/conf.d/*.conf\ninclude "other config"\n', 'ssh-config'],
    ['Include=conf.d/*\n', 'ssh-config'],
    ['include ansible_host=127.0.0.1\n', 'ansible'],
    ['', undefined],
    ['{{ not an inventory', undefined],
  ])('%j is %s', (text, format) => expect(detectFormat(text)).toBe(format));
});

describe('planImport', () => {
  const opts: PlanOptions = { replace: false, groups: [], defaultUser: 'me', now: new Date('2026-01-01T00:00:00Z') };
  const found = (hosts: Array<Partial<FoundInventory['hosts'][number]> & { name: string }>, groups: string[] = []) =>
    ({
      format: 'pssh',
      hosts: hosts.map((h) => ({ address: '127.0.0.9', groups: [], notes: [], where: 'f:1', ...h })),
      groups,
      notes: [],
    }) as FoundInventory;
  const db = (): HostsFile => {
    const d = emptyHostsFile();
    d.hosts.old = {
      user: 'u',
      host: '127.0.0.2',
      port: 22,
      status: 'deployed',
      added: '2025-01-01T00:00:00.000Z',
      tekton_path: '~/t',
      installations: [],
      failures: 2,
    };
    return d;
  };

  it('refuses, with the reason and a suggested name, every value host add would refuse', () => {
    const plan = planImport(
      db(),
      found([
        { name: 'db+replica' },
        { name: 'ok1', user: 'bad user' },
        { name: 'ok2', address: '-oProxyCommand=x' },
        { name: 'ok3', port: '70000' },
        { name: 'ok4', address: 'a\nProxyCommand evil' },
        { name: 'ok5', tektonPath: '../etc' },
        { name: 'ok6' },
        { name: 'ok6', port: '2200' },
        { name: 'x'.repeat(70) },
      ]),
      opts,
    );
    expect(plan.hosts.map((h) => [h.name.slice(0, 10), h.action, h.suggestion ?? null])).toEqual([
      ['db+replica', 'refused', 'db-replica'],
      ['ok1', 'refused', null],
      ['ok2', 'refused', null],
      ['ok3', 'refused', null],
      ['ok4', 'refused', null],
      ['ok5', 'refused', null],
      ['ok6', 'add', null],
      ['ok6', 'refused', 'ok6-2'],
      ['xxxxxxxxxx', 'refused', 'x'.repeat(63)],
    ]);
    expect(plan.hosts[1]!.reason).toMatch(/invalid user "bad user"/);
    expect(plan.hosts[3]!.reason).toMatch(/invalid port 70000/);
    expect(plan.hosts[7]!.reason).toMatch(/used twice in the file/);
    expect(refusals(plan)).toBe(8);
  });

  it('skips an existing host with other values unless --replace; --replace keeps its lifecycle and history', () => {
    const file = found([{ name: 'old', address: '127.0.0.3', port: '2200', user: 'u' }, { name: 'new' }]);
    const skip = planImport(db(), file, opts);
    expect(skip.hosts.map((h) => h.action)).toEqual(['skip', 'add']);
    expect(skip.hosts[0]!.reason).toMatch(/host 127.0.0.2 → 127.0.0.3, port 22 → 2200.*--replace/);
    const d = db();
    const replace = planImport(d, file, { ...opts, replace: true });
    expect(replace.hosts[0]).toMatchObject({
      action: 'change',
      changes: ['host 127.0.0.2 → 127.0.0.3', 'port 22 → 2200'],
    });
    applyImport(d, replace);
    expect(d.hosts.old).toMatchObject({ host: '127.0.0.3', port: 2200, status: 'deployed', failures: 0, user: 'u' });
    expect(hostsFileSchema.safeParse(d).success).toBe(true);
    const same = planImport(d, file, opts);
    expect(same.hosts.map((h) => h.action)).toEqual(['unchanged', 'unchanged']);
  });

  it('resolves ProxyJump to a till host by name or address, a chain when it matches, and refuses a loop', () => {
    const plan = planImport(
      db(),
      found([
        { name: 'a', jump: 'old' },
        { name: 'b', jump: 'u@127.0.0.2' },
        { name: 'c', jump: 'a', address: '127.0.0.10' },
        { name: 'd', jump: 'old,a' },
        { name: 'e', jump: 'b,a' },
        { name: 'f', jump: 'nowhere.example' },
        { name: 'g', jump: 'h' },
        { name: 'h', jump: 'g' },
      ]),
      opts,
    );
    const byName = Object.fromEntries(plan.hosts.map((h) => [h.name, h]));
    expect(byName.a!.entry!.jump).toBe('old');
    expect(byName.b!.entry!.jump).toBe('old');
    expect(byName.c!.entry!.jump).toBe('a');
    expect(byName.d!.entry!.jump).toBe('a');
    expect(byName.d!.notes).toEqual([]);
    expect(byName.e!.entry!.jump).toBe('a');
    expect(byName.e!.notes[0]).toMatch(/only a carried/);
    expect(byName.f!.entry!.jump).toBeUndefined();
    expect(byName.f!.notes[0]).toMatch(/ProxyJump nowhere.example: not carried/);
    expect([byName.g!.action, byName.h!.action]).toEqual(['refused', 'refused']);
    expect(byName.g!.reason).toBe('ProxyJump cycle: g → h → g');
  });

  it('groups: from the file (empty ones too) and --group; refused group names with a suggestion', () => {
    const d = db();
    d.groups!.web = ['old'];
    const plan = planImport(d, found([{ name: 'n1', groups: ['web', 'bad group'] }], ['web', 'empty', 'bad group']), {
      ...opts,
      groups: ['fleet'],
    });
    expect(plan.groups.map((g) => [g.name, g.action, g.hosts, g.suggestion ?? null])).toEqual([
      ['web', 'add', ['n1'], null],
      ['empty', 'create', [], null],
      ['bad group', 'refused', ['n1'], 'bad-group'],
      ['fleet', 'create', ['n1'], null],
    ]);
  });

  it('suggests names till can use', () => {
    expect(suggestName('-web@1', () => false)).toBe('web-1');
    expect(suggestName('::1', () => false)).toBe('1');
    expect(suggestName('@@', () => false)).toBe('host');
    expect(suggestName('web', (n) => n === 'web' || n === 'web-2')).toBe('web-3');
  });
});
