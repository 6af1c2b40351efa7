/**
 * `till watch --keep-warm`'s command sessions against real sshd hosts: `host exec` over
 * them gives what it gives without the daemon (stdout, stderr, exit codes, --json), the
 * sessions are really used, a session killed on the host or mid-command is handled
 * (fallback; never a second run), restricted and not-ready hosts are never held, and
 * with the daemon stopped the normal path runs. Every wait polls; no sleeps.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, lstatSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../lab/lab.js';
import { closeMasters, keepWarmFleet, till, tillOk, waitUntil, type TillRun } from '../lab/till.js';
import { warmSessionCommand } from '../../src/watch/warm-wire.js';
import { shJoin } from '../../src/protocol/quote.js';

let lab: Lab;
let home: string;
let watch: Promise<TillRun> | undefined;
const log = () => {
  const file = join(home, 'logs', 'watch.log');
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
};
const socket = () => join(home, 'watch.sock');
/** The session loops running as a host's user (what `watch --keep-warm` holds there). */
const loops = (i: number) =>
  (spawnSync('pgrep', ['-u', lab.hosts[i]!.user, '-f', 'TILL_WARM_READY'], { encoding: 'utf8' }).stdout ?? '')
    .split('\n')
    .filter(Boolean);
/**
 * A command that says how it ran: 1 under a session's loop (an ancestor of the command
 * is the loop), 0 under sshd. Argv words, so any login shell (bash, tcsh) runs it alike.
 */
const VIA_SCRIPT =
  "p=$PPID; n=0; while [ \"$p\" -gt 1 ]; do tr '\\0' ' ' </proc/$p/cmdline | grep -q TILL_WARM_READY && n=1; " +
  "p=$(awk '/^PPid/{print $2}' /proc/$p/status); done; echo $n";
const VIA = ['sh', '-c', VIA_SCRIPT];
const via = async (hosts: string[], extra: string[] = []) => {
  const r = await till(home, ['host', 'exec', ...hosts, ...extra, '--json', '--', ...VIA]);
  const doc = JSON.parse(r.stdout) as { results: Array<{ host: string; stdout: string }> };
  return Object.fromEntries(doc.results.map((x) => [x.host, x.stdout.trim()]));
};

/** A --json document without what differs between any two runs (durations, times). */
function stable(json: string): unknown {
  return JSON.parse(json, (key, value: unknown) =>
    /ms$|Ms$|duration|started|ended|finished|time|at$/i.test(key) ? undefined : value,
  );
}

/**
 * A run's text without what differs between any two runs: durations, and the order in
 * which hosts finished (lines are sorted by their first word, stably: one host's lines
 * keep their order).
 */
function text(out: string): string {
  const lines = out.replace(/\b\d+(\.\d+)?(ms|s)\b/g, 'T').split('\n');
  return (
    lines
      .map((l, i) => ({ l, i, k: /^\S+/.exec(l.replace(/^\[\d+\/\d+\] /, ''))?.[0] ?? '' }))
      .sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : a.i - b.i))
      // The summary table's columns are as wide as their longest duration.
      .map((x) => (x.l.includes(' | ') ? x.l : x.l.replace(/ +/g, ' ').replace(/^\[\d+\/\d+\] /, '[n] ')))
      .join('\n')
  );
}

beforeAll(async () => {
  // h0 restricted to the gate, h1 and h2 till-ready, h3 only connected.
  ({ home, lab } = await keepWarmFleet());
}, 240_000);

afterAll(async () => {
  if (watch) {
    await till(home, ['watch', '--stop']);
    await watch;
  }
  await closeMasters(home);
  lab?.stop();
});

