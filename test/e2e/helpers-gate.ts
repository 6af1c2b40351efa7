/**
 * Helpers for attacking a restricted host: a lab host set up by the real `till host
 * setup --restrict` with the tightest policy, and a snapshot of everything its user can
 * write outside the deploy root and ~/.till (the attacks must leave it unchanged).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { GATE_UNKNOWN_SCRIPT } from '../../src/protocol/wire.js';
import { startLab, type Lab, type LabHost } from '../lab/lab.js';
import { tempHome, tillOk } from '../lab/till.js';
import type { SwitchParams } from '../../src/protocol/switch.js';
import { stolenKey, type StolenKey } from './helpers-remote.js';

/** The tightest policy a host owner can give till's key. */
export const TIGHTEST = { deployRoots: ['~/app'], upgrade: false, checks: [] as string[] };

/** The time and the release ids the attacks send. */
export const ATTACK_NOW = '2026-01-01T00:00:00.000Z';
export const attackId = (n: number) => `2026010${n}T000000Z-aaaaa${n}`;

/** deploy-switch's parameters as a stolen key sends them: release attackId(n) into ~/app, no hooks. */
export function attackSwitch(n: number, over: Partial<SwitchParams> = {}): SwitchParams {
  return {
    path: '~/app',
    id: attackId(n),
    previous: '',
    check: '',
    prune: [],
    run: 'atk',
    now: ATTACK_NOW,
    source: 'attacker',
    installation: '',
    shared: [],
    env: 'A=1\n',
    record: { host: 'h0', deployer: 'attacker', commit: '', dirty: '', message: '' },
    hooks: { run: false, timeoutSec: 300 },
    keepLock: false,
    ...over,
  };
}

export interface RestrictedHost {
  home: string;
  lab: Lab;
  host: LabHost;
  key: StolenKey;
}

/** One lab host, its key restricted by `till host setup --restrict`, then gate.json narrowed to TIGHTEST by its owner. */
export async function restrictedHost(): Promise<RestrictedHost> {
  const home = tempHome().home;
  await tillOk(home, ['host', 'init']);
  const lab = await startLab(1, { authorizedKey: readFileSync(`${home}/ssh/till_federation_ed25519.pub`, 'utf8') });
  const host = lab.hosts[0]!;
  await tillOk(home, ['host', 'add', 'h0', host.spec, '--tekton-path', '~/app']);
  await tillOk(home, ['host', 'setup', 'h0', '--restrict'], { timeoutMs: 180_000 });
  const gateJson = join(host.home, '.till/gate.json');
  writeFileSync(gateJson, `${JSON.stringify(TIGHTEST)}\n`);
  chownSync(gateJson, host.uid, host.gid);
  return { home, lab, host, key: stolenKey(home, host) };
}

function describeEntry(path: string): string {
  const st = lstatSync(path);
  if (st.isSymbolicLink()) return `link -> ${readlinkSync(path)}`;
  if (st.isDirectory()) return `dir ${(st.mode & 0o7777).toString(8)} ${st.uid}`;
  if (st.isFile())
    return `file ${(st.mode & 0o7777).toString(8)} ${st.uid} ${createHash('sha256').update(readFileSync(path)).digest('hex')}`;
  return `other ${st.mode.toString(8)}`;
}

/**
 * Everything the host's user could have written outside the deploy root (`~/app`,
 * `~/app.till`) and `~/.till`: its home, walked (directories by mode, files by content,
 * symlinks by target), and (unless `homeOnly`) whatever it owns in /tmp, /var/tmp and /dev/shm.
 */
export function outside(host: LabHost, opts: { homeOnly?: boolean } = {}): Map<string, string> {
  const allowed = new Set(['app', 'app.till', '.till'].map((n) => join(host.home, n)));
  const seen = new Map<string, string>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (allowed.has(path)) continue;
      seen.set(path, describeEntry(path));
      if (lstatSync(path).isDirectory()) walk(path);
    }
  };
  seen.set(host.home, describeEntry(host.home));
  walk(host.home);
  if (opts.homeOnly) return seen;
  const owned = execFileSync(
    'sh',
    ['-c', `find /tmp /var/tmp /dev/shm -xdev -maxdepth 4 -user ${host.uid} 2>/dev/null || true`],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  )
    .split('\n')
    .filter((p) => p !== '' && p !== host.home && !p.startsWith(`${host.home}/`));
  for (const p of owned) seen.set(p, 'owned by the host user');
  return seen;
}

/** What changed between two snapshots (empty: nothing). */
export function changes(before: Map<string, string>, after: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [p, v] of after) if (before.get(p) !== v) out.push(`${p}: ${before.get(p) ?? '(new)'} -> ${v}`);
  for (const p of before.keys()) if (!after.has(p)) out.push(`${p}: removed`);
  return out;
}

/**
 * Puts a stand-in for a gate older than this till in front of till's key on `host`: it
 * refuses, as an older gate does, every command containing `unknown` (a text it would
 * not know) and runs the rest with sh. Each decision is a line `refused` or `ran` of
 * `log()`. `restore()` puts the host's authorized_keys back. Close the host's ssh master
 * after each (one opened before would bypass the forced command).
 */
export function olderGate(tillHome: string, host: LabHost, unknown: string): { log(): string[]; restore(): void } {
  const dir = mkdtempSync('/tmp/t-og-');
  chmodSync(dir, 0o755);
  const gate = join(dir, 'oldgate');
  writeFileSync(
    gate,
    [
      '#!/bin/sh',
      `case "$SSH_ORIGINAL_COMMAND" in *${unknown}*) echo refused >> "$HOME/.older-gate"; echo "till gate: refused: ${GATE_UNKNOWN_SCRIPT}" >&2; exit 1 ;; esac`,
      'echo ran >> "$HOME/.older-gate"',
      'exec /bin/sh -c "$SSH_ORIGINAL_COMMAND"',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  const key = readFileSync(`${tillHome}/ssh/till_federation_ed25519.pub`, 'utf8').trim();
  host.shell(
    `cp .ssh/authorized_keys .ssh/ak.older-gate && printf '%s\\n' 'command="${gate}",restrict ${key}' > .ssh/authorized_keys && rm -f .older-gate`,
  );
  return {
    log: () =>
      host
        .shell('cat .older-gate 2>/dev/null || true')
        .split('\n')
        .filter((l) => l !== ''),
    restore: () => {
      host.shell('mv .ssh/ak.older-gate .ssh/authorized_keys && rm -f .older-gate');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
