/**
 * What a TAB offers: walks the words typed so far through the command tree (the same
 * commander definitions as --help) and answers with subcommands, options, or the values
 * an argument or option takes, names read from the local state (core/local-names.ts:
 * no host is contacted).
 *
 * What kind of value an argument or option takes is decided by its placeholder
 * (`<group>`, `[targets...]`, `--to <release>`), see `valueKind`; a placeholder that is
 * in neither table fails the help walk test, so a new command says what it completes.
 */
import type { Argument, Command, Option } from 'commander';
import type { LocalNames, Named } from '../../core/local-names.js';
import { splitElements } from '../../core/targets.js';
import { commandPath, visibleSubcommands } from '../help.js';

export type ValueKind = 'host' | 'target' | 'group' | 'installation' | 'release' | 'file' | 'dir' | 'none';

/** Placeholders whose values till can offer. */
const KIND_OF_PLACEHOLDER: Record<string, ValueKind> = {
  host: 'host',
  hosts: 'host',
  targets: 'target',
  pattern: 'target',
  group: 'group',
  installation: 'installation',
  release: 'release',
  dir: 'dir',
  path: 'dir',
  file: 'file',
};

/** Options whose placeholder says less than the option (`--installation <name>`; paths on the host, not here). */
const KIND_OF_OPTION: Record<string, ValueKind> = {
  '--installation': 'installation',
  '--shared': 'none',
  '--tekton-path': 'none',
  '--host': 'host',
};

/** Placeholders of values no list holds: free text, numbers, times, addresses. */
export const FREE_PLACEHOLDERS: ReadonlySet<string> = new Set([
  'user@host[:port]',
  'user',
  'new-name',
  'port',
  'n',
  'N',
  'seconds',
  'duration',
  'HH:MM',
  'addr:port',
  'command',
  'SHA256:…',
  'size|N%',
  'n|p%',
  'text',
  'per-core',
  'when',
]);

/** A placeholder's bare name: `<user@host[:port]>` → `user@host[:port]`, `[targets...]` → `targets`. */
export function placeholderName(flagsOrName: string): string | undefined {
  const m = /[<[](.*?)(?:\.\.\.)?[>\]]$/.exec(flagsOrName.trim());
  return m?.[1];
}

/**
 * The kind of value a placeholder takes on a command. `<name>` is a host under
 * `till host`, an installation under `till installation`, and free text as an option
 * (`--name <name>`); undefined: the placeholder is not known (the walk test lists it).
 */
export function valueKind(placeholder: string, cmdPath: string, option?: string): ValueKind | undefined {
  if (option !== undefined && Object.hasOwn(KIND_OF_OPTION, option)) return KIND_OF_OPTION[option];
  if (placeholder === 'name') {
    if (option !== undefined) return 'none';
    if (/^till (installation|inst)\b/.test(cmdPath)) return 'installation';
    if (/^till host\b/.test(cmdPath)) return 'host';
    return undefined;
  }
  if (Object.hasOwn(KIND_OF_PLACEHOLDER, placeholder)) return KIND_OF_PLACEHOLDER[placeholder];
  return FREE_PLACEHOLDERS.has(placeholder) ? 'none' : undefined;
}

export interface Candidate {
  value: string;
  description: string;
}

export interface Completion {
  /** `files`/`dirs`: the shell completes paths itself. */
  kind: 'words' | 'files' | 'dirs';
  candidates: Candidate[];
}

const NOTHING: Completion = { kind: 'words', candidates: [] };

function findSubcommand(cmd: Command, word: string): Command | undefined {
  return visibleSubcommands(cmd).find((c) => c.name() === word || c.aliases().includes(word));
}

/** The options a command accepts: its own, then those of its ancestors (commander takes `--color` anywhere). */
function optionsOf(cmd: Command): Option[] {
  const out: Option[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) out.push(...c.createHelp().visibleOptions(c));
  return out;
}

