/**
 * The fleet commands as a person runs them (the built CLI), against 10 real sshd
 * hosts: targets and groups, parallel exec, retries, unreachable hosts, hanging hosts,
 * Ctrl-C, --json, quoting, and doctor.
 */
import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLab, type Lab, type LabHost } from '../lab/lab.js';
import { closeMasters, TILL_BIN, tempHome, till, tillOk, waitUntil, type TillRun } from '../lab/till.js';

interface JsonResult {
  host: string;
  ok: boolean;
  status: string;
  exitCode: number | null;
  stdout: string;
  stderr: string;
  attempts: number;
  durationMs: number;
  error: string | null;
}
interface FleetJson {
  ok: boolean;
  summary: { total: number; ok: number; failed: number; unreachable: number; skipped: number };
  results: JsonResult[];
}

const NAMES = ['web-1', 'web-2', 'web-3', 'web-4', 'web-5', 'web-6', 'db-1', 'db-2', 'api', 'batch'];
let lab: Lab;
let home: string;
let publicKey: string;
const hostOf = (name: string): LabHost => lab.hosts[NAMES.indexOf(name)]!;
const byHost = (doc: FleetJson) => Object.fromEntries(doc.results.map((r) => [r.host, r]));
/** Parses stdout whole: proves it holds one JSON document and nothing else. */
const parse = (stdout: string): FleetJson => JSON.parse(stdout) as FleetJson;
const showJson = async (name: string) =>
  JSON.parse((await tillOk(home, ['host', 'show', name, '--json'])).stdout) as {
    status: string;
    previous_status?: string;
    failures?: number;
  };
/** Ends a host's master, so the next call makes a fresh connection. */
const closeMaster = (name: string) => {
  try {
    execFileSync('ssh', ['-F', `${home}/ssh/config`, '-O', 'exit', `till-${name}`], {
      stdio: 'ignore',
      timeout: 10_000,
    });
  } catch {
    // no master
  }
};

