/** Helpers shared by the remote-till e2e tests (setup, sync). */
import { execFileSync, spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { bundleTill } from '../../scripts/bundle.mjs';
import type { TillRun } from '../lab/till.js';

export const LOCAL_VERSION: string = JSON.parse(readFileSync('package.json', 'utf8')).version;

/**
 * Builds the CLI again with another version baked in (as scripts/build.mjs does), so
 * a test can upgrade and downgrade hosts. Run it with `node <file>`.
 */
export async function buildVariant(version: string, dir: string): Promise<string> {
  const outfile = join(dir, `till-variant-${version}.mjs`);
  await bundleTill(resolve('src/cli/main.ts'), outfile, { __TILL_VERSION__: version });
  return outfile;
}

/** Runs a bundle other than the built one, as `node <file> args…`, with its own TILL_HOME. */
export function tillVariant(
  bundle: string,
  home: string,
  args: string[],
  opts: { onSpawn?: (child: ChildProcess) => void } = {},
): Promise<TillRun> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [bundle, ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, TILL_HOME: home, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    opts.onSpawn?.(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolvePromise({ code, signal, stdout, stderr }));
  });
}

const BASIC_TOOLS = [
  'sh',
  'bash',
  'mkdir',
  'mv',
  'chmod',
  'cat',
  'ls',
  'rm',
  'touch',
  'head',
  'tail',
  'tr',
  'stat',
  'sleep',
  'sed',
  'grep',
];

/** A PATH folder (readable by lab users) holding links to the basic tools and `extra`, and nothing else. */
export function pathWith(extra: string[]): string {
  const dir = mkdtempSync('/tmp/t-path-');
  chmodSync(dir, 0o755);
  for (const tool of [...BASIC_TOOLS, ...extra]) {
    const real = execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim();
    symlinkSync(real, join(dir, tool));
  }
  return dir;
}

/**
 * A PATH folder with the basic tools and rsync but no node, for a lab host "without
 * Node.js" (node itself lives in /usr/bin, which every default PATH has).
 */
export function pathWithoutNode(): string {
  return pathWith(['rsync']);
}

export function sshArgs(home: string, name: string, command: string): string[] {
  return ['-F', `${home}/ssh/config`, `till-${name}`, command];
}

export function sshOut(home: string, name: string, command: string): string {
  return execFileSync('ssh', sshArgs(home, name, command), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** What someone holding a copy of till's key runs: plain ssh and rsync with that key and none of till's config. */
export interface StolenKey {
  ssh(command: string | undefined, extra?: string[]): SpawnSyncReturns<string>;
  /** rsync with `HOST:` in an argument standing for the host. */
  rsync(args: string[]): SpawnSyncReturns<string>;
  /** The same, started in the background; `wrapper` (a program) is put before the ssh of rsync's -e. */
  rsyncAsync(args: string[], wrapper?: string): ChildProcess;
}

export function stolenKey(home: string, host: { user: string; address: string; port: number }): StolenKey {
  const opts = [
    '-i',
    `${home}/ssh/till_federation_ed25519`,
    '-F',
    '/dev/null',
    '-o',
    `UserKnownHostsFile=${home}/ssh/known_hosts`,
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    'IdentitiesOnly=yes',
  ];
  const shell = `ssh ${opts.join(' ')} -p ${host.port}`;
  const rsyncArgs = (args: string[], wrapper?: string) => [
    '-e',
    wrapper ? `${wrapper} ${shell}` : shell,
    ...args.map((a) => a.replace('HOST:', `${host.user}@${host.address}:`)),
  ];
  return {
    ssh: (command, extra = []) =>
      spawnSync(
        'ssh',
        [
          ...opts,
          '-p',
          String(host.port),
          ...extra,
          `${host.user}@${host.address}`,
          ...(command === undefined ? [] : [command]),
        ],
        {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
          timeout: 60_000,
        },
      ),
    rsync: (args) =>
      spawnSync('rsync', rsyncArgs(args), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 }),
    rsyncAsync: (args, wrapper) => spawn('rsync', rsyncArgs(args, wrapper), { stdio: ['ignore', 'pipe', 'pipe'] }),
  };
}
