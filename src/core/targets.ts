import { UsageError } from './errors.js';
import type { HostsFile } from './state/hosts.js';
import type { Target } from './fanout.js';
import { didYouMean } from './suggest.js';
import { NAME_RE } from './validate.js';

/**
 * Target patterns, the same on every multi-host command, as Ansible and pdsh users
 * write them. One pattern (a command-line argument, or --limit's value):
 *
 *   pattern = element { ("," | ":") element }     separators count outside [...] only
 *   element = [ "!" | "&" ] body                    ! excludes, & intersects
 *   body    = "@" group | word
 *   word    = a host name, with shell globs (* ? [abc] [!a] [a-z]) and pdsh ranges
 *             ([01-10], [1-3,7]: a bracket of digits, "-" and "," only; zero padding kept)
 *
 * Evaluation, in Ansible's order: the positive elements of every pattern, --group and
 * --all are united (only & and ! elements: every host); then each & intersects; then
 * each ! removes; then --limit (a pattern of its own) intersects. The result keeps
 * database order. A positive or & element that matches nothing is an error (a typo must
 * not become a silent no-op on a fleet); an exclusion that matches nothing is a warning.
 */
export interface TargetSelection {
  patterns: string[];
  groups: string[];
  all: boolean;
  limit?: string;
}

export interface ResolveOptions {
  /** No pattern, group or --all at all: 'error' (default), or every host (commands that default to the fleet). */
  whenNone?: 'error' | 'all';
}

export interface ResolvedTargets {
  targets: Target[];
  /** Things worth saying that do not stop the run (an exclusion that matched nothing). */
  warnings: string[];
}

export type PatternOp = 'union' | 'intersect' | 'exclude';

export interface PatternElement {
  op: PatternOp;
  /** `@group` or a word (name, glob, range). */
  body: string;
  /** The element as written, for messages. */
  text: string;
}

/** Names expanded from one range element at most (web[1-100000000] is a typo, not a fleet). */
export const MAX_RANGE_NAMES = 100_000;

const GLOB_CHARS = /[*?[]/;
const RANGE_BODY = /^\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*$/;

/** Shell-style glob (`*`, `?`, `[abc]`) to an anchored RegExp. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const close = glob.indexOf(']', i + 1);
      if (close === -1) re += '\\[';
      else {
        let cls = glob.slice(i + 1, close).replace(/[\\\]^]/g, '\\$&');
        if (cls.startsWith('!')) cls = `^${cls.slice(1)}`;
        re += `[${cls}]`;
        i = close;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  try {
    return new RegExp(`^${re}$`);
  } catch {
    throw new UsageError(`invalid glob ${JSON.stringify(glob)}`, 'use * ? and [abc] or [a-z] ranges in order');
  }
}

/** Splits a pattern at `,` and `:` outside brackets (web[1-3,7] is one element). */
export function splitElements(pattern: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const c of pattern) {
    if (c === '[') depth += 1;
    else if (c === ']' && depth > 0) depth -= 1;
    if ((c === ',' || c === ':') && depth === 0) {
      parts.push(current);
      current = '';
    } else current += c;
  }
  parts.push(current);
  return parts;
}

/** One pattern to its elements; an empty element (`web1,,web2`) is a usage error. */
export function parsePattern(pattern: string): PatternElement[] {
  return splitElements(pattern).map((raw) => {
    const text = raw.trim();
    const op: PatternOp = text.startsWith('!') ? 'exclude' : text.startsWith('&') ? 'intersect' : 'union';
    const body = op === 'union' ? text : text.slice(1).trim();
    if (body === '')
      throw new UsageError(
        `empty element in target pattern ${JSON.stringify(pattern)}`,
        "separate elements with one comma: 'web1,web2,!web3'",
      );
    if (/^[!&]/.test(body))
      throw new UsageError(`${JSON.stringify(text)}: one ! or & per element`, "for example 'web-*,&@prod,!web-3'");
    return { op, body, text };
  });
}

