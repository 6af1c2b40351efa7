import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/core/errors.js';
import {
  formatHostSpec,
  parseHostSpec,
  validateName,
  validatePort,
  validateRemotePath,
} from '../../src/core/validate.js';

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
  ])('refuses %s', (_why, spec) => {
    expect(() => parseHostSpec(spec)).toThrow(UsageError);
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

describe('ports and paths', () => {
  it('ports are 1-65535', () => {
    expect(validatePort('1')).toBe(1);
    expect(validatePort(65535)).toBe(65535);
    for (const bad of ['0', '65536', '-1', '22a', '', ' 22', '1e3'])
      expect(() => validatePort(bad)).toThrow(UsageError);
  });
  it('remote paths are absolute or ~/ and plain', () => {
    for (const ok of ['/srv/tekton', '~/projects/github/Tekton', '/a/b.c/d_e-f'])
      expect(validateRemotePath(ok)).toBe(ok);
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
      expect(() => validateRemotePath(bad)).toThrow(UsageError);
    }
  });
});
