import { dirname } from 'node:path';
import type { FoundHost, FoundInventory, SourceFile } from './source.js';

/**
 * An OpenSSH client config (ssh_config(5)) as hosts: every `Host` alias without
 * wildcards becomes a host, with the options that apply to it computed as ssh does
 * (every block whose patterns match, in file order, first value wins; `Include` read
 * in place). HostName, User, Port and ProxyJump are carried; every other option that
 * applies to a host is reported for it, never dropped in silence. `Match` blocks are
 * not evaluated (they depend on the connection) and are reported.
 */

/** Reads the files an `Include` names (globs, `~`, relative to ~/.ssh as ssh does), sorted. */
export type IncludeLoader = (pattern: string, from: string) => SourceFile[];

/** ssh's nesting limit for Include (READCONF_MAX_DEPTH). */
const MAX_DEPTH = 16;

/** Options a host entry takes from the config; everything else is reported. */
const CARRIED = new Set(['hostname', 'user', 'port', 'proxyjump']);
/** Options ssh accumulates instead of keeping the first value. */
const CUMULATIVE = new Set([
  'identityfile',
  'certificatefile',
  'localforward',
  'remoteforward',
  'dynamicforward',
  'sendenv',
  'setenv',
]);

interface Block {
  kind: 'all' | 'host' | 'match';
  patterns: string[];
  where: string;
}

interface Entry {
  keyword: string;
  /** As written, for messages. */
  spelled: string;
  args: string[];
  block: Block;
  where: string;
}

/** Splits a config line into words: whitespace-separated, with "double" and 'single' quotes. */
export function splitConfigWords(line: string): string[] {
  const words: string[] = [];
  let current = '';
  let quote: string | null = null;
  let inWord = false;
  for (const c of line) {
    if (quote) {
      if (c === quote) quote = null;
      else current += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(current);
      current = '';
      inWord = false;
    } else {
      current += c;
      inWord = true;
    }
  }
  if (inWord) words.push(current);
  return words;
}

/** `Keyword value…`, `Keyword=value…` or `Keyword = value…`. */
function keywordAndArgs(line: string): { spelled: string; args: string[] } | undefined {
  const m = /^\s*([A-Za-z][A-Za-z0-9]*)\s*(?:=\s*|\s+|$)(.*)$/.exec(line);
  if (!m) return undefined;
  return { spelled: m[1]!, args: splitConfigWords(m[2]!) };
}

/** ssh's pattern match: `*` and `?` wildcards, case-insensitive (ssh lowercases host names). */
function patternMatches(pattern: string, name: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 'i').test(name);
}

/** A Host block applies when a pattern matches and no negated one does. */
function blockApplies(block: Block, alias: string): boolean {
  if (block.kind === 'all') return true;
  if (block.kind === 'match') return false;
  let hit = false;
  for (const p of block.patterns) {
    if (p.startsWith('!')) {
      if (patternMatches(p.slice(1), alias)) return false;
    } else if (patternMatches(p, alias)) hit = true;
  }
  return hit;
}

/** Host patterns: split on whitespace and commas. */
function hostPatterns(args: string[]): string[] {
  return args.flatMap((a) => a.split(',')).filter((p) => p !== '');
}

interface Reading {
  entries: Entry[];
  /** Host blocks in file order (a Host line with no options under it still names hosts). */
  blocks: Block[];
  /** Groups a `# till: groups=…` line before any Host block declares. */
  groups: string[];
  notes: string[];
}

/** `# till: groups=a,b tekton_path=~/x`: what an exported ssh config records that ssh has no option for. */
const TILL_COMMENT = /^#\s*till:\s*(.*)$/;

