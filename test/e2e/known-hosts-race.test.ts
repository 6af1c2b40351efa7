/**
 * `host forget` rewriting known_hosts while ssh, for another till's first contact, appends
 * a key it just learned: the rewrite must not erase that key.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../lab/lab.js';
import { closeMasters, homeWithHosts, leftovers, TILL_BIN, tillOk } from '../lab/till.js';

let home: string;
let lab: Lab;
const known = () => readFileSync(join(home, 'ssh', 'known_hosts'), 'utf8');

beforeAll(async () => {
  ({ home, lab } = await homeWithHosts(2, 'h'));
}, 120_000);

afterAll(async () => {
  await closeMasters(home);
  lab?.stop();
});

describe('host forget racing a first contact', () => {
  it('keeps the key ssh appended while forget wrote its temp file', async () => {
    await tillOk(home, ['host', 'test', 'h0']);
    const port1 = lab.hosts[1]!.spec.split(':').pop()!;
    expect(known()).not.toContain(`]:${port1} `);
    // forget h0 with every fsync (its temp file's, before the rename) held 3 s by strace
    const forget = new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const c = spawn(
        'strace',
        ['-f', '-b', 'execve', '-o', '/dev/null', '-e', 'trace=fsync', '-e', 'inject=fsync:delay_enter=3000000'].concat(
          [process.execPath, TILL_BIN, 'host', 'forget', 'h0'],
        ),
        { env: { PATH: process.env.PATH, HOME: process.env.HOME, TILL_HOME: home, NO_COLOR: '1' } },
      );
      let stderr = '';
      c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      c.on('close', (code) => resolve({ code, stderr }));
    });
    await new Promise((r) => setTimeout(r, 1200));
    await tillOk(home, ['host', 'test', 'h1']);
    expect(known()).toContain(`]:${port1} `);
    const f = await forget;
    expect(f.code, f.stderr).toBe(0);
    const port0 = lab.hosts[0]!.spec.split(':').pop()!;
    expect(known()).toContain(`]:${port1} `);
    expect(known()).not.toContain(`]:${port0} `);
    expect(leftovers(home)).toEqual([]);
  }, 60_000);
});
