import type { HostEntry, HostsFile } from '../core/state/hosts.js';
import { reachabilityOf } from '../metrics/fleet.js';

/**
 * What the watch daemon logs after each health run: how many hosts are up, degraded and
 * down, and every host whose state changed since the last run (down, with the reason;
 * up again; down for another reason). Read from the database, with the rule /metrics
 * uses for `till_host_up`, so the log and the metrics never disagree. Pure.
 */
export type HostCondition = 'up' | 'degraded' | 'down' | 'unknown';

export interface HostState {
  condition: HostCondition;
  /** Why a host is down or degraded ('' when up). */
  reason: string;
}

function downReason(entry: HostEntry): string {
  const fromHealth = entry.health && !entry.health.up ? entry.health.reasons[0] : undefined;
  return (fromHealth ?? entry.last_error ?? 'unreachable').replace(/^down: /, '');
}

export function hostState(entry: HostEntry): HostState {
  const up = reachabilityOf(entry);
  if (up === null) return { condition: 'unknown', reason: '' };
  if (!up) return { condition: 'down', reason: downReason(entry) };
  if (entry.health?.up && entry.health.degraded)
    return { condition: 'degraded', reason: entry.health.reasons.join('; ') };
  return { condition: 'up', reason: '' };
}

export function hostStates(db: HostsFile): Map<string, HostState> {
  const out = new Map<string, HostState>();
  for (const name of Object.keys(db.hosts).sort()) out.set(name, hostState(db.hosts[name]!));
  return out;
}

export function countsLine(states: ReadonlyMap<string, HostState>): string {
  const n: Record<HostCondition, number> = { up: 0, degraded: 0, down: 0, unknown: 0 };
  for (const s of states.values()) n[s.condition] += 1;
  return `${n.up} up, ${n.degraded} degraded, ${n.down} down${n.unknown ? `, ${n.unknown} never contacted` : ''}`;
}

/**
 * One line per host whose state changed from `before` (undefined: the first run, when
 * every host that is not up is named). A degraded host's reasons hold live numbers
 * (load, free disk), so only its entering or leaving `degraded` is a change; a down
 * host's reason (refused, no answer, key changed…) is one.
 */
export function stateChanges(
  before: ReadonlyMap<string, HostState> | undefined,
  after: ReadonlyMap<string, HostState>,
): string[] {
  const lines: string[] = [];
  for (const [name, now] of after) {
    const was = before?.get(name);
    if (was === undefined) {
      if (now.condition === 'down' || now.condition === 'degraded')
        lines.push(`${name} is ${now.condition}: ${now.reason}`);
      continue;
    }
    if (was.condition === now.condition) {
      if (now.condition === 'down' && was.reason !== now.reason)
        lines.push(`${name} is still down, now: ${now.reason}`);
      continue;
    }
    if (now.condition === 'up') lines.push(`${name} is up again (was ${was.condition})`);
    else if (now.condition === 'down' || now.condition === 'degraded')
      lines.push(`${name} is ${now.condition}: ${now.reason}`);
  }
  return lines;
}
