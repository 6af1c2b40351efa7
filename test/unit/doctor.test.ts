import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  checkDns,
  checkKey,
  checkSshProbe,
  checkTcp,
  finishReport,
  parseProbe,
  PROBE_MARK,
  restrictedFrom,
} from '../../src/ops/doctor.js';
import { doctor } from '../../src/protocol/probes.js';
import { shQuote } from '../../src/protocol/quote.js';
import { commandLine } from '../../src/protocol/wire.js';

const DOCTOR_SCRIPT = doctor.versions[0]!.text;
const doctorProbe = (tektonPath: string) => commandLine(doctor.versions[0]!, { tektonPath });
import type { HostEntry } from '../../src/core/state/hosts.js';
import type { ProcessResult } from '../../src/ssh/process.js';

const entry: HostEntry = {
  user: 'deploy',
  host: '127.0.30.1',
  port: 22,
  status: 'connected',
  added: '2024-01-01T00:00:00.000Z',
  tekton_path: '~/projects/x',
  installations: [],
};
const result = (exitCode: number, stdout: string, stderr = ''): ProcessResult => ({
  command: 'ssh',
  args: [],
  exitCode,
  signal: null,
  stdout,
  stderr,
  durationMs: 5,
  timedOut: false,
  cancelled: false,
});
const probe = (name = 'web', r: ProcessResult) =>
  checkSshProbe({ name, entry, publicKey: 'ssh-ed25519 AAAAKEY till-federation@me', result: r, connectTimeout: 10 });
const byName = (checks: ReturnType<typeof probe>) => Object.fromEntries(checks.map((c) => [c.name, c]));
const healthy = `${PROBE_MARK}\n${PROBE_MARK}_TILL 0.1.0\n${PROBE_MARK}_PATH /home/deploy\n${PROBE_MARK}_DF /dev/sda1 100000000 2000000 98000000 3% /\n`;

