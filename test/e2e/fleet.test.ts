/**
 * The fleet commands as a person runs them (the built CLI), against 10 real sshd
 * hosts: targets and groups, parallel exec, retries, unreachable hosts, hanging hosts,
 * Ctrl-C, --json, quoting, and doctor.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLab, type Lab, type LabHost } from '../lab/lab.js';
import { closeMasters, tempHome, till, tillOk } from '../lab/till.js';

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
const showJson = async (name: string) => JSON.parse((await tillOk(home, ['host', 'show', name, '--json'])).stdout) as { status: string; previous_status?: string; failures?: number };
/** Ends a host's master, so the next call makes a fresh connection. */
const closeMaster = (name: string) => {
  try {
    execFileSync('ssh', ['-F', `${home}/ssh/config`, '-O', 'exit', `till-${name}`], { stdio: 'ignore', timeout: 10_000 });
  } catch {
    // no master
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
    let groups = JSON.parse((await tillOk(home, ['host', 'group', 'list', '--json'])).stdout).groups as Record<string, string[]>;
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
  const hostsOf = async (args: string[]) => parse((await tillOk(home, ['host', 'exec', ...args, '--json', '--', 'true'])).stdout).results.map((r) => r.host);

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

  it('a target that matches nothing is exit 2 with a message, and nothing runs', async () => {
    for (const [args, message] of [
      [['nope-*'], /no host matches "nope-\*"/],
      [['nope'], /no such host: nope/],
      [['web-1', 'nope'], /no such host: nope/],
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

describe('host exec', () => {
  it('runs on 10 hosts in parallel and returns every host\'s stdout and exit code', async () => {
    for (const [i, name] of NAMES.entries()) if (i % 3 === 1) hostOf(name).shell(`echo ${i} > code`);
    const r = await till(home, ['host', 'exec', '--all', '--json', '--', 'echo "$USER"; exit $(cat code 2>/dev/null || echo 0)']);
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
    const argv = parse((await tillOk(home, ['host', 'exec', 'web-1', '--json', '--', 'printf', '%s\\n', 'a b', '$HOME'])).stdout);
    expect(argv.results[0]!.stdout).toBe('a b\n$HOME\n');
    const line = parse((await tillOk(home, ['host', 'exec', 'web-1', '--json', '--', 'echo one; echo two'])).stdout);
    expect(line.results[0]!.stdout).toBe('one\ntwo\n');
    const tricky = parse((await tillOk(home, ['host', 'exec', 'web-1', '--json', '--', 'printf', '[%s]', `it's "x"; $(id) \`y\``])).stdout);
    expect(tricky.results[0]!.stdout).toBe(`[it's "x"; $(id) \`y\`]`);
  });

  it('--json prints one document with one result per host and nothing else on stdout', async () => {
    const r = await tillOk(home, ['host', 'exec', '--all', '--json', '--', 'echo out; echo err >&2']);
    const doc = parse(r.stdout);
    expect(doc.ok).toBe(true);
    expect(doc.results.map((r) => r.host).sort()).toEqual([...NAMES].sort());
    for (const res of doc.results) {
      expect(Object.keys(res).sort()).toEqual(['attempts', 'durationMs', 'error', 'exitCode', 'host', 'ok', 'status', 'stderr', 'stdout']);
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
    const run = async () => parse((await till(home, ['host', 'exec', 'batch', 'db-*', '--json', '--connect-timeout', '5', '--', 'echo up'])).stdout);

    const first = await run();
    expect(byHost(first).batch).toMatchObject({ ok: false, status: 'unreachable', attempts: 3, exitCode: 255 });
    expect(byHost(first).batch!.error).toMatch(/refused/);
    for (const db of ['db-1', 'db-2']) expect(byHost(first)[db]).toMatchObject({ ok: true, attempts: 1, stdout: 'up\n' });
    expect(first.summary).toMatchObject({ ok: 2, unreachable: 1 });
    expect(await showJson('batch')).toMatchObject({ status: 'connected', failures: 1 });

    await run();
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
      const r = await till(home, ['host', 'exec', 'api', 'web-1', '--json', '--connect-timeout', '2', '--retries', '1', '--', 'echo up'], { timeoutMs: 60_000 });
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
    const r = await till(home, ['host', 'exec', 'web-*', '--parallel', '2', '--', 'echo started; sleep 30'], {
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
    });
    expect(interrupted).toBe(true);
    expect(r.code).toBe(130);
    expect(r.stdout).toMatch(/HOST\s+RESULT/);
    expect(r.stdout).toContain('(interrupted)');
    expect(r.stdout).toContain('4 skipped');
    const skippedRows = r.stdout.split('\n').filter((l) => /^web-\d\s+skipped\s/.test(l));
    expect(skippedRows).toHaveLength(4);
    expect(r.stdout).toMatch(/not started \(interrupted\)/);
    // The two running hosts were ended by till (no remote exit code), not left to finish their sleep.
    const cancelledRows = r.stdout.split('\n').filter((l) => /^web-\d\s+failed\s+-\s+1\s+\S+\s+cancelled$/.test(l.trim()));
    expect(cancelledRows, r.stdout).toHaveLength(2);
    // The database is whole and loads.
    JSON.parse(readFileSync(`${home}/hosts-local.json`, 'utf8'));
    const list = JSON.parse((await tillOk(home, ['host', 'list', '--json'])).stdout) as { hosts: unknown[] };
    expect(list.hosts).toHaveLength(10);
  }, 90_000);
});

describe('host ssh', () => {
  it('runs one command through till\'s config and returns its exit code', async () => {
    const r = await till(home, ['host', 'ssh', 'db-2', '--', 'echo "$USER"; exit 3']);
    expect(r.code).toBe(3);
    expect((await till(home, ['host', 'ssh', 'nosuch', '--', 'true'])).code).toBe(2);
  });
});

describe('host doctor', () => {
  it('passes every check on a healthy host (till itself may only warn)', async () => {
    const r = await till(home, ['host', 'doctor', 'web-3', '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { host: string; ok: boolean; checks: Array<{ name: string; status: string; detail: string; fix: string | null }> };
    expect(doc).toMatchObject({ host: 'web-3', ok: true, restricted: false });
    expect(doc.checks.map((c) => c.name)).toEqual(['key', 'dns', 'tcp', 'host-key', 'auth', 'till', 'disk']);
    for (const c of doc.checks) expect(c.status, `${c.name}: ${c.detail}`).toBe(c.name === 'till' ? 'warn' : 'pass');
    expect(doc.checks.find((c) => c.name === 'till')!.fix).toBe('run: till host setup web-3');
    const human = await till(home, ['host', 'doctor', 'web-3']);
    expect(human.stdout).toMatch(/pass\s+auth/);
    expect(human.stdout).toContain('web-3: no problems found');
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
      const json = JSON.parse((await till(home, ['host', 'doctor', 'db-1', '--json'])).stdout) as { ok: boolean; checks: Array<{ name: string; status: string; fix: string | null }> };
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
      const doc = JSON.parse((await till(home, ['host', 'doctor', 'web-6', '--json'])).stdout) as { checks: Array<{ name: string; status: string; detail: string }> };
      expect(doc.checks.map((c) => `${c.name}:${c.status}`)).toEqual(['key:pass', 'dns:pass', 'tcp:fail', 'host-key:skip', 'auth:skip', 'till:skip', 'disk:skip']);
    } finally {
      await web6.start();
    }
    expect((await till(home, ['host', 'doctor', 'nosuch'])).code).toBe(2);
  });
});