function readEntries(file: SourceFile, load: IncludeLoader, start: Block, depth: number, out: Reading): void {
  const { entries, notes } = out;
  let block = start;
  file.text.split(/\r?\n/).forEach((raw, i) => {
    const where = `${file.path}:${i + 1}`;
    const line = raw.trim();
    const tillComment = TILL_COMMENT.exec(line);
    if (tillComment && block.kind !== 'match') {
      const args = splitConfigWords(tillComment[1]!);
      // Before any Host block: the groups of the file (empty ones included).
      if (block.kind === 'all') {
        for (const w of args) if (w.startsWith('groups=')) out.groups.push(...w.slice('groups='.length).split(','));
      } else entries.push({ keyword: '#till', spelled: '# till:', args, block, where });
      return;
    }
    if (line === '' || line.startsWith('#')) return;
    const parsed = keywordAndArgs(line);
    if (!parsed) {
      notes.push(`${where}: cannot read ${JSON.stringify(line)}; left out`);
      return;
    }
    const keyword = parsed.spelled.toLowerCase();
    if (keyword === 'host') {
      block = { kind: 'host', patterns: hostPatterns(parsed.args), where };
      out.blocks.push(block);
      return;
    }
    if (keyword === 'match') {
      block = { kind: 'match', patterns: parsed.args, where };
      notes.push(`${where}: Match ${parsed.args.join(' ')} is not evaluated; its options are left out`);
      return;
    }
    if (keyword === 'include') {
      if (depth >= MAX_DEPTH) {
        notes.push(`${where}: Include nested more than ${MAX_DEPTH} deep; left out`);
        return;
      }
      for (const pattern of parsed.args) {
        const files = load(pattern, dirname(file.path));
        if (files.length === 0) notes.push(`${where}: Include ${pattern} matched no files`);
        for (const f of files) readEntries(f, load, block, depth + 1, out);
      }
      return;
    }
    if (block.kind === 'match') return;
    entries.push({ keyword, spelled: parsed.spelled, args: parsed.args, block, where });
  });
}

/** HostName may hold %h (the alias) and %%; other tokens are left for validation to refuse. */
function expandHostName(value: string, alias: string): string {
  return value.replace(/%([h%])/g, (_, t: string) => (t === 'h' ? alias : '%'));
}

function note(spelled: string, args: string[]): string {
  const value = `${spelled} ${args.join(' ')}`;
  switch (spelled.toLowerCase()) {
    case 'identityfile':
      return `${value}: not carried; till connects with its own key (authorize it: till host authorize <name>)`;
    case 'proxycommand':
      return `${value}: not carried; till reaches hosts directly or through a till jump host (till host edit <name> --jump <host>)`;
    default:
      return `${value}: not carried; till uses its own ssh settings`;
  }
}

/**
 * `isTillsOwn(keyword, args)`: an option that says what till does anyway (its own key,
 * known_hosts, masters: an exported config's settings), not reported.
 */
export function parseSshConfig(
  root: SourceFile,
  load: IncludeLoader,
  isTillsOwn: (keyword: string, args: string[]) => boolean = () => false,
): FoundInventory {
  const reading: Reading = { entries: [], blocks: [], groups: [], notes: [] };
  readEntries(root, load, { kind: 'all', patterns: [], where: root.path }, 0, reading);
  const { entries, notes } = reading;
  const aliases = new Map<string, string>();
  for (const block of reading.blocks)
    for (const p of block.patterns)
      if (!/[*?]/.test(p) && !p.startsWith('!') && !aliases.has(p)) aliases.set(p, block.where);
  const groups = new Set<string>(reading.groups.filter((g) => g !== ''));
  const hosts: FoundHost[] = [];
  for (const [alias, where] of aliases) {
    const first = new Map<string, Entry>();
    const hostNotes: string[] = [];
    const hostGroups: string[] = [];
    let tektonPath: string | undefined;
    for (const e of entries) {
      if (!blockApplies(e.block, alias)) continue;
      if (e.keyword === '#till') {
        for (const word of e.args) {
          const [k, v = ''] = word.split(/=(.*)/s) as [string, string?];
          if (k === 'groups') hostGroups.push(...v.split(',').filter((g) => g !== ''));
          else if (k === 'tekton_path') tektonPath ??= v;
        }
        continue;
      }
      if (isTillsOwn(e.keyword, e.args)) continue;
      if (CUMULATIVE.has(e.keyword)) {
        hostNotes.push(note(e.spelled, e.args));
        continue;
      }
      if (first.has(e.keyword)) continue;
      first.set(e.keyword, e);
      if (!CARRIED.has(e.keyword)) hostNotes.push(note(e.spelled, e.args));
    }
    for (const g of hostGroups) groups.add(g);
    const value = (k: string) => first.get(k)?.args.join(' ');
    const host: FoundHost = {
      name: alias,
      address: expandHostName(value('hostname') ?? alias, alias),
      groups: [...new Set(hostGroups)],
      notes: hostNotes,
      where,
    };
    if (tektonPath !== undefined) host.tektonPath = tektonPath;
    const user = value('user');
    if (user !== undefined) host.user = user;
    const port = value('port');
    if (port !== undefined) host.port = port;
    const jump = value('proxyjump');
    if (jump !== undefined && jump.toLowerCase() !== 'none') host.jump = jump;
    hosts.push(host);
  }
  return { format: 'ssh-config', hosts, groups: [...groups], notes };
}
