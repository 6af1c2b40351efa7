import { join } from 'node:path';
import { build, parse, type PlistValue } from 'plist';
import type { Cadence, TillInvocation } from './spec.js';

export const LAUNCHD_LABEL = 'com.till.sync';

export function launchdPlistPath(home: string): string {
  return join(home, 'Library', 'LaunchAgents', `${LAUNCHD_LABEL}.plist`);
}

export interface LaunchdJob {
  Label: string;
  ProgramArguments: string[];
  StartCalendarInterval?: { Hour: number; Minute: number };
  StartInterval?: number;
  EnvironmentVariables: { TILL_HOME: string; TZ?: string };
  StandardOutPath: string;
  StandardErrorPath: string;
}

export function launchdJob(inv: TillInvocation, cadence: Cadence): LaunchdJob {
  return {
    Label: LAUNCHD_LABEL,
    ProgramArguments: [inv.node, inv.script, 'sync', '--trigger', 'launchd'],
    ...(cadence.kind === 'daily'
      ? { StartCalendarInterval: { Hour: cadence.hour, Minute: cadence.minute } }
      : { StartInterval: cadence.hours * 3600 }),
    EnvironmentVariables: { TILL_HOME: inv.tillHome, ...(inv.tz ? { TZ: inv.tz } : {}) },
    StandardOutPath: join(inv.logsDir, 'sync.log'),
    StandardErrorPath: join(inv.logsDir, 'sync.log'),
  };
}

/** The plist text; the plist package escapes every value for XML. */
export function renderLaunchdPlist(inv: TillInvocation, cadence: Cadence): string {
  return `${build(launchdJob(inv, cadence) as unknown as PlistValue)}\n`;
}

export function parseLaunchdPlist(text: string): LaunchdJob {
  return parse(text) as unknown as LaunchdJob;
}

export function launchdLoadCommands(uid: number, file: string): string[][] {
  return [['launchctl', 'bootstrap', `gui/${uid}`, file]];
}

/** Older macOS without bootstrap/bootout: the legacy verbs. */
export function launchdLegacyLoadCommands(file: string): string[][] {
  return [['launchctl', 'load', '-w', file]];
}

export function launchdUnloadCommands(uid: number, file: string): string[][] {
  return [['launchctl', 'bootout', `gui/${uid}`, file]];
}

export function launchdLegacyUnloadCommands(file: string): string[][] {
  return [['launchctl', 'unload', '-w', file]];
}
