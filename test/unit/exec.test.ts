import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EXEC_SCRIPT, execCommand } from '../../src/ops/exec.js';
import { waitUntil } from '../lab/till.js';

/** Runs the exec wrapper in a real sh in its own session (as sshd runs a session), stdin a pipe held open. */
function runWrapped(line: string) {
  const child = spawn('setsid', ['sh', '-c', execCommand(line)], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, SHELL: '/bin/sh' },
  });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  const done = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, done, stdout: () => stdout };
}
/** Whether any process runs `marker` (from /proc: no procps needed). */
const running = (marker: string) =>
  readdirSync('/proc').some((p) => {
    try {
      return /^\d+$/.test(p) && readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').join(' ').includes(marker);
    } catch {
      return false;
    }
  });

describe('host exec wrapper', () => {
  it('is one line (a csh login shell cannot take a newline inside quotes)', () => {
    expect(EXEC_SCRIPT).not.toContain('\n');
  });

  it('runs the line exactly as written and passes its exit code through', async () => {
    const run = runWrapped(`printf '%s|' "a b" '$HOME'; echo; exit 7`);
    const code = await run.done;
    run.child.stdin.destroy();
    expect(code).toBe(7);
    expect(run.stdout()).toBe('a b|$HOME|\n');
  });

  it('gives the command end-of-file on stdin, not the held-open session stdin', async () => {
    const run = runWrapped('cat; echo "cat=$?"');
    expect(await run.done).toBe(0);
    run.child.stdin.destroy();
    expect(run.stdout()).toBe('cat=0\n');
  });

  it('ends the command and its children when the session stdin closes (the ssh session went away)', async () => {
    const marker = `sleep 4${Math.floor(Math.random() * 9000 + 1000)}`;
    const run = runWrapped(`echo started; ${marker}; echo never`);
    await waitUntil(() => run.stdout().includes('started') && running(marker), 10_000, 'the command to start');
    run.child.stdin.end();
    await run.done;
    await waitUntil(() => !running(marker), 10_000, `${marker} to end`);
    expect(run.stdout()).toBe('started\n');
  });
});