/** The values of one pdsh bracket (`01-03,7` → 01 02 03 7). */
function rangeValues(inner: string, word: string): string[] {
  const values: string[] = [];
  for (const part of inner.split(',')) {
    const [lo, hi = lo] = part.split('-') as [string, string?];
    const from = Number(lo);
    const to = Number(hi);
    if (to < from) throw new UsageError(`range ${part} in ${JSON.stringify(word)} goes backwards`);
    // Refused before a single name is made (web[1-99999999999] would fill the memory first); expandRanges
    // counts the names again with every range of the word multiplied, so no result depends on this line.
    // Stryker disable next-line all: only memory and time would tell
    if (to - from + values.length >= MAX_RANGE_NAMES)
      throw new UsageError(`${JSON.stringify(word)} expands to more than ${MAX_RANGE_NAMES} names`);
    // pdsh: a leading zero on the low bound sets the width (01-10 → 01 … 10). Without one, padding to the
    // low bound's length changes nothing (every number from it up is at least that long).
    for (let n = from; n <= to; n++) values.push(String(n).padStart(lo.length, '0'));
  }
  return values;
}

/**
 * pdsh ranges in a word to the words they stand for (`web[01-02]-[a]` keeps the glob
 * class `[a]`); undefined when the word has no range.
 */
export function expandRanges(word: string): string[] | undefined {
  for (let open = word.indexOf('['); open !== -1; open = word.indexOf('[', open + 1)) {
    const close = word.indexOf(']', open + 1);
    if (close === -1) return undefined;
    const inner = word.slice(open + 1, close);
    if (!RANGE_BODY.test(inner)) continue;
    const head = word.slice(0, open);
    const tail = word.slice(close + 1);
    const tails = expandRanges(tail) ?? [tail];
    const out: string[] = [];
    for (const v of rangeValues(inner, word)) {
      for (const t of tails) out.push(`${head}${v}${t}`);
      if (out.length > MAX_RANGE_NAMES)
        throw new UsageError(`${JSON.stringify(word)} expands to more than ${MAX_RANGE_NAMES} names`);
    }
    return out;
  }
  return undefined;
}

interface Match {
  hits: Set<string>;
  /** Why nothing matched (undefined when something did). */
  problem?: { message: string; hint: string };
  /** Names of a range that are not hosts (when others are). */
  missing: string[];
}

function matchElement(db: HostsFile, names: readonly string[], body: string): Match {
  const hits = new Set<string>();
  if (body.startsWith('@')) {
    const group = body.slice(1);
    const groups = db.groups ?? {};
    if (!NAME_RE.test(group) || !Object.hasOwn(groups, group))
      return {
        hits,
        // Stryker disable next-line ArrayDeclaration: with a problem, the caller throws or warns without reading it
        missing: [],
        problem: {
          message: `no such group: ${group}`,
          hint: didYouMean(group, Object.keys(groups), 'see: till host group list', '@'),
        },
      };
    for (const m of groups[group]!) hits.add(m);
    if (hits.size > 0) return { hits, missing: [] };
    // Stryker disable next-line ArrayDeclaration: with a problem, the caller throws or warns without reading it
    return {
      hits,
      missing: [],
      problem: { message: `group ${group} has no hosts`, hint: 'see: till host group list' },
    };
  }
  const words = expandRanges(body);
  const missing: string[] = [];
  for (const word of words ?? [body]) {
    if (GLOB_CHARS.test(word)) {
      const re = globToRegExp(word);
      for (const n of names) if (re.test(n)) hits.add(n);
    } else if (Object.hasOwn(db.hosts, word)) hits.add(word);
    else missing.push(word);
  }
  if (hits.size > 0) return { hits, missing };
  // (a range has brackets: it is never a plain name)
  if (!GLOB_CHARS.test(body))
    return {
      hits,
      missing,
      problem: { message: `no such host: ${body}`, hint: didYouMean(body, names, 'see: till host list') },
    };
  return {
    hits,
    missing,
    problem: { message: `no host matches ${JSON.stringify(body)}`, hint: 'see: till host list' },
  };
}

