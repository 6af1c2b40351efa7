import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/core/errors.js';
import { deployPathProblem } from '../../src/protocol/args.js';
import {
  formatHostSpec,
  isValidAddress,
  parseHostSpec,
  remotePathProblem,
  validateAddress,
  validateName,
  validatePort,
  validateTektonPath,
  validateUser,
} from '../../src/core/validate.js';

/** The UsageError `f` throws: its message and hint, for tests that read them in full. */
function refusal(f: () => unknown): { message: string; hint: string | undefined } {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return { message: (err as UsageError).message, hint: (err as UsageError).hint };
  }
  throw new Error('not refused');
}

describe('parseHostSpec', () => {
  it.each([
    ['deploy@prod.example.com', { user: 'deploy', host: 'prod.example.com' }],
    ['deploy@prod.example.com:2222', { user: 'deploy', host: 'prod.example.com', port: 2222 }],
    ['root@127.0.0.2:2201', { user: 'root', host: '127.0.0.2', port: 2201 }],
    ['deploy@[2001:db8::5]:2222', { user: 'deploy', host: '2001:db8::5', port: 2222 }],
    ['deploy@[::1]', { user: 'deploy', host: '::1' }],
    ['a.b-c_d@1host', { user: 'a.b-c_d', host: '1host' }],
  ])('accepts %s', (spec, expected) => {
    expect(parseHostSpec(spec)).toEqual(expected);
  });

  it.each([
    ['no user', 'prod.example.com'],
    ['empty user', '@host'],
    ['newline injection', 'u@a\nProxyCommand touch /tmp/x'],
    ['space', 'u@a b'],
    ['leading dash host', 'u@-oProxyCommand=x'],
    ['leading dash user', '-oProxyCommand=x@host'],
    ['quote', 'u@"host"'],
    ['bare IPv6', 'u@2001:db8::5'],
    ['unclosed bracket', 'u@[::1'],
    ['bracketed non-v6', 'u@[host]:22'],
    ['port 0', 'u@host:0'],
    ['port too big', 'u@host:65536'],
    ['port not a number', 'u@host:ssh'],
    ['shell in host', 'u@$(touch x)'],
    ['backtick', 'u@`id`'],
    ['unicode look-alike', 'u@exаmple.com'],
    ['trailing colon', 'u@host:'],
    ['bracketed zone id', 'u@[fe80::1%eth0]'],
    ['bracketed zone id with port', 'u@[fe80::1%25eth0]:22'],
    ['bracketed ssh token', 'u@[::1%C]'],
    ['bracketed newline', 'u@[::1\n]'],
    ['newline after the user', 'deploy\n    ProxyCommand touch /tmp/x@127.0.0.1'],
    ['newline at the end of the user', 'deploy\n@127.0.0.1'],
    ['octet over 255', 'u@256.1.1.1'],
    ['last octet over 255', 'u@1.2.3.999'],
    ['octet 300 in the middle', 'u@10.300.0.1'],
    ['text after ]', 'u@[::1]x'],
  ])('refuses %s', (_why, spec) => {
    expect(() => parseHostSpec(spec)).toThrow(UsageError);
  });

  it('names what is wrong, with a hint', () => {
    expect(refusal(() => parseHostSpec('prod.example.com'))).toEqual({
      message: 'invalid host "prod.example.com": expected user@host[:port]',
      hint: 'for example deploy@web1.example.com:2222 or deploy@[2001:db8::5]:2222',
    });
    expect(refusal(() => parseHostSpec('@host')).message).toBe('invalid host "@host": expected user@host[:port]');
    expect(refusal(() => parseHostSpec('u@[::1')).message).toBe('invalid host "u@[::1": unclosed [ in IPv6 literal');
    expect(refusal(() => parseHostSpec('u@[::1]x')).message).toBe('invalid host "u@[::1]x": unexpected text after ]');
    expect(refusal(() => parseHostSpec('u@[host]:22')).message).toBe(
      'invalid host "u@[host]:22": "host" is not an IPv6 address',
    );
    expect(refusal(() => parseHostSpec('u@[fe80::1%eth0]')).hint).toBe(
      'use a global or unique-local IPv6 address, or a DNS name',
    );
    expect(refusal(() => parseHostSpec('u@2001:db8::5'))).toEqual({
      message: 'invalid host "u@2001:db8::5": write an IPv6 address in brackets',
      hint: 'for example deploy@[2001:db8::5]:2222',
    });
    // Two colons anywhere, even the first at index 1: brackets, whatever follows.
    for (const v6 of ['u@a::1', 'u@::1', 'u@h:22:'])
      expect(refusal(() => parseHostSpec(v6)).message).toBe(
        `invalid host ${JSON.stringify(v6)}: write an IPv6 address in brackets`,
      );
    expect(refusal(() => parseHostSpec('u@-oProxyCommand=x')).message).toBe(
      'invalid host "u@-oProxyCommand=x": the address must start with a letter, a digit or [',
    );
    expect(refusal(() => parseHostSpec('u@1.2.3.999'))).toEqual({
      message: 'invalid host address "1.2.3.999"',
      hint: 'use a DNS name (letters, digits, dots, inner hyphens), an IPv4 address, or an IPv6 literal in brackets: user@[2001:db8::5]:2222',
    });
    expect(refusal(() => parseHostSpec('-o@h'))).toEqual({
      message: 'invalid user "-o"',
      hint: 'user names use only letters, digits, . _ - and do not start with - or .',
    });
  });

  it('an address is a DNS name, a dotted quad of octets, or IPv6 without a zone id', () => {
    // A name that only looks like a dotted quad (a label with a letter) is a DNS name.
    for (const ok of [
      'web1',
      'a.b-c.example',
      'example.com.',
      '10.0.0.1',
      '255.255.255.255',
      '::1',
      '2001:db8::5',
      '1.2.3.4x',
      'x1.2.3.4',
    ])
      expect(isValidAddress(ok), ok).toBe(true);
    for (const bad of ['256.1.1.1', '1.2.3.999', 'fe80::1%eth0', '::1%C', '-x', 'a_b', '', 'a..b'])
      expect(isValidAddress(bad), bad).toBe(false);
    // At most 253 characters in all (labels of at most 63).
    const label = 'a'.repeat(63);
    expect(isValidAddress([label, label, label, 'b'.repeat(61)].join('.'))).toBe(true);
    expect(isValidAddress([label, label, label, 'b'.repeat(62)].join('.'))).toBe(false);
    expect(isValidAddress(`${'a'.repeat(64)}.example`)).toBe(false);
    expect(validateAddress('web1')).toBe('web1');
    expect(() => validateAddress('fe80::1%eth0')).toThrow(UsageError);
  });

  it('says why a zone id is refused', () => {
    expect(() => parseHostSpec('u@[fe80::1%eth0]')).toThrow(/zone ids \("%eth0"\) are not supported/);
  });

  it('formats IPv6 back in brackets', () => {
    expect(formatHostSpec({ user: 'd', host: '2001:db8::5', port: 2222 })).toBe('d@[2001:db8::5]:2222');
    expect(formatHostSpec({ user: 'd', host: 'h', port: 22 })).toBe('d@h:22');
  });
});