// Each case: the command line (one argument, or argv words) and its flags.
const CASES: Array<{ what: string; args: string[] }> = [
  { what: 'output without a trailing newline', args: ['h1', 'h2', '--', "printf 'no newline'"] },
  { what: 'stderr and a non-zero exit', args: ['h1', 'h2', '--', 'echo out; echo err >&2; exit 3'] },
  {
    what: 'a line with quotes, $ and newlines',
    args: ['h1', '--', `printf '%s|' "a'b" 'c"d' '$HOME' "\\$x"\necho "$HOME"\n\npwd; echo "$SHELL"\n`],
  },
  { what: 'argv words with spaces and quotes', args: ['h2', '--', 'printf', '[%s]', "it's", 'a b', '$PATH'] },
  { what: 'a command reading stdin gets end-of-file', args: ['h1', '--', 'cat; echo "rc=$?"'] },
  { what: 'bytes that are not text, and a large output', args: ['h2', '--', "printf '\\000\\001\\377'; seq 1 200000"] },
  { what: 'the restricted and the not-ready host (normal path)', args: ['h0', 'h3', '--', 'echo hi'] },
];

describe('host exec over watch --keep-warm sessions', { timeout: 300_000 }, () => {
  it('runs over the sessions with the same outputs, exit codes and --json as without the daemon; falls back safely', async () => {
    // Without the daemon: the reference.
    const reference: TillRun[] = [];
    const referenceJson: unknown[] = [];
    for (const c of CASES) {
      reference.push(await till(home, ['host', 'exec', ...c.args]));
      referenceJson.push(stable((await till(home, ['host', 'exec', '--json', ...c.args])).stdout));
    }
    expect(reference[1]!.code).toBe(1);
    expect(reference[0]!.stdout).toMatch(/no newline/);

    watch = till(home, ['watch', '--keep-warm', '--keep-warm-interval', '1s'], { timeoutMs: 280_000 });
    await waitUntil(async () => existsSync(socket()) && (await via(['h1', 'h2'])).h2 === '1', 60_000, 'sessions').catch(
      (err: Error) => {
        throw new Error(`${err.message}\n${log()}`);
      },
    );
    // The socket is the user's alone, in a 0700 TILL_HOME.
    expect(lstatSync(socket()).mode & 0o777).toBe(0o600);
    expect(statSync(home).mode & 0o777).toBe(0o700);
    expect(await via(['h1', 'h2', 'h3'])).toEqual({ h1: '1', h2: '1', h3: '0' });
    // One session per held host; none for the restricted host or the one that is not till-ready.
    expect(loops(1)).toHaveLength(1);
    expect(loops(2)).toHaveLength(1);
    expect(loops(0)).toEqual([]);
    expect(loops(3)).toEqual([]);
    // A restricted key could not hold one anyway: its gate refuses the loop.
    const gated = spawnSync('ssh', ['-F', join(home, 'ssh', 'config'), '-T', 'till-h0', warmSessionCommand('x')], {
      encoding: 'utf8',
      input: 'Ltouch ~/pwned\n',
      timeout: 30_000,
    });
    expect(gated.stderr).toMatch(/till gate: refused/);
    expect(existsSync(join(lab.hosts[0]!.home, 'pwned'))).toBe(false);
    // Another local user cannot reach the socket (TILL_HOME is 0700, the socket 0600).
    const other = lab.addUser();
    const reach = spawnSync(
      'setpriv',
      [
        `--reuid=${other.uid}`,
        `--regid=${other.gid}`,
        '--clear-groups',
        process.execPath,
        '-e',
        'require("net").connect(process.argv[1]).on("connect", () => process.exit(0)).on("error", (e) => { console.error(e.code); process.exit(3); })',
        socket(),
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    expect({ code: reach.status, err: reach.stderr.trim() }).toEqual({ code: 3, err: 'EACCES' });

    for (const [i, c] of CASES.entries()) {
      const r = await till(home, ['host', 'exec', ...c.args]);
      expect({ what: c.what, code: r.code, stdout: text(r.stdout), stderr: text(r.stderr) }).toEqual({
        what: c.what,
        code: reference[i]!.code,
        stdout: text(reference[i]!.stdout),
        stderr: text(reference[i]!.stderr),
      });
      const j = await till(home, ['host', 'exec', '--json', ...c.args]);
      expect({ what: c.what, json: stable(j.stdout) }).toEqual({ what: c.what, json: referenceJson[i] });
    }
    // Still the sessions (nothing fell back to ssh on the way), and --live takes ssh.
    expect(await via(['h1', 'h2'])).toEqual({ h1: '1', h2: '1' });
    expect(await via(['h1', 'h2'], ['--live'])).toEqual({ h1: '0', h2: '0' });

    // Two CLIs at once: a busy session sends the other CLI to ssh; both get their output.
    const slow = `sleep 2; echo x; ${shJoin(VIA)}`;
    const [a, b] = await Promise.all([
      till(home, ['host', 'exec', 'h1', '--json', '--', slow]),
      till(home, ['host', 'exec', 'h1', '--json', '--', slow]),
    ]);
    const outs = [a, b].map((r) => (JSON.parse(r.stdout) as { results: Array<{ stdout: string }> }).results[0]!.stdout);
    expect(outs.sort()).toEqual(['x\n0\n', 'x\n1\n']);

    // The session's loop killed on the host: that host takes ssh, and the session comes back.
    const user1 = lab.hosts[1]!.user;
    execFileSync('pkill', ['-KILL', '-u', user1, '-f', 'TILL_WARM_READY']);
    const fallback = await tillOk(home, ['host', 'exec', 'h1', '--', 'echo fine']);
    expect(fallback.stdout).toMatch(/fine/);
    await waitUntil(async () => (await via(['h1'])).h1 === '1', 60_000, 'h1 session re-opened');

    // Killed while a command runs: the host fails with a clear message, and the command
    // (which may have started) is not run a second time.
    const counter = join(lab.hosts[2]!.home, 'runs');
    const pending = till(home, ['host', 'exec', 'h2', '--', 'echo run >> ~/runs; sleep 3']);
    await waitUntil(() => existsSync(counter), 30_000, 'the command started');
    execFileSync('pkill', ['-KILL', '-u', lab.hosts[2]!.user, '-f', 'TILL_WARM_READY']);
    const broken = await pending;
    expect(broken.code).toBe(1);
    expect(broken.stderr + broken.stdout).toMatch(
      /session broke while the command ran.*it may have run, so it was not run again/s,
    );
    await new Promise((r) => setTimeout(r, 3500));
    expect(readFileSync(counter, 'utf8')).toBe('run\n');

    // A socket that is not the user's is not used.
    await waitUntil(async () => (await via(['h2'])).h2 === '1', 60_000, 'h2 session re-opened');
    chownSync(socket(), 65534, 65534);
    expect(await via(['h2'])).toEqual({ h2: '0' });
    chownSync(socket(), process.getuid!(), process.getgid!());
    expect(await via(['h2'])).toEqual({ h2: '1' });

    // A tcsh login shell: the loop starts through it (one line), and the command runs in it.
    const user2 = lab.hosts[2]!.user;
    execFileSync('/usr/sbin/usermod', ['-s', '/usr/bin/tcsh', user2]);
    try {
      // sshd reads the login shell once per connection: the master goes (and its session with it).
      spawnSync('ssh', ['-F', join(home, 'ssh', 'config'), '-O', 'exit', 'till-h2']);
      await waitUntil(() => loops(2).length === 0, 30_000, 'h2 session gone with its master');
      await waitUntil(async () => (await via(['h2'])).h2 === '1', 60_000, 'h2 session re-opened under tcsh');
      const t = await till(home, ['host', 'exec', 'h2', '--json', '--', 'echo $shell; exit 3']);
      expect(JSON.parse(t.stdout).results[0]).toMatchObject({
        status: 'failed',
        exitCode: 3,
        stdout: '/usr/bin/tcsh\n',
      });
    } finally {
      execFileSync('/usr/sbin/usermod', ['-s', '/bin/bash', user2]);
    }

    // Stopped: the sessions and the socket are gone; the normal path runs.
    expect((await till(home, ['watch', '--stop'])).code).toBe(0);
    expect((await watch).code).toBe(0);
    watch = undefined;
    expect(existsSync(socket())).toBe(false);
    expect(loops(1)).toEqual([]);
    expect(loops(2)).toEqual([]);
    expect(await via(['h1', 'h2'])).toEqual({ h1: '0', h2: '0' });
  });
});