/** One pattern set (positional patterns, or --limit) evaluated in Ansible's order. */
function evaluate(
  db: HostsFile,
  names: readonly string[],
  elements: PatternElement[],
  base: Set<string> | undefined,
  warnings: string[],
): Set<string> {
  const positives = elements.filter((e) => e.op === 'union');
  let chosen = base ?? new Set<string>();
  if (base === undefined && positives.length === 0) chosen = new Set(names);
  for (const el of positives) {
    const m = matchElement(db, names, el.body);
    if (m.problem) throw new UsageError(m.problem.message, m.problem.hint);
    if (m.missing.length > 0) warnings.push(`${el.text}: not hosts, left out: ${m.missing.join(', ')}`);
    for (const n of m.hits) chosen.add(n);
  }
  for (const el of elements.filter((e) => e.op === 'intersect')) {
    const m = matchElement(db, names, el.body);
    if (m.problem) throw new UsageError(`${el.text}: ${m.problem.message}`, m.problem.hint);
    chosen = new Set([...chosen].filter((n) => m.hits.has(n)));
  }
  for (const el of elements.filter((e) => e.op === 'exclude')) {
    const m = matchElement(db, names, el.body);
    if (m.problem) warnings.push(`${el.text} excludes nothing: ${m.problem.message} (${m.problem.hint})`);
    for (const n of m.hits) chosen.delete(n);
  }
  return chosen;
}

/**
 * Patterns, --group, --all and --limit to hosts, in database order and without
 * duplicates. Anything that would select no host is a usage error (exit 2).
 */
export function resolveTargets(db: HostsFile, sel: TargetSelection, opts: ResolveOptions = {}): ResolvedTargets {
  const names = Object.keys(db.hosts);
  const elements = sel.patterns.flatMap(parsePattern);
  const limit = sel.limit === undefined ? undefined : parsePattern(sel.limit);
  const warnings: string[] = [];
  const none = !sel.all && elements.length === 0 && sel.groups.length === 0;
  if (none && opts.whenNone !== 'all') {
    throw new UsageError(
      'no targets given',
      `name hosts, use a pattern like 'web-*,!web-3', @group, --group <group> or --all${limit ? ' (--limit narrows them)' : ''}`,
    );
  }
  if ((sel.all || none) && names.length === 0) {
    if (none) return { targets: [], warnings };
    throw new UsageError('--all: the database has no hosts', 'add one with: till host add <name> <user@host>');
  }
  let base: Set<string> | undefined;
  if (sel.all || none) base = new Set(names);
  for (const group of sel.groups) {
    const m = matchElement(db, names, `@${group}`);
    if (m.problem) throw new UsageError(m.problem.message, m.problem.hint);
    base ??= new Set<string>();
    for (const n of m.hits) base.add(n);
  }
  let chosen = evaluate(db, names, elements, base, warnings);
  if (limit) {
    const allowed = evaluate(db, names, limit, undefined, warnings);
    chosen = new Set([...chosen].filter((n) => allowed.has(n)));
  }
  if (chosen.size === 0) {
    const what = [...sel.patterns, ...sel.groups.map((g) => `--group ${g}`), ...(sel.all ? ['--all'] : [])];
    throw new UsageError(
      `${what.length > 0 ? what.join(' ') : 'the fleet'}${sel.limit !== undefined ? ` --limit ${sel.limit}` : ''} selects no host`,
      'check each part with --list-hosts; see: till host list',
    );
  }
  return { targets: names.filter((n) => chosen.has(n)).map((name) => ({ name, entry: db.hosts[name]! })), warnings };
}