describe('names', () => {
  it.each(['web1', 'web-1', 'a', 'db.prod_2', '9lives', 'x'.repeat(63)])('accepts %s', (n) => {
    expect(validateName(n)).toBe(n);
  });
  it.each([
    '',
    '-web',
    '.hidden',
    'x;y',
    'a b',
    'web*',
    'a?b',
    'a,b',
    '!x',
    'x'.repeat(64),
    'a\nb',
    'ünï',
    '../x',
    'a/b',
  ])('refuses %j', (n) => {
    expect(() => validateName(n)).toThrow(UsageError);
  });
});

describe('messages', () => {
  it('a refused name says which kind, what it was, and what names may be', () => {
    expect(refusal(() => validateName('a b'))).toEqual({
      message: 'invalid host name "a b"',
      hint: 'host names start with a letter or digit and use only A-Z a-z 0-9 . _ - (at most 63 characters)',
    });
    expect(refusal(() => validateName('-g', 'group')).message).toBe('invalid group name "-g"');
    expect(refusal(() => validateName('x\n', 'installation')).hint).toMatch(/^installation names start with/);
    expect(validateUser('deploy')).toBe('deploy');
  });

  it('a refused port or remote path says what it was and why', () => {
    expect(refusal(() => validatePort('22a'))).toEqual({
      message: 'invalid port "22a"',
      hint: 'a port is a whole number from 1 to 65535',
    });
    expect(refusal(() => validatePort('70000'))).toEqual({
      message: 'invalid port 70000',
      hint: 'a port is a whole number from 1 to 65535',
    });
    expect(refusal(() => validateTektonPath('/a b'))).toEqual({
      message: 'invalid tekton_path "/a b": it contains whitespace, quotes, control or shell characters',
      hint: 'use an absolute path or one starting with ~/, of letters, digits and / . _ - + @ , =, naming the folder till deploys into',
    });
    expect(refusal(() => validateTektonPath('x', '--tekton-path')).message).toBe(
      'invalid --tekton-path "x": it must be absolute or start with ~/',
    );
  });

  it('remotePathProblem gives one reason per rule, and a path of 1024 characters is still fine', () => {
    expect(remotePathProblem('')).toBe('it is empty');
    expect(remotePathProblem(`/${'a'.repeat(1023)}`)).toBeUndefined();
    expect(remotePathProblem(`/${'a'.repeat(1024)}`)).toBe('it is longer than 1024 characters');
    expect(remotePathProblem('a/b')).toBe('it must be absolute or start with ~/');
    expect(remotePathProblem('/a;b')).toBe('it contains whitespace, quotes, control or shell characters');
    expect(remotePathProblem('/a/~/b')).toBe('~ may only start the path');
    expect(remotePathProblem('/a/../b')).toBe('it contains a .. segment');
    expect(remotePathProblem('/a/-b')).toBe('a path segment starts with -');
    expect(remotePathProblem('~/-b')).toBe('a path segment starts with -');
    expect(remotePathProblem('/a-b/c-')).toBeUndefined();
  });
});

