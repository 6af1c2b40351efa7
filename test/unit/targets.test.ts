import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/core/errors.js';
import { expandRanges, globToRegExp, parsePattern, resolveTargets } from '../../src/core/targets.js';
import type { HostEntry, HostsFile } from '../../src/core/state/hosts.js';

function db(names: string[], groups: Record<string, string[]> = {}): HostsFile {
  const hosts: Record<string, HostEntry> = {};
  for (const n of names)
    hosts[n] = {
      user: 'u',
      host: '127.0.0.1',
      port: 22,
      status: 'untested',
      added: '2024-01-01T00:00:00.000Z',
      tekton_path: '~/t',
      installations: [],
    };
  return { hosts, groups };
}
const names = ['web-1', 'web-2', 'web-10', 'db-1', 'db-2', 'db-10', 'api', 'batch', 'cache'];
interface Sel {
  patterns: string[];
  groups: string[];
  all: boolean;
  limit?: string;
}
const sel = (patterns: string[], groups: string[] = [], all = false, limit?: string): Sel => ({
  patterns,
  groups,
  all,
  ...(limit !== undefined ? { limit } : {}),
});
const pick = (d: HostsFile, s: Sel) => resolveTargets(d, s).targets.map((t) => t.name);

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

describe('pattern grammar', () => {
  it('splits elements at , and : outside brackets, with their operator', () => {
    expect(parsePattern('web-*,&@prod,!web-3')).toEqual([
      { op: 'union', body: 'web-*', text: 'web-*' },
      { op: 'intersect', body: '@prod', text: '&@prod' },
      { op: 'exclude', body: 'web-3', text: '!web-3' },
    ]);
    expect(parsePattern('web[1-3,7]:db1').map((e) => e.body)).toEqual(['web[1-3,7]', 'db1']);
    expect(parsePattern(' a , b ').map((e) => e.body)).toEqual(['a', 'b']);
  });

  it.each([
    ['web[01-03]', ['web01', 'web02', 'web03']],
    ['web[1-3,7]', ['web1', 'web2', 'web3', 'web7']],
    ['web[08-10]', ['web08', 'web09', 'web10']],
    ['web[9-11]', ['web9', 'web10', 'web11']],
    ['r[1-2]n[01-02]', ['r1n01', 'r1n02', 'r2n01', 'r2n02']],
    ['[ab]-[1-2]', ['[ab]-1', '[ab]-2']],
    ['web[5]', ['web5']],
  ])('pdsh range %s expands to %j (zero padding kept)', (word, expected) => {
    expect(expandRanges(word)).toEqual(expected);
  });

  it('leaves words without a range alone', () => {
    expect(expandRanges('web-1')).toBeUndefined();
    expect(expandRanges('[ab]*')).toBeUndefined();
    expect(expandRanges('web[1-')).toBeUndefined();
  });

  it.each([
    ['web1,,web2', /empty element/],
    ['web1,', /empty element/],
    ['!', /empty element/],
    ['!!web1', /one ! or & per element/],
    ['web[3-1]', /goes backwards/],
    ['web[1-999999]', /more than 100000 names/],
  ])('refuses %s', (pattern, message) => {
    const d = db(names);
    expect(() => resolveTargets(d, sel([pattern]))).toThrow(message);
  });
});

