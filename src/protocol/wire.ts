import type { ARG, ArgType } from './args.js';
import type { CheckName } from './checks.js';
import { shJoin, shQuote } from './quote.js';

/**
 * The wire between a controller and a host: how an operation's text travels, how its
 * output is marked, how `~/` is expanded, and what a gate's refusal looks like. Every
 * remote operation of till is declared with the types below, in one module of this
 * package per operation family, and listed in registry.ts.
 *
 * A text that a gate allows is part of the protocol with tills already installed on
 * hosts: a version is written out as literal text (frozen(), oneLine()) and never
 * changed or rebuilt from pieces a newer version shares. test/unit/allowlist-frozen.test.ts
 * pins the sha256 of every registered text.
 */

/** One version of an operation's text, as the controller sends it and the gate checks it. */
export interface Version<P> {
  /** The gate's name for this text (gate.log, refusals, tests). */
  name: string;
  /** `script`: sent as `sh -c TEXT till ARG…`; `line`: sent as it is, with no arguments. */
  form: 'script' | 'line';
  text: string;
  /** The type of each positional argument ("$1", "$2", …): the gate checks every one. */
  args: readonly ArgType[];
  /** The positional arguments for these parameters, in order. */
  encode(params: P): string[];
  /** A rule across arguments (two keys that must differ…, checks.ts), checked after each argument's own type. */
  check?: CheckName;
  /** Installs code the gate will run: refused when gate.json says "upgrade": false. */
  upgrade?: boolean;
  /**
   * Why a current gate no longer runs this version (a newer one fixes it). It stays
   * registered and frozen: a newer controller still sends it to an older gate, which
   * knows nothing newer.
   */
  retired?: string;
  /** Why no gate ever runs this version (it is only sent over an unrestricted key). */
  ungated?: string;
}

/**
 * What a gate knows of a version it runs (src/protocol/gate-table.ts, generated from the
 * registry): everything but its text, which the gate takes from the client once the
 * text's sha256 matched.
 */
export interface GateEntry {
  name: string;
  form: 'script' | 'line';
  /** The type of each positional argument, by its name in args.ts's ARG. */
  args: readonly (keyof typeof ARG)[];
  check?: CheckName;
  upgrade?: true;
  retired?: string;
}

/** A remote operation: its versions, newest first (what a controller sends, then its fallbacks for older gates). */
export interface Operation<P, R> {
  name: string;
  versions: readonly Version<P>[];
  /** Reads what the operation printed on stdout. */
  parse(stdout: string): R;
}

/** `$0` of every script: what `sh -c TEXT till ARG…` names its script. */
export const SCRIPT_ARG0 = 'till';

/** The one shape in which a script travels: `sh -c 'TEXT' till 'ARG'…`, each value quoted once. */
export function remoteScript(text: string, args: readonly string[] = []): string {
  return `sh -c ${shQuote(text)} ${shJoin([SCRIPT_ARG0, ...args])}`;
}

/** The command line of one version with its encoded arguments. */
export function commandLine<P>(version: Version<P>, params: P): string {
  return version.form === 'line' ? version.text : remoteScript(version.text, version.encode(params));
}

// ---------------------------------------------------------------- csh and tcsh login shells

let octal: string[] | undefined;

/** printf %b's text for these bytes: letters, digits and `_./,:=+-` as they are, every other byte as `\0ooo`. */
function octalEscaped(value: string): string {
  octal ??= Array.from({ length: 256 }, (_, b) => {
    const c = String.fromCharCode(b);
    return /[A-Za-z0-9_./,:=+-]/.test(c) ? c : `\\0${b.toString(8).padStart(3, '0')}`;
  });
  const table = octal;
  let out = '';
  for (const b of Buffer.from(value, 'utf8')) out += table[b]!;
  return out;
}

/**
 * The same script and arguments as remoteScript's, in one line that a csh or tcsh login
 * shell passes to sh unchanged. Those shells cannot take a newline inside quotes: they
 * complain ("Unmatched '.") of the line that opens the quote and go on to run the lines
 * after it themselves, so a multi-line text (or argument) cannot travel as `sh -c
 * 'TEXT' till 'ARG'…`. Here sh rebuilds TEXT and each argument byte for byte with
 * printf's %b from octal escapes (no newline, quote, `$`, `!` or backslash is left; an
 * argument gets a `.` after it that is taken off again, as `$(…)` drops trailing
 * newlines), sets them as the positional arguments, before any the caller appends
 * (rsync's server arguments after an --rsync-path), and runs TEXT with eval, $0 `till`.
 *
 * Only for a host without a gate: a gate knows each text in remoteScript's shape and
 * refuses this one. Undefined for a one-line text and arguments (they already travel).
 */
export function cshSafeLine<P>(version: Version<P>, params: P): string | undefined {
  if (version.form === 'line') return undefined;
  const args = version.encode(params);
  if (![version.text, ...args].some((v) => /[\r\n]/.test(v))) return undefined;
  const names = args.map((_, i) => `till_a${i}`);
  const wrapper = [
    ...args.map((a, i) => `${names[i]}=$(printf %b "${octalEscaped(a)}.")`),
    `set -- ${names.map((n) => `"\${${n}%.}"`).join(' ')} "$@"`,
    ...(names.length > 0 ? [`unset ${names.join(' ')}`] : []),
    `eval "$(printf %b "${octalEscaped(version.text)}")"`,
  ].join('; ');
  return remoteScript(wrapper);
}

