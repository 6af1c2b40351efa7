/**
 * The README's first command: `npm run demo` runs `node build/demo.mjs` after the build.
 * It must do till's main job on real lab hosts and leave nothing behind: no lab user,
 * no sshd, no lab folder, no TILL_HOME, whether it finishes, is interrupted, or dies.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { removeStaleLabUsers } from '../lab/lab.js';
import { processesMentioning, userExists } from '../lab/procs.js';
import { closeMasters, waitUntil } from '../lab/till.js';

interface DemoRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  home: string;
  labDir: string;
  users: string[];
}

/** Runs the built demo as `npm run demo` does; `onStderr` sees its progress (to interrupt it at a step). */
function runDemo(
  onStderr?: (stderr: string, child: ChildProcess) => void,
  env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME },
): Promise<DemoRun> {
  return new Promise((resolve, reject) => {
    // No NO_COLOR and no terminal: the demo must still print no escape codes.
    const child = spawn(process.execPath, ['build/demo.mjs'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      onStderr?.(stderr, child);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const lab = /^lab: (\/tmp\/tl-\S+) \(users ([^)]*)\)$/m.exec(stderr);
      resolve({
        code,
        signal,
        stdout,
        stderr,
        home: /TILL_HOME=(\S+)/.exec(stderr)?.[1] ?? '',
        labDir: lab?.[1] ?? '',
        users: lab?.[2]?.split(' ') ?? [],
      });
    });
  });
}

function expectNothingLeft(run: DemoRun): void {
  expect(run.home).toMatch(/^\/tmp\/t-/);
  expect(run.labDir).toMatch(/^\/tmp\/tl-/);
  expect(run.users).toHaveLength(3);
  for (const user of run.users) expect(userExists(user), `lab user ${user}`).toBe(false);
  expect(processesMentioning(`${run.labDir}/`), 'sshd of the lab').toEqual([]);
  expect(existsSync(run.labDir), run.labDir).toBe(false);
  expect(existsSync(run.home), run.home).toBe(false);
}

describe('npm run demo', () => {
  it('adds, tests and runs a command on three real hosts, then removes everything', async () => {
    const run = await runDemo();
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('demo finished: every step succeeded');
    expect(run.stderr).not.toContain('\x1b[');
    // host test, then exec on every host (as its own user), then the inventory
    expect(run.stdout).toMatch(/^3 hosts, 3 ok$/m);
    for (const user of run.users) expect(run.stdout).toMatch(new RegExp(`^demo-\\d \\| hello from ${user} on `, 'm'));
    expect(run.stdout.match(/^demo-\d\s+tl[0-9a-f]{8}@127\.\S+\s+connected\s/gm)).toHaveLength(3);
    expectNothingLeft(run);
  }, 300_000);

  it('stops at a failed host init, before starting any host', async () => {
    // Without ssh-keygen on PATH, host init cannot make a key.
    const run = await runDemo(undefined, { PATH: '/nonexistent', HOME: process.env.HOME });
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toContain('ssh-keygen is not installed');
    expect(run.stderr).toContain('demo stopped: till host init failed');
    expect(run.stderr).not.toContain('starting 3 throwaway sshd hosts');
    expect(run.home).toMatch(/^\/tmp\/t-/);
    expect(existsSync(run.home)).toBe(false);
  }, 120_000);

  it('interrupted (SIGINT) while adding hosts: exits 130 and still removes everything', async () => {
    let sent = false;
    const run = await runDemo((stderr, child) => {
      if (!sent && stderr.includes('# add host demo-1')) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    expect(sent).toBe(true);
    expect(run.code, run.stderr).toBe(130);
    expect(run.stderr).toContain('demo interrupted (SIGINT)');
    expectNothingLeft(run);
  }, 300_000);

  it('killed outright: the next lab start removes its hosts, users and folder', async () => {
    const run = await runDemo((stderr, child) => {
      if (stderr.includes('# add host demo-0')) child.kill('SIGKILL');
    });
    expect(run.signal).toBe('SIGKILL');
    expect(run.users).toHaveLength(3);
    // What the dead demo left: its users and listeners are still there.
    for (const user of run.users) expect(userExists(user)).toBe(true);
    expect(processesMentioning(`${run.labDir}/`).length).toBeGreaterThan(0);
    try {
      removeStaleLabUsers(); // startLab runs this first
      await waitUntil(() => processesMentioning(`${run.labDir}/`).length === 0, 20_000, 'the dead lab sshd to end');
      for (const user of run.users) expect(userExists(user), user).toBe(false);
      expect(existsSync(run.labDir)).toBe(false);
    } finally {
      await closeMasters(run.home);
    }
  }, 300_000);
});