function findOption(cmd: Command, flag: string): Option | undefined {
  return optionsOf(cmd).find((o) => o.long === flag || o.short === flag);
}

function takesValue(o: Option): boolean {
  return o.required || o.optional;
}

export function optionKind(cmd: Command, o: Option): ValueKind | undefined {
  const name = placeholderName(o.flags);
  if (name === undefined || o.argChoices) return 'none';
  return valueKind(name, commandPath(cmd), o.long ?? o.short ?? '');
}

export function argumentKind(cmd: Command, a: Argument): ValueKind | undefined {
  return a.argChoices ? 'none' : valueKind(a.name(), commandPath(cmd));
}

interface Walked {
  cmd: Command;
  /** Positional arguments before the current word. */
  positional: number;
  /** The option whose value the current word is. */
  pendingOption?: Option;
  afterDashDash: boolean;
  /** The positional words before the current one: hosts not to offer twice, hosts whose releases come first. */
  positionals: string[];
}

function walk(root: Command, words: readonly string[]): Walked {
  const state: Walked = { cmd: root, positional: 0, afterDashDash: false, positionals: [] };
  for (const word of words) {
    if (state.pendingOption) {
      state.pendingOption = undefined;
      continue;
    }
    if (state.afterDashDash) continue;
    if (word === '--') {
      state.afterDashDash = true;
      continue;
    }
    if (word.startsWith('-') && word.length > 1) {
      if (word.includes('=')) continue;
      const option = findOption(state.cmd, word);
      if (option && takesValue(option)) state.pendingOption = option;
      continue;
    }
    const sub = state.positional === 0 ? findSubcommand(state.cmd, word) : undefined;
    if (sub) {
      state.cmd = sub;
      continue;
    }
    state.positional += 1;
    state.positionals.push(word);
  }
  return state;
}

/** The names starting with `prefix`, as candidates (`decorate` adds what the word carries before a name). */
function matching(
  items: readonly Named[],
  prefix: string,
  decorate = (n: string) => n,
  skip: readonly string[] = [],
): Candidate[] {
  return items
    .filter((i) => i.name.startsWith(prefix) && !skip.includes(i.name))
    .map((i) => ({ value: decorate(i.name), description: i.description }))
    .sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
}

/** Values of one kind starting with `prefix`; `typed` are the positional words (host names) before. */
async function valuesOf(kind: ValueKind, prefix: string, names: LocalNames, typed: string[]): Promise<Completion> {
  switch (kind) {
    case 'host':
      return { kind: 'words', candidates: matching(await names.hosts(), prefix, undefined, typed) };
    case 'group':
      return { kind: 'words', candidates: matching(await names.groups(), prefix) };
    case 'installation':
      return { kind: 'words', candidates: matching(await names.installations(), prefix) };
    case 'release': {
      const releases = await names.releases();
      // Narrowed to the hosts named on the line, when some are (rollback web1 --to …).
      const onThese = releases.filter((r) => typed.some((h) => r.hosts.includes(h)));
      const list = onThese.length > 0 ? onThese : releases;
      return {
        kind: 'words',
        candidates: list
          .filter((r) => r.name.startsWith(prefix))
          .map(({ name, description }) => ({ value: name, description })),
      };
    }
    case 'target': {
      // A pattern list (`web1,@db,!web-3`, `:` as Ansible writes it): its last element is
      // completed, a `!` or `&` in front of it kept.
      const element = splitElements(prefix).at(-1) ?? '';
      const head = prefix.slice(0, prefix.length - element.length);
      const sign = /^[!&]/.test(element) ? element[0]! : '';
      const rest = element.slice(sign.length);
      const lead = head + sign;
      if (rest.startsWith('@'))
        return { kind: 'words', candidates: matching(await names.groups(), rest.slice(1), (g) => `${lead}@${g}`) };
      // A host already named on the line, with or without its ! or &, is not offered again.
      const given = [...typed, head].flatMap(splitElements).map((e) => e.replace(/^[!&]/, ''));
      return { kind: 'words', candidates: matching(await names.hosts(), rest, (h) => `${lead}${h}`, given) };
    }
    case 'file':
      return { kind: 'files', candidates: [] };
    case 'dir':
      return { kind: 'dirs', candidates: [] };
    case 'none':
      return NOTHING;
  }
}