/** What a csh or tcsh login shell says of a newline inside quotes (tcsh 6.24: "Unmatched '''."). */
const CSH_UNMATCHED_RE = /^Unmatched ['"`]+\.$/;

/**
 * Whether a csh or tcsh login shell took the line: its first word on stderr is that a
 * quote was unmatched (it then may have run lines of the text itself, whatever its exit
 * code and output). Only the first line: the shell says it before anything of the text
 * runs, and a script that ran (a hook, a --check) may print those words later, and must
 * not be sent again.
 */
export function cshRefused(stderr: string): boolean {
  const first = stderr.split('\n').find((l) => l.trim() !== '');
  return first !== undefined && CSH_UNMATCHED_RE.test(first.trim());
}

/** A multi-line frozen text written as a template literal: without its first and last newline. */
export function frozen(text: string): string {
  return text.slice(1, -1);
}

/**
 * A frozen text that travels as one line, written one statement per line: a csh or tcsh
 * login shell cannot take a newline inside the quoted `sh -c` argument.
 */
export function oneLine(text: string): string {
  return frozen(text).split('\n').join('; ');
}

// ---------------------------------------------------------------- markers

/**
 * The marker dialect of every script written since the protocol package: lines
 * `TILL_<WORD>` or `TILL_<WORD> <value>` on stdout (stderr carries what a person
 * reads, and `TILL_ERROR <why>` for a failure). Older frozen texts keep the dialect
 * they were written in (setup's and health's `key=value` lines, the audit's records);
 * their operations parse them.
 */
export const MARKER_RE = /^TILL_([A-Z][A-Z0-9_]*)(?: (.*))?$/;

export interface Markers {
  /** Markers printed without a value. */
  flags: Set<string>;
  /** Values of markers printed with one, in order. */
  values: Map<string, string[]>;
}

/**
 * Reads the marker lines of a script's output; anything else is ignored. A login shell
 * that greets without a newline glues its text to the first line, so a first line that
 * only ends with a marker is read too.
 */
export function parseMarkers(stdout: string): Markers {
  const flags = new Set<string>();
  const values = new Map<string, string[]>();
  const lines = stdout.split('\n');
  lines.forEach((raw, i) => {
    let line = raw.replace(/\r$/, '');
    if (i === 0 && !line.startsWith('TILL_')) {
      const at = line.indexOf('TILL_');
      if (at > 0 && MARKER_RE.test(line.slice(at))) line = line.slice(at);
    }
    const m = MARKER_RE.exec(line);
    if (!m) return;
    if (m[2] === undefined) flags.add(m[1]!);
    else {
      const list = values.get(m[1]!) ?? [];
      list.push(m[2]);
      values.set(m[1]!, list);
    }
  });
  return { flags, values };
}

/** The first value of a marker, if printed. */
export function markerValue(m: Markers, word: string): string | undefined {
  return m.values.get(word)?.[0];
}

/**
 * Where the line holding `marker` is among a remote command's output lines. A login
 * shell that prints without a newline ("welcome ") glues its noise to the command's
 * first line, so the marker may end a line rather than be one.
 */
export function markerLine(lines: readonly string[], marker: string): number {
  return lines.findIndex((l) => l.trimEnd().endsWith(marker));
}

// ---------------------------------------------------------------- ~/

/**
 * The one `~/` expansion in sh: "$1", a path as stored (`~/x` or `/abs`), becomes P.
 * Every script written since the protocol package starts with this line (a unit test
 * checks it); older frozen texts keep their own.
 */
export const HOME_EXPANSION_SH = 'case $1 in "~/"*) P=$HOME/${1#"~/"} ;; *) P=$1 ;; esac';

/** The one `~/` expansion in TS: `~/x` (or `~`) against an absolute home; other paths unchanged. */
export function expandHome(path: string, home: string): string {
  if (path === '~') return home;
  return path.startsWith('~/') ? `${home.replace(/\/+$/, '')}/${path.slice(2)}` : path;
}

// ---------------------------------------------------------------- the gate's words

/** How `till gate` (a restricted key's forced command) starts its refusal on stderr. */
export const GATE_REFUSED = 'till gate: refused:';

/** The gate's reason for a text it does not know: a controller newer than the host's till, usually. */
export const GATE_UNKNOWN_SCRIPT = "a script that is not one of till's own";

/**
 * What a gate's refusal of key-add, key-remove or restrict-v2 says of an authorized_keys
 * that is a symlink or has other hard links (src/gate/decide.ts): the controller knows
 * the refusal by it, and says what to do.
 */
export const GATE_KEY_FILE_MANAGED = 'is a file managed elsewhere (a symlink, or a file with other hard links)';

/**
 * The one line till sends that is no operation: `host setup --restrict` sends it after
 * restricting the key, and a gate must refuse it, which proves the gate is in front.
 * Where no gate is (the restriction did not take), a shell runs it and it does nothing.
 */
export const GATE_PROBE = 'true till-gate-probe';

/** Set to 1 in the environment of what the gate runs, so a script can tell it ran through the gate (doctor says so). */
export const GATE_ENV = 'TILL_GATE';

/** The gate's reason, when a restricted host's gate refused the command. */
export function gateRefusal(stderr: string): string | undefined {
  const line = stderr.split('\n').find((l) => l.startsWith(GATE_REFUSED));
  return line === undefined ? undefined : line.slice(GATE_REFUSED.length).trim();
}