describe('ports and paths', () => {
  it('ports are 1-65535', () => {
    expect(validatePort('1')).toBe(1);
    expect(validatePort(65535)).toBe(65535);
    for (const bad of ['0', '65536', '-1', '22a', '', ' 22', '1e3'])
      expect(() => validatePort(bad)).toThrow(UsageError);
  });
  it('tekton paths are absolute or ~/ and plain; a trailing slash is dropped', () => {
    for (const ok of ['/srv/tekton', '~/projects/github/Tekton', '/a/b.c/d_e-f', '~/.sshx', '/home/u/app', '/root/app'])
      expect(validateTektonPath(ok)).toBe(ok);
    expect(validateTektonPath('~/app/')).toBe('~/app');
    expect(validateTektonPath('/srv/app//')).toBe('/srv/app');
    for (const bad of [
      'relative/x',
      '~user/x',
      '/a b',
      '/a/../etc',
      '/a/$(id)',
      '/a;b',
      '/a/-rf',
      "/a'b",
      '',
      '/a\nb',
      '/x/~/y',
    ]) {
      expect(() => validateTektonPath(bad)).toThrow(UsageError);
    }
  });

  it("a tekton path that a deploy would turn into a symlink to the owner's harm is refused, saying why", () => {
    // The root and the home (the scripts would stage into ~/.till), ~/.ssh (replaced by a
    // symlink: authorized_keys gone), ~/.till (the gate's own files), and spellings a
    // script would read differently from the gate (~/app/. puts .till inside the release).
    const why = (p: string) => refusal(() => validateTektonPath(p, '--tekton-path')).message;
    expect(why('/')).toBe('invalid --tekton-path "/": it is the root folder');
    expect(why('//')).toBe('invalid --tekton-path "//": it is the root folder');
    expect(why('~/')).toBe('invalid --tekton-path "~/": it is the home folder itself');
    expect(why('~//')).toBe('invalid --tekton-path "~//": it is the home folder itself');
    expect(why('~/.ssh')).toBe(
      'invalid --tekton-path "~/.ssh": it is ~/.ssh or lies inside it (a deploy replaces the folder with a symlink)',
    );
    expect(why('~/.ssh/keys')).toContain('it is ~/.ssh or lies inside it');
    expect(why('~/.till/')).toContain('it is ~/.till or lies inside it');
    expect(why('~/.till/bin')).toContain('it is ~/.till or lies inside it');
    expect(why('~/a//b')).toBe('invalid --tekton-path "~/a//b": write it without a trailing /, // or . segment');
    expect(why('~/a/./b')).toContain('write it without a trailing /, // or . segment');
    expect(why('~/a/.')).toContain('write it without a trailing /, // or . segment');
  });

  it('deployPathProblem with the home also knows the absolute spellings of the home, ~/.ssh and ~/.till', () => {
    expect(deployPathProblem('/home/u', '/home/u')).toBe('it is the home folder itself');
    expect(deployPathProblem('/home/u/.ssh', '/home/u')).toContain('it is ~/.ssh');
    expect(deployPathProblem('/home/u/.till/lib', '/home/u/')).toContain('it is ~/.till');
    expect(deployPathProblem('/home/u/app', '/home/u')).toBeUndefined();
    expect(deployPathProblem('/home/other', '/home/u')).toBeUndefined();
    // any .ssh or .till folder, however spelled, and without the home its usual spellings
    expect(deployPathProblem('/home/user2/.ssh', '/home/u')).toContain('it is a .ssh folder or lies inside one');
    expect(deployPathProblem('/home/alice/.ssh')).toContain('it is a .ssh folder or lies inside one');
    expect(deployPathProblem('/srv/x/.till/bin')).toContain('it is a .till folder or lies inside one');
    expect(deployPathProblem('~/x/.ssh')).toContain('it is a .ssh folder or lies inside one');
    expect(deployPathProblem('/home/alice')).toBe('it is a home folder');
    expect(deployPathProblem('/root')).toBe('it is a home folder');
    expect(deployPathProblem('/home/alice/app')).toBeUndefined();
    expect(deployPathProblem('~/app/')).toBe('write it without a trailing /, // or . segment');
  });
});