/**
 * The words on the line an option's value is completed with: releases of the hosts typed
 * (rollback web1 --to …); not for a pattern (`--limit web1` narrows to a host already named).
 */
function optionContext(kind: ValueKind, state: Walked): string[] {
  return kind === 'target' ? [] : state.positionals;
}

/**
 * Candidates for `current`, the word under the cursor, after `words` (what follows
 * `till` on the line). Sorted; only those starting with `current`.
 */
export async function complete(
  root: Command,
  words: readonly string[],
  current: string,
  names: LocalNames,
): Promise<Completion> {
  const state = walk(root, words);
  const { cmd } = state;
  if (state.afterDashDash) return NOTHING; // exec's and ssh's remote command: not till's to complete
  if (state.pendingOption) {
    const option = state.pendingOption;
    if (option.argChoices) return choices(option.argChoices, current);
    const kind = optionKind(cmd, option) ?? 'none';
    return valuesOf(kind, current, names, optionContext(kind, state));
  }
  if (current.startsWith('--') && current.includes('=')) {
    const at = current.indexOf('=');
    const option = findOption(cmd, current.slice(0, at));
    if (!option || !takesValue(option)) return NOTHING;
    const head = current.slice(0, at + 1);
    const kind = optionKind(cmd, option) ?? 'none';
    const values = option.argChoices
      ? choices(option.argChoices, current.slice(at + 1))
      : await valuesOf(kind, current.slice(at + 1), names, optionContext(kind, state));
    return { ...values, candidates: values.candidates.map((c) => ({ ...c, value: head + c.value })) };
  }
  if (current.startsWith('-')) {
    const seen = new Set<string>();
    const candidates: Candidate[] = [];
    for (const o of optionsOf(cmd)) {
      const flag = o.long ?? o.short;
      if (!flag || seen.has(flag) || !flag.startsWith(current)) continue;
      seen.add(flag);
      candidates.push({ value: flag, description: o.description });
    }
    return { kind: 'words', candidates };
  }
  const subs = state.positional === 0 ? visibleSubcommands(cmd) : [];
  if (subs.length > 0) {
    return {
      kind: 'words',
      candidates: subs
        .filter((c) => c.name().startsWith(current))
        .map((c) => ({ value: c.name(), description: c.description() })),
    };
  }
  const args = cmd.registeredArguments;
  const last = args.at(-1);
  const arg = args[state.positional] ?? (last?.variadic ? last : undefined);
  if (!arg) return NOTHING;
  if (arg.argChoices) return choices(arg.argChoices, current);
  return valuesOf(argumentKind(cmd, arg) ?? 'none', current, names, state.positionals);
}

function choices(values: readonly string[], prefix: string): Completion {
  return {
    kind: 'words',
    candidates: values.filter((v) => v.startsWith(prefix)).map((value) => ({ value, description: '' })),
  };
}

/**
 * Splits a bash command line (up to the cursor) into words as the shell would, quotes
 * and backslashes removed; the last word is the one under the cursor ('' after a space).
 */
export function splitLine(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let quote: '"' | "'" | undefined;
  let started = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quote) {
      if (ch === quote) quote = undefined;
      else if (ch === '\\' && quote === '"' && i + 1 < line.length) word += line[++i];
      else word += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      started = true;
    } else if (ch === '\\' && i + 1 < line.length) {
      word += line[++i];
      started = true;
    } else if (/\s/.test(ch)) {
      if (started) words.push(word);
      word = '';
      started = false;
    } else {
      word += ch;
      started = true;
    }
  }
  words.push(word);
  return words;
}
