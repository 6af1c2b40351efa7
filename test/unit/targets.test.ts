import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/core/errors.js';
import { globToRegExp, resolveTargets } from '../../src/core/targets.js';
import type { HostEntry, HostsFile } from '../../src/core/state/hosts.js';

function db(names: string[], groups: Record<string, string[]> = {}): HostsFile {
  const hosts: Record<string, HostEntry> = {};
  for (const n of names)
    hosts[n] = {
      user: 'u',
      host: 'h.example',
      port: 22,
      status: 'untested',
      added: '2024-01-01T00:00:00.000Z',
      tekton_path: '~/t',
      installations: [],
    };
  return { hosts, groups };
}
const names = ['web-1', 'web-2', 'web-10', 'db-1', 'db-2', 'db-10', 'api', 'batch', 'cache'];
const sel = (patterns: string[], groups: string[] = [], all = false) => ({ patterns, groups, all });
const pick = (d: HostsFile, s: ReturnType<typeof sel>) => resolveTargets(d, s).map((t) => t.name);

describe('globToRegExp', () => {
  it('matches * ? and [..] like the shell, anchored', () => {
    expect(names.filter((n) => globToRegExp('web-*').test(n))).toEqual(['web-1', 'web-2', 'web-10']);
    expect(names.filter((n) => globToRegExp('db-?').test(n))).toEqual(['db-1', 'db-2']);
    expect(names.filter((n) => globToRegExp('[ab]*').test(n))).toEqual(['api', 'batch']);
    expect(names.filter((n) => globToRegExp('[!abw]*').test(n))).toEqual(['db-1', 'db-2', 'db-10', 'cache']);
    expect(globToRegExp('web').test('web-1')).toBe(false);
  });

  it('treats regex metacharacters in names literally', () => {
    expect(globToRegExp('a.b*').test('a.bc')).toBe(true);
    expect(globToRegExp('a.b*').test('axbc')).toBe(false);
  });
});

describe('resolveTargets', () => {
  const d = db(names, { prod: ['db-1', 'web-1'], stage: ['web-2'], empty: [] });

  it('resolves names, globs, groups and --all without duplicates, in database order', () => {
    expect(pick(d, sel(['web-*']))).toEqual(['web-1', 'web-2', 'web-10']);
    expect(pick(d, sel(['db-?', 'db-1']))).toEqual(['db-1', 'db-2']);
    expect(pick(d, sel(['[ab]*']))).toEqual(['api', 'batch']);
    expect(pick(d, sel([], ['prod', 'stage']))).toEqual(['web-1', 'web-2', 'db-1']);
    expect(pick(d, sel(['db-1', 'web-1'], ['prod']))).toEqual(['web-1', 'db-1']);
    expect(pick(d, sel([], [], true))).toHaveLength(names.length);
  });

  it('refuses anything that matches nothing (exit 2), and no targets at all', () => {
    for (const s of [sel(['nope-*']), sel(['nope']), sel([], ['nosuch']), sel([], ['empty']), sel([])]) {
      expect(() => resolveTargets(d, s)).toThrow(UsageError);
    }
    expect(() => resolveTargets(db([]), sel([], [], true))).toThrow(/no hosts/);
    try {
      resolveTargets(d, sel(['nope-*']));
    } catch (err) {
      expect((err as UsageError).exitCode).toBe(2);
    }
  });

  // Correctness at fleet size only: its speed is measured by bench/fanout.mjs's 10,000-host rows, not asserted here.
  it('picks exactly the matching hosts out of 10,000 (a glob, a group)', () => {
    const big = db(
      Array.from({ length: 10_000 }, (_, i) => `web-${i}`),
      { one: ['web-42'] },
    );
    expect([...pick(big, sel(['web-1?']))].sort()).toEqual(Array.from({ length: 10 }, (_, i) => `web-1${i}`));
    expect(pick(big, sel([], ['one']))).toEqual(['web-42']);
  });
});
