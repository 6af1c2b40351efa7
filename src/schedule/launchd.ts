import { join } from 'node:path';
import { schedulerPath } from './cron.js';
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
  EnvironmentVariables: { TILL_HOME: string; TZ?: string; PATH?: string };
  StandardOutPath: string;
  StandardErrorPath: string;
}

/** The agent runs `till schedule run`, so a sync that fails before it records itself is still recorded. */
export function launchdJob(inv: TillInvocation, cadence: Cadence): LaunchdJob {
  const path = schedulerPath(inv.path);
  return {
    Label: LAUNCHD_LABEL,
    ProgramArguments: [inv.node, inv.script, 'schedule', 'run', '--trigger', 'launchd'],
    ...(cadence.kind === 'daily'
      ? { StartCalendarInterval: { Hour: cadence.hour, Minute: cadence.minute } }
      : { StartInterval: cadence.hours * 3600 }),
    EnvironmentVariables: {
      TILL_HOME: inv.tillHome,
      ...(inv.tz ? { TZ: inv.tz } : {}),
      ...(path ? { PATH: path } : {}),
    },
    StandardOutPath: join(inv.logsDir, 'sync.log'),
    StandardErrorPath: join(inv.logsDir, 'sync.log'),
  };
}

function xml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function plistValue(v: unknown, indent: string): string {
  if (typeof v === 'string') return `${indent}<string>${xml(v)}</string>`;
  if (typeof v === 'number') return `${indent}<integer>${Math.trunc(v)}</integer>`;
  if (typeof v === 'boolean') return `${indent}<${v}/>`;
  if (Array.isArray(v))
    return [`${indent}<array>`, ...v.map((x) => plistValue(x, `${indent}  `)), `${indent}</array>`].join('\n');
  const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
  return [
    `${indent}<dict>`,
    ...entries.flatMap(([k, x]) => [`${indent}  <key>${xml(k)}</key>`, plistValue(x, `${indent}  `)]),
    `${indent}</dict>`,
  ].join('\n');
}

/**
 * The plist text, every value XML-escaped. Written here rather than with the plist
 * package: its XML parser costs every till command ~20 ms of start-up; only reading a
 * plist back (parseLaunchdPlist) loads it.
 */
export function renderLaunchdPlist(inv: TillInvocation, cadence: Cadence): string {
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    '<plist version="1.0">',
    plistValue(launchdJob(inv, cadence), '  '),
    '</plist>',
    '',
  ].join('\n');
}

export async function parseLaunchdPlist(text: string): Promise<LaunchdJob> {
  const { parse } = await import('plist');
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