/** Command lines of a lab user's processes that match `pattern` (the host side of a run), from /proc. */
const remoteProcesses = (name: string, pattern: RegExp): string[] => {
  const uid = String(hostOf(name).uid);
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const owner = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
      if (owner === uid && pattern.test(cmd)) found.push(cmd);
    } catch {
      // the process ended meanwhile
    }
  }
  return found;
};
/** A folder every lab user can write: hosts of one run meet there (they share this machine). */
const meetingPoint = (): string => {
  const dir = mkdtempSync('/tmp/t-meet-');
  chmodSync(dir, 0o1777);
  return dir;
};
/** Spawns till as a terminal runs it: in its own process group, so a Ctrl-C can reach the whole group. */
const tillInGroup = (args: string[]): { pid: number; done: Promise<TillRun> } => {
  const child = spawn(process.execPath, [TILL_BIN, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, TILL_HOME: home, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const done = new Promise<TillRun>((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 90_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { pid: child.pid!, done };
};
/** Runs till on a pseudo-terminal (util-linux `script`): what a person at a terminal sees, both streams merged. */
const tillOnTerminal = (
  args: string[],
  env: NodeJS.ProcessEnv = {},
  input?: string,
): { code: number; output: string } => {
  const line = [process.execPath, TILL_BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  try {
    const output = execFileSync('script', ['-qec', line, '/dev/null'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, TILL_HOME: home, TERM: 'xterm', ...env },
      encoding: 'utf8',
      input: input ?? '',
      timeout: 60_000,
    });
    return { code: 0, output };
  } catch (err) {
    const e = err as { status: number | null; stdout: string };
    return { code: e.status ?? -1, output: e.stdout };
  }
};

beforeAll(async () => {
  home = tempHome().home;
  await tillOk(home, ['host', 'init']);
  publicKey = readFileSync(`${home}/ssh/till_federation_ed25519.pub`, 'utf8').trim();
  lab = await startLab(NAMES.length, { authorizedKey: publicKey });
  for (const [i, name] of NAMES.entries()) {
    const group = name.startsWith('web') ? ['--group', 'web', ...(i % 2 === 0 ? ['--group', 'odd'] : [])] : [];
    await tillOk(home, ['host', 'add', name, lab.hosts[i]!.spec, ...group]);
  }
  // Generous: a busy CI machine can take seconds per handshake.
  await tillOk(home, ['host', 'test', '--all', '--connect-timeout', '30']);
}, 120_000);

afterAll(async () => {
  lab?.stop();
  if (home) await closeMasters(home);
});

describe('groups', () => {
  it('host add --group creates groups; group create/add/remove/list/delete; removing a host leaves its groups', async () => {
    let groups = JSON.parse((await tillOk(home, ['host', 'group', 'list', '--json'])).stdout).groups as Record<
      string,
      string[]
    >;
    expect(groups.web).toEqual(['web-1', 'web-2', 'web-3', 'web-4', 'web-5', 'web-6']);
    expect(groups.odd).toEqual(['web-1', 'web-3', 'web-5']);

    await tillOk(home, ['host', 'group', 'create', 'prod', 'db-1']);
    await tillOk(home, ['host', 'group', 'add', 'prod', 'api', 'db-2']);
    await tillOk(home, ['host', 'group', 'remove', 'prod', 'db-2']);
    expect((await till(home, ['host', 'group', 'create', 'prod'])).code).toBe(2);
    expect((await till(home, ['host', 'group', 'add', 'nosuch', 'api'])).code).toBe(2);
    await tillOk(home, ['host', 'add', 'extra', hostOf('api').spec, '--group', 'prod', '--group', 'scratch']);
    groups = JSON.parse((await tillOk(home, ['host', 'group', 'list', '--json'])).stdout).groups;
    expect(groups.prod).toEqual(['db-1', 'api', 'extra']);
    expect(groups.scratch).toEqual(['extra']);

    await tillOk(home, ['host', 'remove', 'extra']);
    await tillOk(home, ['host', 'group', 'delete', 'scratch']);
    groups = JSON.parse((await tillOk(home, ['host', 'group', 'list', '--json'])).stdout).groups;
    expect(groups.prod).toEqual(['db-1', 'api']);
    expect(groups).not.toHaveProperty('scratch');
    const table = (await tillOk(home, ['host', 'group', 'list'])).stdout;
    expect(table).toMatch(/prod\s+2\s+db-1,api/);
  });
});

describe('targets', () => {
  const hostsOf = async (args: string[]) =>
    parse((await tillOk(home, ['host', 'exec', ...args, '--json', '--', 'true'])).stdout).results.map((r) => r.host);

  it('names, globs, groups and --all select hosts in database order', async () => {
    expect(await hostsOf(['web-*'])).toEqual(['web-1', 'web-2', 'web-3', 'web-4', 'web-5', 'web-6']);
    expect(await hostsOf(['db-?'])).toEqual(['db-1', 'db-2']);
    expect(await hostsOf(['[ab]*'])).toEqual(['api', 'batch']);
    expect(await hostsOf(['--group', 'odd', '--group', 'prod'])).toEqual(['web-1', 'web-3', 'web-5', 'db-1', 'api']);
    expect(await hostsOf(['batch', '--group', 'prod'])).toEqual(['db-1', 'api', 'batch']);
    expect(await hostsOf(['--all'])).toEqual(NAMES);
    const test = parse((await tillOk(home, ['host', 'test', '-g', 'odd', '--json'])).stdout);
    expect(test.results.map((r) => r.host)).toEqual(['web-1', 'web-3', 'web-5']);
  });

  it('patterns: comma lists, pdsh ranges, @group, & and !, --limit (what --list-hosts shows is what runs)', async () => {
    for (const args of [
      ['web-[1-4],&@odd,!web-3'],
      ['db-1,api', '@odd', '!web-5'],
      ['!web-*', '--limit', 'db-?,batch'],
    ]) {
      const listed = (await tillOk(home, ['host', 'exec', ...args, '--list-hosts'])).stdout.trim().split('\n');
      expect(await hostsOf(args), args.join(' ')).toEqual(listed);
    }
    expect(await hostsOf(['web-[1-4],&@odd,!web-3'])).toEqual(['web-1']);
    expect(await hostsOf(['db-1,api', '@odd', '!web-5'])).toEqual(['web-1', 'web-3', 'db-1', 'api']);
    expect(await hostsOf(['!web-*', '--limit', 'db-?,batch'])).toEqual(['db-1', 'db-2', 'batch']);
  });

  it('a target that matches nothing is exit 2 with a message, and nothing runs', async () => {
    for (const [args, message] of [
      [['nope-*'], /no host matches "nope-\*"/],
      [['nope'], /no such host: nope/],
      [['web-1', 'nope'], /no such host: nope/],
      [['web-1,bacth'], /error: no such host: bacth\nhint: did you mean batch\?/],
      [['web-*,&@nosuch'], /&@nosuch: no such group: nosuch/],
      [['--group', 'nosuch'], /no such group: nosuch/],
      [[], /no targets given/],
    ] as const) {
      const r = await till(home, ['host', 'exec', ...args, '--', 'touch', 'should-not-exist']);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe('');
    }
    expect(hostOf('web-1').shell('ls')).not.toContain('should-not-exist');
  });
});

describe('bad input', () => {
  it('every validation path of the fleet commands is exit 2 with a one-line reason, runs nothing and leaves the database as it was', async () => {
    await tillOk(home, ['host', 'group', 'create', 'hollow']);
    const before = readFileSync(`${home}/hosts-local.json`, 'utf8');
    const cases: Array<[string[], RegExp]> = [
      [
        ['host', 'exec', 'web-1', '--parallel', '0', '--', 'touch should-not-exist'],
        /--parallel takes a whole number from 1 to 1000, got 0/,
      ],
      [
        ['host', 'exec', 'web-1', '--parallel', 'many', '--', 'touch should-not-exist'],
        /--parallel takes a whole number from 1 to 1000, got "many"/,
      ],
      [
        ['host', 'exec', 'web-1', '--parallel', '1001', '--', 'touch should-not-exist'],
        /--parallel takes a whole number from 1 to 1000, got 1001/,
      ],
      [
        ['host', 'exec', 'web-1', '--serial', '--parallel', '4', '--', 'touch should-not-exist'],
        /--serial and --parallel 4 contradict each other/,
      ],
      [
        ['host', 'exec', 'web-1', '--retries', '0', '--', 'touch should-not-exist'],
        /--retries takes a whole number from 1 to 20, got 0/,
      ],
      [
        ['host', 'exec', 'web-1', '--retries', '21', '--', 'touch should-not-exist'],
        /--retries takes a whole number from 1 to 20, got 21/,
      ],
      [
        ['host', 'exec', 'web-1', '--timeout', '0', '--', 'touch should-not-exist'],
        /--timeout takes 0.1 to 86400 seconds, got 0/,
      ],
      [
        ['host', 'exec', 'web-1', '--timeout', '1m', '--', 'touch should-not-exist'],
        /--timeout takes a number of seconds, got "1m"/,
      ],
      [
        ['host', 'exec', 'web-1', '--connect-timeout', '0', '--', 'touch should-not-exist'],
        /--connect-timeout takes a whole number from 1 to 600, got 0/,
      ],
      [['host', 'exec', 'web-1', '--frobnicate', '--', 'touch should-not-exist'], /unknown option '--frobnicate'/],
      [['host', 'exec', '--group', 'hollow', '--', 'touch should-not-exist'], /group hollow has no hosts/],
      [['host', 'exec', 'web-1'], /no command given/],
      [['host', 'exec', 'web-1', '--'], /no command given/],
      [['host', 'exec', 'web-1', '--', '  '], /no command given/],
      [['host', 'test', 'nope-*'], /no host matches "nope-\*"/],
      [['host', 'test', 'web-1', '--serial', '--parallel', '2'], /--serial and --parallel 2 contradict each other/],
      [['host', 'ssh'], /missing required argument 'name'/],
      [['host', 'ssh', 'web-1', 'touch', 'should-not-exist'], /host ssh takes one host name, got 3 arguments/],
      [['host', 'ssh', 'nosuch', '--', 'touch should-not-exist'], /no such host: nosuch/],
      [['host', 'doctor'], /missing required argument 'name'/],
      [['host', 'doctor', 'nosuch'], /no such host: nosuch/],
      [
        ['host', 'doctor', 'web-1', '--connect-timeout', 'soon'],
        /--connect-timeout takes a whole number from 1 to 600, got "soon"/,
      ],
      [['host', 'group', 'create', 'bad name'], /invalid group name "bad name"/],
      [['host', 'group', 'create', 'hollow'], /group hollow already exists/],
      [['host', 'group', 'create', 'fresh', 'web-1', 'nosuch'], /no such host: nosuch/],
      [['host', 'group', 'delete', 'nosuch'], /no such group: nosuch/],
      [['host', 'group', 'add', 'nosuch', 'web-1'], /no such group: nosuch/],
      [['host', 'group', 'add', 'hollow', 'web-1', 'nosuch'], /no such host: nosuch/],
      [['host', 'group', 'add', 'hollow'], /missing required argument 'hosts'/],
      [['host', 'group', 'remove', 'nosuch', 'web-1'], /no such group: nosuch/],
      [['host', 'group', 'remove', 'web', 'db-1'], /not in group web: db-1/],
      [['host', 'add', 'extra', hostOf('api').spec, '--group', 'bad!'], /invalid group name "bad!"/],
    ];
    for (const [args, message] of cases) {
      const r = await till(home, args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.stdout, args.join(' ')).toBe('');
      expect(readFileSync(`${home}/hosts-local.json`, 'utf8'), args.join(' ')).toBe(before);
    }
    expect(hostOf('web-1').shell('ls')).not.toContain('should-not-exist');
    // A group that only half-applied would show here.
    const groups = JSON.parse((await tillOk(home, ['host', 'group', 'list', '--json'])).stdout).groups as Record<
      string,
      string[]
    >;
    expect(groups.hollow).toEqual([]);
    expect(groups).not.toHaveProperty('fresh');
    await tillOk(home, ['host', 'group', 'delete', 'hollow']);

    // --all on an empty database: nothing to run is an error too.
    const empty = tempHome().home;
    try {
      await tillOk(empty, ['host', 'init']);
      const r = await till(empty, ['host', 'exec', '--all', '--', 'true']);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/--all: the database has no hosts/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe('host exec', () => {
  it("runs on 10 hosts in parallel and returns every host's stdout and exit code", async () => {
    for (const [i, name] of NAMES.entries()) if (i % 3 === 1) hostOf(name).shell(`echo ${i} > code`);
    const r = await till(home, [
      'host',
      'exec',
      '--all',
      '--json',
      '--',
      'echo "$USER"; exit $(cat code 2>/dev/null || echo 0)',
    ]);
    expect(r.code).toBe(1);
    const doc = parse(r.stdout);
    expect(doc.results).toHaveLength(10);
    for (const [i, name] of NAMES.entries()) {
      const result = byHost(doc)[name]!;
      expect(result.stdout).toBe(`${hostOf(name).user}\n`);
      expect(result.exitCode).toBe(i % 3 === 1 ? i : 0);
      expect(result.status).toBe(i % 3 === 1 ? 'failed' : 'ok');
      expect(result.attempts).toBe(1);
    }
    expect(doc.summary).toEqual({ total: 10, ok: 7, failed: 3, unreachable: 0, skipped: 0 });
    for (const [i, name] of NAMES.entries()) if (i % 3 === 1) hostOf(name).shell('rm code');
    // One multiplexed master per host, left up for the next run.
    expect(readdirSync(`${home}/ssh/control`)).toHaveLength(NAMES.length);
    for (const name of NAMES)
      execFileSync('ssh', ['-F', `${home}/ssh/config`, '-O', 'check', `till-${name}`], {
        stdio: 'ignore',
        timeout: 10_000,
      });
  });

  it('keeps at most 10 sessions in flight to one sshd (its MaxStartups / MaxSessions defaults), whatever --parallel says', async () => {
    // 14 names for one sshd: a fleet behind one address.
    const aliases = Array.from({ length: 14 }, (_, i) => `alias-${i}`);
    for (const a of aliases) await tillOk(home, ['host', 'add', a, hostOf('web-6').spec, '--group', 'aliases']);
    const meet = meetingPoint();
    try {
      // Each session marks itself running, waits until 10 have started, counts the running ones, and ends only once 10 have counted.
      const wait = (what: string) =>
        `i=0; while [ $(ls -d ${meet}/${what}.* | wc -l) -lt 10 ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done`;
      const line = `m=$(mktemp -d ${meet}/run.XXXXXX); touch ${meet}/seen.$(basename $m); ${wait('seen')}; ls -d ${meet}/run.* | wc -l; touch ${meet}/counted.$(basename $m); ${wait('counted')}; rmdir $m`;
      const doc = parse(
        (
          await tillOk(home, ['host', 'exec', '--group', 'aliases', '--parallel', '50', '--json', '--', line], {
            timeoutMs: 150_000,
          })
        ).stdout,
      );
      const counts = doc.results.map((r) => Number(r.stdout.trim()));
      expect(counts).toHaveLength(14);
      expect(Math.max(...counts)).toBe(10);
    } finally {
      rmSync(meet, { recursive: true, force: true });
      for (const a of aliases) await tillOk(home, ['host', 'remove', a]);
      await tillOk(home, ['host', 'group', 'delete', 'aliases']);
    }
  }, 240_000);

  it('really runs the 10 hosts at once: each waits until all 10 have started', async () => {
    const meet = meetingPoint();
    try {
      // Run one at a time, the first host would wait forever (60 s) for the other nine.
      const line = `touch ${meet}/"$USER"; i=0; while [ $(ls ${meet} | wc -l) -lt 10 ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; ls ${meet} | wc -l`;
      const doc = parse(
        (await tillOk(home, ['host', 'exec', '--all', '--json', '--', line], { timeoutMs: 120_000 })).stdout,
      );
      for (const r of doc.results) expect(r.stdout.trim(), r.host).toBe('10');
    } finally {
      rmSync(meet, { recursive: true, force: true });
    }
  }, 150_000);

  it('--parallel 3 keeps exactly 3 hosts in flight, --serial one', async () => {
    const meet = meetingPoint();
    try {
      // Each host marks itself running, waits until 3 hosts have started (so 3 ran at once), counts who runs
      // now, and ends only once 3 hosts have counted: the first three all see exactly each other.
      const wait = (what: string) =>
        `i=0; while [ $(ls -d ${meet}/${what}.* | wc -l) -lt 3 ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done`;
      const line = `mkdir ${meet}/run."$USER"; touch ${meet}/seen."$USER"; ${wait('seen')}; ls -d ${meet}/run.* | wc -l; touch ${meet}/counted."$USER"; ${wait('counted')}; rmdir ${meet}/run."$USER"`;
      const doc = parse(
        (await tillOk(home, ['host', 'exec', '--all', '--parallel', '3', '--json', '--', line], { timeoutMs: 120_000 }))
          .stdout,
      );
      const counts = doc.results.map((r) => Number(r.stdout.trim()));
      expect(Math.max(...counts)).toBeLessThanOrEqual(3);
      expect(counts.slice(0, 3)).toEqual([3, 3, 3]);

      const serial = `mkdir ${meet}/one."$USER"; sleep 0.2; ls -d ${meet}/one.* | wc -l; rmdir ${meet}/one."$USER"`;
      const one = parse(
        (await tillOk(home, ['host', 'exec', 'web-*', '--serial', '--json', '--', serial], { timeoutMs: 120_000 }))
          .stdout,
      );
      expect(one.results.map((r) => r.stdout.trim())).toEqual(['1', '1', '1', '1', '1', '1']);
    } finally {
      rmSync(meet, { recursive: true, force: true });
    }
  }, 150_000);

  it('sends the line bare by default (its parent on the host is sshd), wrapped with --stop-remote or --timeout', async () => {
    const parent = async (extra: string[]) =>
      parse(
        (await tillOk(home, ['host', 'exec', 'web-1', '--json', ...extra, '--', 'cat /proc/$PPID/comm'])).stdout,
      ).results[0]!.stdout.trim();
    expect(await parent([])).toBe('sshd');
    expect(await parent(['--stop-remote'])).toBe('sh');
    expect(await parent(['--timeout', '30'])).toBe('sh');
  });

  it('--timeout ends a host that runs too long, on the host too, and does not count it as a connection failure', async () => {
    const r = await till(
      home,
      ['host', 'exec', 'web-4', 'web-5', '--timeout', '2', '--json', '--', 'echo started; sleep 47; echo never'],
      { timeoutMs: 60_000 },
    );
    expect(r.code).toBe(1);
    const doc = parse(r.stdout);
    for (const name of ['web-4', 'web-5']) {
      expect(byHost(doc)[name]).toMatchObject({
        ok: false,
        status: 'failed',
        exitCode: null,
        stdout: 'started\n',
        attempts: 1,
        error: 'timed out (per-host --timeout)',
      });
      // The remote sleep was ended with the session, not left running on the host.
      await waitUntil(
        () => remoteProcesses(name, /sleep 47/).length === 0,
        20_000,
        `the remote sleep on ${name} to end`,
      );
      expect(await showJson(name)).toMatchObject({ status: 'connected', failures: 0 });
    }
  }, 90_000);

  it('works for a user whose login shell is tcsh: the line runs in that shell, its exit code passes through, --timeout still ends it', async () => {
    expect(existsSync('/usr/bin/tcsh'), 'apt-get install tcsh').toBe(true);
    const api = hostOf('api');
    execFileSync('/usr/sbin/usermod', ['-s', '/usr/bin/tcsh', api.user]);
    closeMaster('api');
    try {
      const doc = parse((await till(home, ['host', 'exec', 'api', '--json', '--', 'echo $shell; exit 3'])).stdout);
      expect(doc.results[0]).toMatchObject({ status: 'failed', exitCode: 3, stdout: '/usr/bin/tcsh\n', attempts: 1 });
      const slow = parse(
        (
          await till(home, ['host', 'exec', 'api', '--timeout', '2', '--json', '--', 'echo started; sleep 49'], {
            timeoutMs: 60_000,
          })
        ).stdout,
      );
      expect(slow.results[0]).toMatchObject({
        status: 'failed',
        stdout: 'started\n',
        error: 'timed out (per-host --timeout)',
      });
      await waitUntil(() => remoteProcesses('api', /sleep 49/).length === 0, 20_000, 'the remote sleep on api to end');
    } finally {
      execFileSync('/usr/sbin/usermod', ['-s', '/bin/bash', api.user]);
      closeMaster('api');
    }
  }, 90_000);

  it("--group-output prints each host's block as soon as that host is done", async () => {
    const late = hostOf('db-2');
    late.shell('rm -f go');
    // db-2 waits (up to 60 s) for a file the test creates only once db-1's block is on stdout.
    const line = `if [ "$USER" = ${late.user} ]; then i=0; while [ ! -e go ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; [ -e go ] && echo released || echo 'never released'; else echo first; fi`;
    let released = false;
    const r = await till(home, ['host', 'exec', 'db-*', '--group-output', '--', line], {
      timeoutMs: 120_000,
      onSpawn: (child) => {
        let seen = '';
        child.stdout!.on('data', (d: Buffer) => {
          seen += d.toString();
          if (!released && seen.includes('== db-1\nfirst\n')) {
            released = true;
            late.shell('touch go');
          }
        });
      },
    });
    expect(released).toBe(true);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('== db-2\nreleased\n');
    expect(r.stdout).not.toContain(' | ');
    expect(r.stdout.indexOf('== db-1')).toBeLessThan(r.stdout.indexOf('HOST'));
    late.shell('rm -f go');
  }, 150_000);

  it('on a terminal: a live progress line with the failure count, coloured prefixes; NO_COLOR keeps the progress line but drops colour', () => {
    const r = tillOnTerminal([
      'host',
      'exec',
      'db-*',
      'api',
      '--',
      'echo hi; [ "$USER" != ' + hostOf('api').user + ' ]',
    ]);
    expect(r.code).toBe(1);
    expect(r.output).toContain('\r\x1b[K');
    expect(r.output).toContain('3/3 done, \x1b[31m1 failed');
    expect(r.output).toContain('\x1b[36mdb-1 | \x1b[39mhi');
    expect(r.output.split('\n').some((l) => l.startsWith('api ') && l.includes('\x1b[31mfailed'))).toBe(true);
    // The plain per-host lines are for logs, not for a terminal.
    expect(r.output).not.toMatch(/\[\d\/3\]/);

    const plain = tillOnTerminal(
      ['host', 'exec', 'db-*', 'api', '--', 'echo hi; [ "$USER" != ' + hostOf('api').user + ' ]'],
      { NO_COLOR: '1' },
    );
    expect(plain.code).toBe(1);
    expect(plain.output).toContain('3/3 done, 1 failed');
    expect(plain.output).toContain('db-1 | hi');
    // Colour is ESC [ <n> m; the progress line's ESC [ K stays.
    expect(
      plain.output
        .split('\x1b[')
        .slice(1)
        .every((rest) => rest.startsWith('K')),
    ).toBe(true);
  });

  it('on a terminal the live line shows the time so far and which hosts are still running', () => {
    // db-2 takes 2.5 s; the line is redrawn every second meanwhile, naming it.
    const r = tillOnTerminal(
      ['host', 'exec', 'db-*', 'api', '--', `[ "$USER" = ${hostOf('db-2').user} ] && sleep 2.5; true`],
      { NO_COLOR: '1' },
    );
    expect(r.code, r.output).toBe(0);
    const frames = r.output.split('\r\x1b[K').map((f) => f.trim());
    const waiting = frames.filter((f) => /^2\/3 done · \d+(\.\d)?s · running: db-2$/.test(f));
    expect(waiting.length, r.output).toBeGreaterThanOrEqual(2);
    const seconds = waiting.map((f) => Number(/ · ([\d.]+)s · /.exec(f)![1]));
    expect(Math.max(...seconds)).toBeGreaterThanOrEqual(1);
    expect(frames.some((f) => /^3\/3 done · [\d.]+s$/.test(f))).toBe(true);
    expect(r.output).toContain('3 hosts, 3 ok');
    // One host: the count is singular.
    expect(tillOnTerminal(['host', 'exec', 'api', '--', 'true'], { NO_COLOR: '1' }).output).toContain('1 host, 1 ok');
  });

  it('prefixes streamed lines with the host name, prints a summary table, and no escape codes off a terminal', async () => {
    const r = await till(home, ['host', 'exec', 'db-*', '--', 'echo hello; echo oops >&2']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('db-1 | hello\n');
    expect(r.stdout).toContain('db-2 | hello\n');
    expect(r.stderr).toContain('db-1 ! oops\n');
    expect(r.stdout).toMatch(/HOST\s+RESULT\s+EXIT\s+ATTEMPTS\s+DURATION\s+ERROR/);
    expect(r.stdout).toContain('2 hosts, 2 ok');
    expect(r.stderr).toMatch(/\[2\/2\] db-\d: ok/);
    expect(r.stdout + r.stderr).not.toContain('\x1b');

    const grouped = await till(home, ['host', 'exec', 'db-*', '--group-output', '--', 'echo hello']);
    expect(grouped.stdout).toContain('== db-1\nhello\n');
    expect(grouped.stdout).not.toContain('db-1 | ');
  });

  it('reports a remote exit 7 as 7 and never retries it: the command ran exactly once', async () => {
    const r = await till(home, ['host', 'exec', 'web-2', '--json', '--', 'echo ran >> ran.txt; exit 7']);
    expect(r.code).toBe(1);
    const result = parse(r.stdout).results[0]!;
    expect(result).toMatchObject({ host: 'web-2', ok: false, status: 'failed', exitCode: 7, attempts: 1 });
    expect(result.error).toMatch(/exit code 7/);
    expect(hostOf('web-2').shell('cat ran.txt')).toBe('ran\n');
  });

  it('quotes several arguments once each, and runs a single argument as a shell line', async () => {
    const argv = parse(
      (await tillOk(home, ['host', 'exec', 'web-1', '--json', '--', 'printf', '%s\\n', 'a b', '$HOME'])).stdout,
    );
    expect(argv.results[0]!.stdout).toBe('a b\n$HOME\n');
    const line = parse((await tillOk(home, ['host', 'exec', 'web-1', '--json', '--', 'echo one; echo two'])).stdout);
    expect(line.results[0]!.stdout).toBe('one\ntwo\n');
    const tricky = parse(
      (await tillOk(home, ['host', 'exec', 'web-1', '--json', '--', 'printf', '[%s]', `it's "x"; $(id) \`y\``])).stdout,
    );
    expect(tricky.results[0]!.stdout).toBe(`[it's "x"; $(id) \`y\`]`);
  });

  it('--json prints one document with one result per host and nothing else on stdout', async () => {
    const r = await tillOk(home, ['host', 'exec', '--all', '--json', '--', 'echo out; echo err >&2']);
    const doc = parse(r.stdout);
    expect(doc.ok).toBe(true);
    expect(doc.results.map((r) => r.host).sort()).toEqual([...NAMES].sort());
    for (const res of doc.results) {
      expect(Object.keys(res).sort()).toEqual([
        'attempts',
        'durationMs',
        'error',
        'exitCode',
        'host',
        'ok',
        'status',
        'stderr',
        'stdout',
      ]);
      expect(res).toMatchObject({ ok: true, status: 'ok', exitCode: 0, stdout: 'out\n', stderr: 'err\n', error: null });
    }
    expect(doc.summary).toEqual({ total: 10, ok: 10, failed: 0, unreachable: 0, skipped: 0 });
    expect(r.stderr).toBe('');
  });
});

describe('unreachable hosts', () => {
  it('retries a stopped host with backoff while the others succeed; 3 failed runs make it unreachable; one success restores it', async () => {
    const batch = hostOf('batch');
    expect((await showJson('batch')).status).toBe('connected');
    batch.stop();
    const run = async () =>
      parse(
        (await till(home, ['host', 'exec', 'batch', 'db-*', '--json', '--connect-timeout', '5', '--', 'echo up']))
          .stdout,
      );

    const first = await run();
    expect(byHost(first).batch).toMatchObject({ ok: false, status: 'unreachable', attempts: 3, exitCode: 255 });
    expect(byHost(first).batch!.error).toMatch(/refused/);
    for (const db of ['db-1', 'db-2'])
      expect(byHost(first)[db]).toMatchObject({ ok: true, attempts: 1, stdout: 'up\n' });
    expect(first.summary).toMatchObject({ ok: 2, unreachable: 1 });
    expect(await showJson('batch')).toMatchObject({ status: 'connected', failures: 1 });

    // The same run as a person sees it: each retry and its randomised wait (backoff with jitter) on stderr.
    const human = await till(home, ['host', 'exec', 'batch', 'db-*', '--connect-timeout', '5', '--', 'echo up']);
    expect(human.code).toBe(1);
    expect(human.stderr).toMatch(
      /^retry batch: attempt 1 failed \(connection refused[^\n]*\); retrying in 500ms–1\.0s$/m,
    );
    expect(human.stderr).toMatch(
      /^retry batch: attempt 2 failed \(connection refused[^\n]*\); retrying in 1\.0s–2\.0s$/m,
    );
    expect(human.stderr).not.toMatch(/attempt 3 failed/);
    expect(human.stdout).toMatch(/^batch\s+unreachable\s+255\s+3\s/m);
    expect((await showJson('batch')).status).toBe('connected');
    await run();
    expect(await showJson('batch')).toMatchObject({ status: 'unreachable', previous_status: 'connected', failures: 3 });
    const list = (await tillOk(home, ['host', 'list'])).stdout;
    expect(list).toMatch(/batch\s+\S+\s+unreachable/);

    // Unreachable now: one attempt, no backoff.
    expect(byHost(await run()).batch!.attempts).toBe(1);

    await batch.start();
    const back = await run();
    expect(byHost(back).batch).toMatchObject({ ok: true, attempts: 1, stdout: 'up\n' });
    const entry = await showJson('batch');
    expect(entry).toMatchObject({ status: 'connected', failures: 0 });
    expect(entry.previous_status).toBeUndefined();
  }, 120_000);

  it('gives up on a hanging host (sshd stopped) with a timeout, not waiting forever', async () => {
    const api = hostOf('api');
    closeMaster('api');
    api.pause();
    try {
      const r = await till(
        home,
        ['host', 'exec', 'api', 'web-1', '--json', '--connect-timeout', '2', '--retries', '1', '--', 'echo up'],
        { timeoutMs: 60_000 },
      );
      expect(r.code).toBe(1);
      const doc = parse(r.stdout);
      expect(byHost(doc).api).toMatchObject({ ok: false, status: 'unreachable', attempts: 1 });
      expect(byHost(doc).api!.error).toMatch(/timed out/i);
      expect(byHost(doc)['web-1']).toMatchObject({ ok: true, stdout: 'up\n' });
    } finally {
      api.resume();
    }
  });
});

describe('Ctrl-C', () => {
  it('stops starting hosts, ends running ones, prints the summary with the rest skipped, keeps the database valid', async () => {
    let seen = '';
    let interrupted = false;
    const r = await till(
      home,
      ['host', 'exec', 'web-*', '--parallel', '2', '--stop-remote', '--', 'echo started; sleep 30'],
      {
        timeoutMs: 60_000,
        onSpawn: (child) => {
          child.stdout!.on('data', (d: Buffer) => {
            seen += d.toString();
            if (!interrupted && (seen.match(/\| started/g) ?? []).length >= 2) {
              interrupted = true;
              child.kill('SIGINT');
            }
          });
        },
      },
    );
    expect(interrupted).toBe(true);
    expect(r.code).toBe(130);
    expect(r.stdout).toMatch(/HOST\s+RESULT/);
    expect(r.stdout).toContain('(interrupted)');
    expect(r.stdout).toContain('4 skipped');
    const skippedRows = r.stdout.split('\n').filter((l) => /^web-\d\s+skipped\s/.test(l));
    expect(skippedRows).toHaveLength(4);
    expect(r.stdout).toMatch(/not started \(interrupted\)/);
    // The two running hosts were ended by till (no remote exit code), not left to finish their sleep.
    const cancelledRows = r.stdout
      .split('\n')
      .filter((l) => /^web-\d\s+failed\s+-\s+1\s+\S+\s+cancelled$/.test(l.trim()));
    expect(cancelledRows, r.stdout).toHaveLength(2);
    // Ended on the hosts too: no remote sleep is left running.
    for (const name of NAMES.filter((n) => n.startsWith('web-'))) {
      await waitUntil(
        () => remoteProcesses(name, /sleep 30/).length === 0,
        20_000,
        `the remote sleep on ${name} to end`,
      );
    }
    // The database is whole and loads.
    JSON.parse(readFileSync(`${home}/hosts-local.json`, 'utf8'));
    const list = JSON.parse((await tillOk(home, ['host', 'list', '--json'])).stdout) as { hosts: unknown[] };
    expect(list.hosts).toHaveLength(10);
  }, 90_000);
});

describe('Ctrl-C at a terminal', () => {
  it('reaches till and its ssh children at once (the whole process group): --json still prints one document, nothing counts as a connection failure', async () => {
    const statuses = async () =>
      (
        JSON.parse((await tillOk(home, ['host', 'list', '--json'])).stdout) as {
          hosts: Array<{ name: string; status: string; failures?: number }>;
        }
      ).hosts.map((h) => [h.name, h.status, h.failures ?? 0]);
    const before = await statuses();
    const run = tillInGroup([
      'host',
      'exec',
      '--all',
      '--parallel',
      '3',
      '--json',
      '--stop-remote',
      '--',
      'echo started; sleep 31',
    ]);
    const running = () => NAMES.filter((n) => remoteProcesses(n, /sleep 31/).length > 0).length;
    await waitUntil(() => running() === 3, 60_000, '3 hosts running the command');
    process.kill(-run.pid, 'SIGINT');
    const r = await run.done;
    expect(r.code).toBe(130);
    const doc = parse(r.stdout);
    expect(doc.results).toHaveLength(10);
    // The 3 running hosts are cancelled and the rest skipped. One race is left: the signal
    // reaches the ssh children too, and when till sees one of them end before it sees its
    // own SIGINT, the next queued host starts in that instant (and is cancelled at once).
    expect(doc.summary).toMatchObject({ total: 10, ok: 0, unreachable: 0 });
    expect(doc.summary.failed + doc.summary.skipped).toBe(10);
    expect(doc.summary.failed).toBeGreaterThanOrEqual(3);
    expect(doc.summary.failed).toBeLessThanOrEqual(6);
    const failed = doc.results.filter((x) => x.status === 'failed');
    for (const res of failed) expect(res).toMatchObject({ ok: false, exitCode: null, error: 'cancelled', attempts: 1 });
    expect(failed.filter((x) => x.stdout === 'started\n').length).toBeGreaterThanOrEqual(3);
    for (const name of NAMES)
      await waitUntil(
        () => remoteProcesses(name, /sleep 31/).length === 0,
        20_000,
        `the remote sleep on ${name} to end`,
      );
    expect(await statuses()).toEqual(before);
  }, 120_000);
});

describe('host ssh', () => {
  it("runs one command through till's config and returns its exit code", async () => {
    const r = await till(home, ['host', 'ssh', 'db-2', '--', 'echo "$USER"; exit 3']);
    expect(r.code).toBe(3);
    expect((await till(home, ['host', 'ssh', 'nosuch', '--', 'true'])).code).toBe(2);
  });

  it("opens an interactive login shell on a terminal, through till's config", () => {
    const r = tillOnTerminal(['host', 'ssh', 'db-2'], {}, 'echo "me=$USER $((6*7))"; exit 4\n');
    expect(r.output).toContain(`me=${hostOf('db-2').user} 42`);
    expect(r.code).toBe(4);
  });
});

describe('host doctor', () => {
  it('passes every check on a healthy host with till installed; without till, only the till check warns', async () => {
    const bare = JSON.parse((await till(home, ['host', 'doctor', 'web-3', '--json'])).stdout) as {
      ok: boolean;
      checks: Array<{ name: string; status: string; fix: string | null }>;
    };
    expect(bare.ok).toBe(true);
    expect(bare.checks.filter((c) => c.status !== 'pass').map((c) => [c.name, c.status, c.fix])).toEqual([
      ['till', 'warn', 'run: till host setup web-3'],
    ]);

    await tillOk(home, ['host', 'setup', 'web-3'], { timeoutMs: 180_000 });
    const r = await till(home, ['host', 'doctor', 'web-3', '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as {
      host: string;
      ok: boolean;
      checks: Array<{ name: string; status: string; detail: string; fix: string | null }>;
    };
    expect(doc).toMatchObject({ host: 'web-3', ok: true, restricted: false });
    expect(doc.checks.map((c) => c.name)).toEqual(['key', 'dns', 'tcp', 'host-key', 'auth', 'till', 'disk']);
    for (const c of doc.checks)
      expect({ name: c.name, status: c.status, fix: c.fix }, c.detail).toEqual({
        name: c.name,
        status: 'pass',
        fix: null,
      });
    expect(doc.checks.find((c) => c.name === 'till')!.detail).toMatch(/^till \d+\.\d+\.\d+\S* is installed/);
    expect(doc.checks.find((c) => c.name === 'disk')!.detail).toMatch(/GiB free at /);
    const human = await till(home, ['host', 'doctor', 'web-3']);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/pass\s+auth/);
    expect(human.stdout).toContain('web-3: no problems found (7 passed, 0 failed, 0 warnings, 0 skipped)');
  }, 240_000);

  it('after a hand edit of the database, every check goes where the database says (the config is rebuilt first)', async () => {
    const file = `${home}/hosts-local.json`;
    const original = readFileSync(file, 'utf8');
    const edited = JSON.parse(original);
    edited.hosts['web-2'].port = 1; // nothing listens there
    writeFileSync(file, `${JSON.stringify(edited, null, 2)}\n`);
    try {
      const doc = JSON.parse((await till(home, ['host', 'doctor', 'web-2', '--json'])).stdout) as {
        ok: boolean;
        checks: Array<{ name: string; status: string }>;
      };
      expect(doc.ok).toBe(false);
      expect(doc.checks.find((c) => c.name === 'tcp')!.status).toBe('fail');
      expect(doc.checks.find((c) => c.name === 'auth')!.status).not.toBe('pass');
      expect(execFileSync('ssh', ['-G', '-F', `${home}/ssh/config`, 'till-web-2'], { encoding: 'utf8' })).toMatch(
        /^port 1$/m,
      );
    } finally {
      writeFileSync(file, original);
      await tillOk(home, ['host', 'list']); // the config follows the restored database
    }
  });

  it('fails the key check on a private key others can read, with the chmod that fixes it', async () => {
    const key = `${home}/ssh/till_federation_ed25519`;
    const mode = statSync(key).mode & 0o777;
    chmodSync(key, 0o644);
    try {
      const r = await till(home, ['host', 'doctor', 'web-1', '--json']);
      expect(r.code).toBe(1);
      const doc = JSON.parse(r.stdout) as { checks: Array<{ name: string; status: string; fix: string | null }> };
      expect(doc.checks[0]).toMatchObject({ name: 'key', status: 'fail', fix: `run: chmod 600 ${key}` });
      expect(doc.checks.slice(1).every((c) => c.status === 'skip')).toBe(true);
    } finally {
      chmodSync(key, mode);
    }
  });

  it('resolves a host name (dns) before the TCP check', async () => {
    // localhost comes from /etc/hosts: no DNS traffic leaves the machine. Port 1: nothing listens.
    await tillOk(home, ['host', 'add', 'named', `${hostOf('web-1').user}@localhost:1`]);
    try {
      const doc = JSON.parse((await till(home, ['host', 'doctor', 'named', '--json'])).stdout) as {
        checks: Array<{ name: string; status: string; detail: string }>;
      };
      expect(doc.checks[1]).toMatchObject({ name: 'dns', status: 'pass' });
      expect(doc.checks[1]!.detail).toMatch(/^localhost resolves to (127\.0\.0\.1|::1)$/);
      expect(doc.checks[2]).toMatchObject({ name: 'tcp', status: 'fail' });
      expect(doc.checks[2]!.detail).toMatch(/refused the connection/);
    } finally {
      await tillOk(home, ['host', 'remove', 'named']);
    }
  });

  it('fails the host-key check when the host key changed, with till host forget as the fix, and skips auth', async () => {
    const h = hostOf('db-2');
    closeMaster('db-2');
    await h.changeHostKey();
    const r = await till(home, ['host', 'doctor', 'db-2', '--json']);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout) as { checks: Array<{ name: string; status: string; fix: string | null }> };
    expect(doc.checks.map((c) => `${c.name}:${c.status}`)).toEqual([
      'key:pass',
      'dns:pass',
      'tcp:pass',
      'host-key:fail',
      'auth:skip',
      'till:skip',
      'disk:skip',
    ]);
    expect(doc.checks[3]!.fix).toContain('till host forget db-2');
    await tillOk(home, ['host', 'forget', 'db-2']);
    await tillOk(home, ['host', 'test', 'db-2']);
    expect(JSON.parse((await till(home, ['host', 'doctor', 'db-2', '--json'])).stdout).ok).toBe(true);
  });

  it('on a host that refuses the key prints the exact authorized_keys line to add', async () => {
    const db1 = hostOf('db-1');
    db1.shell(': > .ssh/authorized_keys');
    try {
      // A master opened earlier would still log in: doctor must not be fooled by it.
      const r = await till(home, ['host', 'doctor', 'db-1']);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/fail\s+auth\s+the host refused till's key/);
      expect(r.stdout.split('\n').map((l) => l.trim())).toContain(publicKey);
      expect(r.stdout).toContain('till host authorize db-1');
      expect(r.stdout).toMatch(/skip\s+till/);
      const json = JSON.parse((await till(home, ['host', 'doctor', 'db-1', '--json'])).stdout) as {
        ok: boolean;
        checks: Array<{ name: string; status: string; fix: string | null }>;
      };
      expect(json.ok).toBe(false);
      expect(json.checks.find((c) => c.name === 'auth')).toMatchObject({ status: 'fail' });
      expect(json.checks.find((c) => c.name === 'auth')!.fix).toContain(publicKey);
    } finally {
      db1.authorize(publicKey);
    }
  });

  it('finds a stopped sshd at the TCP check and an unknown host name is exit 2', async () => {
    const web6 = hostOf('web-6');
    web6.stop();
    try {
      const doc = JSON.parse((await till(home, ['host', 'doctor', 'web-6', '--json'])).stdout) as {
        checks: Array<{ name: string; status: string; detail: string }>;
      };
      expect(doc.checks.map((c) => `${c.name}:${c.status}`)).toEqual([
        'key:pass',
        'dns:pass',
        'tcp:fail',
        'host-key:skip',
        'auth:skip',
        'till:skip',
        'disk:skip',
      ]);
    } finally {
      await web6.start();
    }
    expect((await till(home, ['host', 'doctor', 'nosuch'])).code).toBe(2);
  });
});

describe("the seed's form", () => {
  it('till host sync --group production works as written', async () => {
    await tillOk(home, ['host', 'group', 'create', 'production', 'web-3']);
    // host sync runs on hosts with till set up (doctor's test set web-3 up; again is harmless).
    await tillOk(home, ['host', 'setup', 'web-3'], { timeoutMs: 180_000 });
    const r = await till(home, ['host', 'sync', '--group', 'production', '--json'], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    const doc = parse(r.stdout);
    expect(doc.results.map((x) => [x.host, x.status])).toEqual([['web-3', 'ok']]);
    const human = await till(home, ['host', 'sync', '--group', 'production']);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^web-3\s+ok\s/m);
    const missing = await till(home, ['host', 'sync', '--group', 'nosuch']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no such group: nosuch/);
    await tillOk(home, ['host', 'group', 'delete', 'production']);
  }, 240_000);
});