describe('resolveTargets', () => {
  const d = db([...names, 'web01', 'web02', 'web03', 'web07'], {
    prod: ['db-1', 'web-1', 'web01'],
    stage: ['web-2'],
    empty: [],
  });

  // [patterns, --group, --all, --limit, expected hosts in database order]
  const table: Array<[string[], string[], boolean, string | undefined, string[]]> = [
    [['web-*'], [], false, undefined, ['web-1', 'web-2', 'web-10']],
    [['db-?', 'db-1'], [], false, undefined, ['db-1', 'db-2']],
    [['[ab]*'], [], false, undefined, ['api', 'batch']],
    [[], ['prod', 'stage'], false, undefined, ['web-1', 'web-2', 'db-1', 'web01']],
    [['db-1', 'web-1'], ['prod'], false, undefined, ['web-1', 'db-1', 'web01']],
    [['web-1,web-2'], [], false, undefined, ['web-1', 'web-2']],
    [['web-1:api'], [], false, undefined, ['web-1', 'api']],
    [['web[01-03]'], [], false, undefined, ['web01', 'web02', 'web03']],
    [['web0[1-3,7]'], [], false, undefined, ['web01', 'web02', 'web03', 'web07']],
    [['@prod'], [], false, undefined, ['web-1', 'db-1', 'web01']],
    [['@prod,@stage'], [], false, undefined, ['web-1', 'web-2', 'db-1', 'web01']],
    [['web-*,&@prod'], [], false, undefined, ['web-1']],
    [['web-*,!web-2'], [], false, undefined, ['web-1', 'web-10']],
    [['web-*,&@prod,!web-1'], [], false, undefined, []],
    [['web-*,!web-1,&@prod'], [], false, undefined, []],
    [['*,!@prod,!db-*'], [], false, undefined, ['web-2', 'web-10', 'api', 'batch', 'cache', 'web02', 'web03', 'web07']],
    // Only exclusions or intersections start from every host, as in Ansible.
    [['!web*,!db*'], [], false, undefined, ['api', 'batch', 'cache']],
    [['&@prod'], [], false, undefined, ['web-1', 'db-1', 'web01']],
    [['web-1', '!web-1'], [], false, undefined, []],
    [[], [], true, undefined, [...names, 'web01', 'web02', 'web03', 'web07']],
    [['!api'], ['stage'], false, undefined, ['web-2']],
    [['web-*'], [], false, '@prod', ['web-1']],
    [[], [], true, 'db-*,!db-10', ['db-1', 'db-2']],
    [['@prod'], [], false, '!db-1', ['web-1', 'web01']],
  ];

  it.each(table)('%j --group %j --all %s --limit %s → %j', (patterns, groups, all, limit, expected) => {
    const s = sel(patterns, groups, all, limit);
    if (expected.length === 0) expect(() => resolveTargets(d, s)).toThrow(/selects no host/);
    else expect(pick(d, s)).toEqual(expected);
  });

  it.each([
    [sel(['nope-*']), /no host matches "nope-\*"/],
    [sel(['nope']), /no such host: nope/],
    [sel(['web-1,nope']), /no such host: nope/],
    [sel(['web-*,&nope']), /&nope: no such host: nope/],
    [sel([], ['nosuch']), /no such group: nosuch/],
    [sel(['@nosuch']), /no such group: nosuch/],
    [sel([], ['empty']), /group empty has no hosts/],
    [sel(['web[04-06]']), /no host matches/],
    [sel([]), /no targets given/],
    [sel([], [], false, 'web-1'), /no targets given/],
    [sel(['web-1'], [], false, 'nope'), /no such host: nope/],
  ])('refuses %j with exit 2: %s', (s, message) => {
    let caught: unknown;
    try {
      resolveTargets(d, s);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(UsageError);
    expect((caught as UsageError).exitCode).toBe(2);
    expect((caught as UsageError).message).toMatch(message);
  });

  it('says "did you mean" for a near host or group name', () => {
    const hint = (s: Sel) => {
      try {
        resolveTargets(d, s);
      } catch (err) {
        return (err as UsageError).hint;
      }
      return undefined;
    };
    expect(hint(sel(['web-l']))).toBe('did you mean web-1 or web-2?');
    expect(hint(sel(['web-100']))).toBe('did you mean web-10?');
    expect(hint(sel(['Api']))).toBe('did you mean api?');
    expect(hint(sel(['@prd']))).toBe('did you mean @prod?');
    expect(hint(sel([], ['stag']))).toBe('did you mean @stage?');
    expect(hint(sel(['zzzzzz']))).toBe('see: till host list');
  });

  it('warns, and goes on, for an exclusion that matches nothing and range names that are not hosts', () => {
    const r = resolveTargets(d, sel(['web-*,!web-3,!@nosuch', 'web0[1-4]']));
    expect(r.targets.map((t) => t.name)).toEqual(['web-1', 'web-2', 'web-10', 'web01', 'web02', 'web03']);
    expect(r.warnings).toEqual([
      'web0[1-4]: not hosts, left out: web04',
      '!web-3 excludes nothing: no such host: web-3 (did you mean web-1, web-2 or web03?)',
      '!@nosuch excludes nothing: no such group: nosuch (see: till host group list)',
    ]);
  });

  it('defaults to every host when asked to (commands whose default is the fleet)', () => {
    expect(resolveTargets(d, sel([]), { whenNone: 'all' }).targets).toHaveLength(13);
    expect(resolveTargets(d, sel([], [], false, 'db-*'), { whenNone: 'all' }).targets.map((t) => t.name)).toEqual([
      'db-1',
      'db-2',
      'db-10',
    ]);
    expect(resolveTargets(db([]), sel([]), { whenNone: 'all' }).targets).toEqual([]);
    expect(() => resolveTargets(db([]), sel([], [], true))).toThrow(/no hosts/);
  });

  // Correctness at fleet size only: its speed is measured by bench/fanout.mjs's 10,000-host rows, not asserted here.
  it('picks exactly the matching hosts out of 10,000 (a glob, a group)', () => {
    const big = db(
      Array.from({ length: 10_000 }, (_, i) => `web-${i}`),
      { one: ['web-42'] },
    );
    expect([...pick(big, sel(['web-1?']))].sort()).toEqual(Array.from({ length: 10 }, (_, i) => `web-1${i}`));
    expect(pick(big, sel([], ['one']))).toEqual(['web-42']);
    expect(pick(big, sel(['web-[1-9000],!web-1*,&web-?'], []))).toHaveLength(8);
  });
});

/** An independent reference: a backtracking glob matcher and plain Set algebra. */
function globMatch(p: string, s: string): boolean {
  if (p === '') return s === '';
  const c = p[0]!;
  if (c === '*') return globMatch(p.slice(1), s) || (s !== '' && globMatch(p, s.slice(1)));
  if (s === '') return false;
  if (c === '?') return globMatch(p.slice(1), s.slice(1));
  if (c === '[') {
    const close = p.indexOf(']', 1);
    const negate = p[1] === '!';
    const set = p.slice(negate ? 2 : 1, close);
    return set.includes(s[0]!) !== negate && globMatch(p.slice(close + 1), s.slice(1));
  }
  return c === s[0] && globMatch(p.slice(1), s.slice(1));
}

describe('! and & algebra against a reference Set implementation', () => {
  const universe = ['a1', 'a2', 'a3', 'b1', 'b2', 'c1', 'c2', 'c3', 'd1'];
  const body = fc.oneof(
    fc.constantFrom(...universe, 'zz'),
    fc.constantFrom('a*', 'b?', '*1', '[ab]2', '[!a]*', 'q*'),
    fc.constantFrom('@g1', '@g2', '@g3'),
  );
  const element = fc.tuple(fc.constantFrom('', '', '!', '&'), body).map(([op, b]) => `${op}${b}`);
  const groupsArb = fc.tuple(
    fc.subarray(universe, { minLength: 1 }),
    fc.subarray(universe, { minLength: 1 }),
    fc.subarray(universe, { minLength: 1 }),
  );

  it('positives united, then & intersected, then ! removed; errors exactly when the reference says', () => {
    fc.assert(
      fc.property(
        fc.array(element, { minLength: 1, maxLength: 7 }),
        groupsArb,
        fc.integer({ min: 1, max: 3 }),
        (elements, [g1, g2, g3], split) => {
          const groups = { g1, g2, g3 };
          const d = db(universe, groups);
          const matchRef = (b: string): Set<string> =>
            b.startsWith('@')
              ? new Set(groups[b.slice(1) as keyof typeof groups])
              : new Set(universe.filter((n) => globMatch(b, n)));
          const pos = elements.filter((e) => !/^[!&]/.test(e));
          const and = elements.filter((e) => e.startsWith('&')).map((e) => e.slice(1));
          const not = elements.filter((e) => e.startsWith('!')).map((e) => e.slice(1));
          const refFails = [...pos, ...and].some((b) => matchRef(b).size === 0);
          let ref = pos.length === 0 ? new Set(universe) : new Set(pos.flatMap((b) => [...matchRef(b)]));
          for (const b of and) ref = new Set([...ref].filter((n) => matchRef(b).has(n)));
          for (const b of not) for (const n of matchRef(b)) ref.delete(n);
          // The same elements, spread over 1-3 arguments and joined by , or :
          const patterns: string[] = [];
          elements.forEach((e, i) => {
            const k = i % split;
            patterns[k] = patterns[k] === undefined ? e : `${patterns[k]}${i % 2 ? ',' : ':'}${e}`;
          });
          const run = () => resolveTargets(d, sel(patterns.filter((p) => p !== undefined)));
          if (refFails || ref.size === 0) {
            expect(run).toThrow(UsageError);
          } else {
            expect(run().targets.map((t) => t.name)).toEqual(universe.filter((n) => ref.has(n)));
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('--limit is an intersection with its own pattern', () => {
    fc.assert(
      fc.property(
        fc.array(element, { minLength: 1, maxLength: 4 }),
        fc.array(element, { minLength: 1, maxLength: 4 }),
        groupsArb,
        (a, b, [g1, g2, g3]) => {
          const d = db(universe, { g1, g2, g3 });
          const tryNames = (s: Sel) => {
            try {
              return resolveTargets(d, s).targets.map((t) => t.name);
            } catch {
              return null;
            }
          };
          const left = tryNames(sel([a.join(',')]));
          const right = tryNames(sel([b.join(',')]));
          const both = tryNames(sel([a.join(',')], [], false, b.join(',')));
          if (left === null || right === null) expect(both).toBeNull();
          else {
            const expected = left.filter((n) => right.includes(n));
            expect(both).toEqual(expected.length === 0 ? null : expected);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('edges of the grammar', () => {
  const d = db(['web01', 'web02', 'web-1', 'a]1', 'x]a', '!x', 'ax', '^', 'b'], { prod: ['web01'], empty: [] });
  const refusal = (s: Sel, opts?: { whenNone: 'all' }) => {
    try {
      resolveTargets(d, s, opts);
    } catch (err) {
      const e = err as UsageError;
      return { message: e.message, hint: e.hint };
    }
    return 'resolved';
  };

  it('globs: an unclosed [ is literal, ] before [ is a name character, a class may hold ! or ^, a bad class is refused', () => {
    expect(globToRegExp('a[b*').test('a[bc')).toBe(true);
    expect(globToRegExp('a[b*').test('abc')).toBe(false);
    expect(globToRegExp('x][ab]').test('x]a')).toBe(true);
    expect(globToRegExp('[a^]').test('^')).toBe(true);
    expect(globToRegExp('[!a]x').test('!x')).toBe(true);
    expect(globToRegExp('[!a]x').test('ax')).toBe(false);
    expect(() => globToRegExp('[z-a]')).toThrow(UsageError);
    try {
      globToRegExp('[z-a]');
    } catch (err) {
      expect((err as UsageError).message).toBe('invalid glob "[z-a]"');
      expect((err as UsageError).hint).toBe('use * ? and [abc] or [a-z] ranges in order');
    }
  });

  it('elements: ] without [ does not hide a separator, spaces after ! or & are dropped, refusals say how', () => {
    expect(parsePattern('x],y').map((e) => e.body)).toEqual(['x]', 'y']);
    expect(parsePattern('! web1, & @prod')).toEqual([
      { op: 'exclude', body: 'web1', text: '! web1' },
      { op: 'intersect', body: '@prod', text: '& @prod' },
    ]);
    expect(refusal(sel(['web01,,b']))).toEqual({
      message: 'empty element in target pattern "web01,,b"',
      hint: "separate elements with one comma: 'web1,web2,!web3'",
    });
    expect(refusal(sel(['&!b']))).toEqual({
      message: '"&!b": one ! or & per element',
      hint: "for example 'web-*,&@prod,!web-3'",
    });
  });

  it('ranges: only digits, - and , in the brackets, found after other brackets, at most 100000 names', () => {
    expect(expandRanges('w[1,23]')).toEqual(['w1', 'w23']);
    expect(expandRanges('w[1,2-3]')).toEqual(['w1', 'w2', 'w3']);
    expect(expandRanges('w[1,2-13]')).toHaveLength(13);
    expect(expandRanges('w[007-8]')).toEqual(['w007', 'w008']);
    expect(expandRanges('w[0-1]')).toEqual(['w0', 'w1']);
    for (const w of ['w[a1-2]', 'w[1-2a]', 'a1-2]', '[a]1-2]', 'w[1-2']) expect(expandRanges(w), w).toBeUndefined();
    expect(expandRanges('a][1-2]')).toEqual(['a]1', 'a]2']);
    expect(expandRanges('[1-1000]x[1-100]')).toHaveLength(100_000);
    expect(() => expandRanges('[1-1000]x[1-101]')).toThrow(
      new UsageError('"[1-1000]x[1-101]" expands to more than 100000 names'),
    );
    expect(() => expandRanges('w[1-100001]')).toThrow(/"w\[1-100001\]" expands to more than 100000 names/);
    expect(() => expandRanges('w[5-3]')).toThrow(/^range 5-3 in "w\[5-3\]" goes backwards$/);
  });

  it('says exactly what selected nothing, and how to go on', () => {
    expect(refusal(sel(['nope*']))).toEqual({ message: 'no host matches "nope*"', hint: 'see: till host list' });
    expect(refusal(sel(['web0[3-4]']))).toEqual({
      message: 'no host matches "web0[3-4]"',
      hint: 'see: till host list',
    });
    expect(refusal(sel([], ['empty']))).toEqual({
      message: 'group empty has no hosts',
      hint: 'see: till host group list',
    });
    expect(refusal(sel([]))).toEqual({
      message: 'no targets given',
      hint: "name hosts, use a pattern like 'web-*,!web-3', @group, --group <group> or --all",
    });
    expect(refusal(sel([], [], false, 'b'))).toEqual({
      message: 'no targets given',
      hint: "name hosts, use a pattern like 'web-*,!web-3', @group, --group <group> or --all (--limit narrows them)",
    });
    const hint = 'check each part with --list-hosts; see: till host list';
    expect(refusal(sel(['b'], ['prod'], true, '!*'))).toEqual({
      message: 'b --group prod --all --limit !* selects no host',
      hint,
    });
    expect(refusal(sel(['b,!b']))).toEqual({ message: 'b,!b selects no host', hint });
    expect(refusal(sel([], [], false, '!*'), { whenNone: 'all' })).toEqual({
      message: 'the fleet --limit !* selects no host',
      hint,
    });
    expect(() => resolveTargets(db([]), sel(['b']))).toThrow(/^no such host: b$/);
    try {
      resolveTargets(db([]), sel([], [], true));
    } catch (err) {
      expect((err as UsageError).hint).toBe('add one with: till host add <name> <user@host>');
    }
  });

  it('--all with a pattern or a group is still every host; a group names no missing hosts', () => {
    expect(resolveTargets(d, sel(['web-1'], [], true)).targets).toHaveLength(9);
    expect(resolveTargets(d, sel(['@prod'], ['prod'], true)).targets).toHaveLength(9);
    expect(resolveTargets(d, sel(['@prod'])).warnings).toEqual([]);
    expect(resolveTargets(d, sel(['web0[1-4]'])).warnings).toEqual(['web0[1-4]: not hosts, left out: web03, web04']);
  });
});
