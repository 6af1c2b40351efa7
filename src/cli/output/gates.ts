import { plural } from '../../core/format.js';
import { printable } from './terminal.js';

/**
 * The footnote of the fleet views (`host list`, `status`) naming the restricted hosts
 * whose till, and so whose till gate, is older than this till, and how to upgrade them.
 * A footnote and not a column: a column would be empty for nearly every fleet.
 */

/** Hosts named in the footnote; the rest are counted (`--json` lists them all). */
export const GATE_NOTE_NAMES = 10;
/** Characters of a host's version the footnote shows. */
const VERSION_SHOWN = 40;

export function outdatedGatesNote(
  hosts: ReadonlyArray<{ name: string; tillVersion: string | null }>,
  version: string,
  json: string,
): string | null {
  if (hosts.length === 0) return null;
  const named = hosts.slice(0, GATE_NOTE_NAMES);
  // The recorded version is what a host said: shown, not obeyed, and cut short (one
  // huge version must not push the table off the screen).
  const shown = (v: string | null) =>
    v === null ? '?' : printable(v.length > VERSION_SHOWN ? `${v.slice(0, VERSION_SHOWN)}…` : v);
  const list = named.map((h) => `${h.name} (${shown(h.tillVersion)})`).join(', ');
  const more = hosts.length > named.length ? `, and ${hosts.length - named.length} more (${json})` : '';
  const command =
    hosts.length > named.length ? 'till host setup <host>…' : `till host setup ${hosts.map((h) => h.name).join(' ')}`;
  return (
    `till gate older than this till (${version}) on ${plural(hosts.length, 'restricted host')}: ${list}${more}; ` +
    `fixes to the gate reach a host only when it runs a newer till: ${command}`
  );
}