describe('doctor checks', () => {
  it('key: missing, readable by others, public half missing, fine', () => {
    const base = { privateKey: '/k', publicKey: '/k.pub', publicPresent: true };
    expect(checkKey({ ...base, privateMode: null, publicPresent: false })).toMatchObject({
      status: 'fail',
      fix: expect.stringContaining('run: till host init'),
    });
    // Its .pub is there: hosts trust that key; a plain host init would be told to make a new one.
    expect(checkKey({ ...base, privateMode: null })).toMatchObject({
      status: 'fail',
      fix: expect.stringMatching(/^restore it from a backup .*till host init --new-key/),
    });
    expect(checkKey({ ...base, privateMode: 0o644 })).toMatchObject({ status: 'fail', fix: 'run: chmod 600 /k' });
    expect(checkKey({ ...base, privateMode: 0o600, publicPresent: false }).status).toBe('fail');
    expect(checkKey({ ...base, privateMode: 0o600 }).status).toBe('pass');
  });

  it('dns and tcp', () => {
    expect(checkDns('127.0.0.1', 'literal').status).toBe('pass');
    expect(checkDns('x.invalid', { error: 'ENOTFOUND' })).toMatchObject({ status: 'fail' });
    expect(checkTcp('127.0.0.1', 22, { ok: false, code: 'ECONNREFUSED' }, 5).detail).toContain('refused');
    expect(checkTcp('::1', 22, { ok: false, code: 'ETIMEDOUT' }, 5).detail).toContain('[::1]:22');
    expect(checkTcp('127.0.0.1', 22, { ok: true, ms: 3 }, 5).status).toBe('pass');
  });

  it('says resolver and socket error codes in words, the code kept after them', () => {
    expect(checkDns('web1.example', { error: 'ENOTFOUND' }).detail).toBe(
      'web1.example does not resolve: no such name (ENOTFOUND)',
    );
    expect(checkDns('web1.example', { error: 'EAI_AGAIN' }).detail).toContain('the name server did not answer');
    expect(checkTcp('127.0.0.1', 22, { ok: false, code: 'EHOSTUNREACH' }, 5).detail).toBe(
      'cannot reach 127.0.0.1:22: no route to the host (EHOSTUNREACH)',
    );
    expect(checkTcp('127.0.0.1', 22, { ok: false, code: 'EWHATEVER' }, 5).detail).toBe(
      'cannot reach 127.0.0.1:22: EWHATEVER',
    );
  });

  it('a refused key fails auth with the exact authorized_keys line and till host authorize', () => {
    const c = byName(probe('web', result(255, '', 'deploy@127.0.30.1: Permission denied (publickey).\n')));
    expect(c['host-key']!.status).toBe('pass');
    expect(c.auth!.status).toBe('fail');
    expect(c.auth!.fix!.split('\n')).toContain('ssh-ed25519 AAAAKEY till-federation@me');
    expect(c.auth!.fix).toContain('till host authorize web');
    expect([c.till!.status, c.disk!.status]).toEqual(['skip', 'skip']);
  });

  it('a changed host key fails host-key with till host forget, and skips auth', () => {
    const c = byName(
      probe(
        'web',
        result(
          255,
          '',
          '@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n@@@@@\nHost key verification failed.\n',
        ),
      ),
    );
    expect(c['host-key']).toMatchObject({ status: 'fail', fix: expect.stringContaining('till host forget web') });
    expect(c.auth!.status).toBe('skip');
  });

  it('a healthy host passes; a missing till warns; little disk warns', () => {
    expect(probe('web', result(0, healthy)).map((c) => c.status)).toEqual(['pass', 'pass', 'pass', 'pass']);
    const noTill = byName(probe('web', result(0, healthy.replace(`${PROBE_MARK}_TILL 0.1.0`, `${PROBE_MARK}_NOTILL`))));
    expect(noTill.till).toMatchObject({ status: 'warn', fix: 'run: till host setup web' });
    const full = byName(probe('web', result(0, healthy.replace('98000000 3%', '500000 99%'))));
    expect(full.disk!.status).toBe('warn');
    expect(full.disk!.detail).toContain('488 MiB');
  });

  it('parses df lines whose file system name holds spaces', () => {
    const p = parseProbe(`${PROBE_MARK}\n${PROBE_MARK}_DF my disk 1000 10 990 1% /mnt/my disk\n`);
    expect(p.availableKiB).toBe(990);
    expect(p.tillVersion).toBeNull();
  });

  it('the probe is the registered doctor script, tekton_path its one argument; it runs in a real sh', () => {
    expect(doctorProbe("~/a'b")).toBe(`sh -c ${shQuote(DOCTOR_SCRIPT)} till '~/a'\\''b'`);
    const home = realpathSync(mkdtempSync('/tmp/t-unit-doc-'));
    try {
      mkdirSync(join(home, 'a b'));
      const run = (path: string, env: Record<string, string> = {}) =>
        parseProbe(
          execFileSync('/bin/sh', ['-c', DOCTOR_SCRIPT, 'till', path], {
            env: { HOME: home, PATH: '/usr/bin:/bin', ...env },
            encoding: 'utf8',
          }),
        );
      const p = run('~/a b/not/yet');
      expect(p).toMatchObject({ marker: true, tillVersion: null, path: join(home, 'a b'), gate: false });
      expect(p.availableKiB).toBeGreaterThan(0);
      expect(run("~/a'b").path).toBe(home);
      expect(run('/nonexistent/x').path).toBe('/');
      expect(run('~/a b', { TILL_GATE: '1' }).gate).toBe(true);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('through till gate: the key is restricted; a gate that refuses the probe is an older till, or a broken gate.json', () => {
    const gated = byName(probe('web', result(0, `${healthy}${PROBE_MARK}_GATE\n`)));
    expect(gated.auth).toMatchObject({ status: 'pass', detail: expect.stringContaining('restricted to till gate') });
    expect(restrictedFrom(result(0, `${healthy}${PROBE_MARK}_GATE\n`))).toBe(true);
    expect(restrictedFrom(result(0, healthy))).toBe(false);
    expect(restrictedFrom(result(255, '', 'Permission denied (publickey).'))).toBeNull();
    const old = byName(probe('web', result(1, '', "till gate: refused: a script that is not one of till's own\n")));
    expect(old.auth).toMatchObject({ status: 'pass', detail: expect.stringContaining('restricted to till gate') });
    expect(old.till).toMatchObject({
      status: 'warn',
      fix: 'run: till host setup web (fixes to till gate reach the host only when it runs a newer till)',
    });
    expect(old.disk!.status).toBe('skip');
    expect(restrictedFrom(result(1, '', "till gate: refused: a script that is not one of till's own\n"))).toBe(true);
    const broken = byName(
      probe(
        'web',
        result(
          1,
          '',
          'till gate: refused: gate configuration: ~/.till/gate.json cannot be used; its owner finds why in ~/.till/logs/gate.log\n',
        ),
      ),
    );
    // A broken gate refuses host setup too: the only fix is the owner's own access.
    expect(broken.till).toEqual({
      name: 'till',
      status: 'fail',
      detail:
        'till gate on the host refuses every command: gate configuration: ~/.till/gate.json cannot be used; its owner finds why in ~/.till/logs/gate.log',
      fix: "fix ~/.till/gate.json on the host with your own access (its ~/.till/logs/gate.log says why; docs/gate.md): while it is broken the gate refuses every command, host setup's too",
    });
    // tekton_path is not a deploy root: the gate refuses to look there (and would refuse a deploy)
    const notRoot = byName(
      probe(
        'web',
        result(
          1,
          '',
          `till gate: refused: script doctor: ${entry.tekton_path} is not a deploy root of ~/.till/gate.json ("deployRoots"); through the gate, health and doctor look only at those\n`,
        ),
      ),
    );
    expect(notRoot.auth!.status).toBe('pass');
    expect(notRoot.till!.status).toBe('skip');
    expect(notRoot.disk).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining(`tekton_path ${entry.tekton_path} is not a deploy root`),
      fix: expect.stringContaining('till host edit web --tekton-path'),
    });
    // recorded as restricted, but the login was not gated
    const open = checkSshProbe({
      name: 'web',
      entry: { ...entry, restricted: true },
      publicKey: null,
      result: result(0, healthy),
      connectTimeout: 10,
    });
    expect(byName(open).auth).toMatchObject({ status: 'warn', detail: expect.stringContaining('NOT restricted') });
  });

  it("through till gate: the host's till is the gate, compared with this till's version", () => {
    const gatedAt = (version: string, tillLine = `${PROBE_MARK}_TILL 0.1.0`) =>
      byName(
        checkSshProbe({
          name: 'web',
          entry: { ...entry, restricted: true },
          publicKey: null,
          result: result(0, `${healthy.replace(`${PROBE_MARK}_TILL 0.1.0`, tillLine)}${PROBE_MARK}_GATE\n`),
          connectTimeout: 10,
          version,
        }),
      ).till!;
    const upgrade = expect.stringMatching(
      /^run: till host setup web \(installs this till, 0\.2\.0, through the gate; the key stays restricted; fixes to till gate reach the host only when it runs a newer till\)$/,
    );
    expect(gatedAt('0.2.0')).toEqual({
      name: 'till',
      status: 'warn',
      detail:
        "till 0.1.0 is installed (~/.till/bin/till) and runs the host's till gate: it is older than this till (0.2.0)",
      fix: upgrade,
    });
    // A pre-release is older than its release.
    expect(gatedAt('0.1.0', `${PROBE_MARK}_TILL 0.1.0-rc.1`)).toMatchObject({
      status: 'warn',
      detail: expect.stringContaining('till 0.1.0-rc.1 is installed'),
    });
    expect(gatedAt('0.1.0')).toMatchObject({
      status: 'pass',
      detail: expect.stringMatching(/runs the host's till gate: the same version as this till$/),
      fix: null,
    });
    expect(gatedAt('0.0.9')).toMatchObject({
      status: 'pass',
      detail: expect.stringMatching(/runs the host's till gate: newer than this till \(0\.0\.9\)$/),
    });
    for (const line of [`${PROBE_MARK}_NOTILL`, `${PROBE_MARK}_TILL 0.1.0garbage`])
      expect(gatedAt('0.2.0', line)).toMatchObject({
        status: 'warn',
        detail: expect.stringContaining('but its version is unknown'),
        fix: upgrade,
      });
    // An unrestricted host's till is no gate: its version is only reported.
    expect(byName(probe('web', result(0, healthy))).till).toMatchObject({
      status: 'pass',
      detail: 'till 0.1.0 is installed (~/.till/bin/till)',
    });
  });

  it('finishReport fills skips after a failure and is ok only without failures', () => {
    const r = finishReport('web', [
      checkKey({ privateKey: '/k', publicKey: '/k.pub', publicPresent: true, privateMode: null }),
    ]);
    expect(r.ok).toBe(false);
    expect(r.checks.map((c) => c.status)).toEqual(['fail', 'skip', 'skip', 'skip', 'skip', 'skip', 'skip']);
    expect(r.checks[1]!.detail).toContain('key check failed');
  });
});
