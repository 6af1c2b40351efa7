import { UsageError } from './errors.js';
import type { HostsFile } from './state/hosts.js';
import type { Target } from './fanout.js';

export interface TargetSelection {
  patterns: string[];
  groups: string[];
  all: boolean;
}

const GLOB_CHARS = /[*?[]/;

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

/**
 * Names, globs, --group and --all to hosts, in database order and without
 * duplicates. Anything that matches nothing is an error: a typo must not become a
 * silent no-op on a fleet.
 */
export function resolveTargets(db: HostsFile, sel: TargetSelection): Target[] {
  const names = Object.keys(db.hosts);
  if (!sel.all && sel.patterns.length === 0 && sel.groups.length === 0) {
    throw new UsageError('no targets given', 'name hosts, use a glob like web-*, --group <group> or --all');
  }
  const chosen = new Set<string>();
  if (sel.all) {
    if (names.length === 0)
      throw new UsageError('--all: the database has no hosts', 'add one with: till host add <name> <user@host>');
    for (const n of names) chosen.add(n);
  }
  for (const group of sel.groups) {
    const members = db.groups?.[group];
    if (members === undefined) throw new UsageError(`no such group: ${group}`, 'see: till host group list');
    if (members.length === 0) throw new UsageError(`group ${group} has no hosts`);
    for (const m of members) chosen.add(m);
  }
  for (const pattern of sel.patterns) {
    if (GLOB_CHARS.test(pattern)) {
      const re = globToRegExp(pattern);
      const matched = names.filter((n) => re.test(n));
      if (matched.length === 0)
        throw new UsageError(`no host matches ${JSON.stringify(pattern)}`, 'see: till host list');
      for (const m of matched) chosen.add(m);
    } else {
      if (!Object.hasOwn(db.hosts, pattern)) throw new UsageError(`no such host: ${pattern}`, 'see: till host list');
      chosen.add(pattern);
    }
  }
  return names.filter((n) => chosen.has(n)).map((name) => ({ name, entry: db.hosts[name]! }));
}
