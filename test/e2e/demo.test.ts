/**
 * The README's first command: `npm run demo` runs `node build/demo.mjs` after the build.
 * It must take a fleet of real lab hosts through till's whole lifecycle (init, add, test,
 * setup, deploy, health, status, deploy again, rollback, releases), print the command of
 * each step, and leave nothing behind: no lab user, no sshd, no lab folder, no sample
 * tree, no TILL_HOME, whether it finishes, is interrupted, or dies.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
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
  site: string;
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
        home: /TILL_HOME=(\/tmp\/t-[^\s,]+)/.exec(stderr)?.[1] ?? '',
        site: /sample tree (\/tmp\/t-\S+)/.exec(stderr)?.[1] ?? '',
        labDir: lab?.[1] ?? '',
        users: lab?.[2]?.split(' ') ?? [],
      });
    });
  });
}

function expectNothingLeft(run: DemoRun): void {
  expect(run.home).toMatch(/^\/tmp\/t-/);
  expect(run.site).toMatch(/^\/tmp\/t-/);
  expect(existsSync(run.site), run.site).toBe(false);
  expect(run.labDir).toMatch(/^\/tmp\/tl-/);
  expect(run.users).toHaveLength(3);
  for (const user of run.users) expect(userExists(user), `lab user ${user}`).toBe(false);
  expect(processesMentioning(`${run.labDir}/`), 'sshd of the lab').toEqual([]);
  expect(existsSync(run.labDir), run.labDir).toBe(false);
  expect(existsSync(run.home), run.home).toBe(false);
}

describe('npm run demo', () => {
  it('takes three real hosts through the whole lifecycle, each step with its command, then removes everything', async () => {
    const run = await runDemo();
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('demo finished: every step succeeded');
    expect(run.stderr).not.toContain('\x1b[');
    // Every step is printed as the command a person types, in this order.
    const commands = [...run.stderr.matchAll(/^\$ (till .*)$/gm)].map((m) => m[1]!.replace(/\/tmp\/t-\w+/g, 'SITE'));
    expect(commands).toEqual([
      'till host init',
      ...[0, 1, 2].map((i) =>
        expect.stringMatching(
          new RegExp(`^till host add demo-${i} tl[0-9a-f]{8}@127\\.\\S+ --group demo --tekton-path '~/demo-site'$`),
        ),
      ),
      'till host test --group demo',
      'till host setup --group demo',
      'till host deploy --group demo --source SITE',
      "till host exec 'demo-*' -- 'cat ~/demo-site/index.html'",
      'till host health --group demo --load-max 50',
      'till status',
      'till host deploy --group demo --source SITE',
      "till host exec 'demo-*' -- 'cat ~/demo-site/index.html'",
      'till host rollback --group demo',
      "till host exec 'demo-*' -- 'cat ~/demo-site/index.html'",
      'till host releases demo-0',
    ]);
    expect(run.stderr).toMatch(/^\$ echo '<h1>demo site, version 2<\/h1>' > \/tmp\/t-\w+\/index.html$/m);
    // Every fleet step reached the three hosts (the summary says "3 hosts, 3 ok").
    expect(run.stdout.match(/^3 hosts, 3 ok$/gm)).toHaveLength(9);
    // The sample tree as the hosts serve it: version 1, the redeploy's version 2, the rollback's version 1.
    const served = [...run.stdout.matchAll(/^demo-0 \| <h1>demo site, version (\d)<\/h1>$/gm)].map((m) => m[1]);
    expect(served).toEqual(['1', '2', '1']);
    // status: every host deployed; releases: the rolled-back one and the current good one.
    expect(run.stdout.match(/^demo-\d\s+ok\s+deployed\s/gm)).toHaveLength(3);
    expect(run.stdout).toMatch(/^ {3}\d{8}T\d{6}Z-\w+\s+rolled-back\s/m);
    expect(run.stdout).toMatch(/^\* {2}\d{8}T\d{6}Z-\w+\s+good\s/m);
    expect(run.stderr).toContain('What to try next');
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

  it('interrupted (SIGINT) while deploying: exits 130 and still removes everything', async () => {
    let sent = false;
    const run = await runDemo((stderr, child) => {
      if (!sent && stderr.includes('$ till host deploy')) {
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
      rmSync(run.site, { recursive: true, force: true });
    }
  }, 300_000);
});
