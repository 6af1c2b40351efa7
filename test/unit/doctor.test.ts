import { describe, expect, it } from 'vitest';
import { checkDns, checkKey, checkSshProbe, checkTcp, doctorProbe, finishReport, parseProbe, PROBE_MARK } from '../../src/ops/doctor.js';
import type { HostEntry } from '../../src/core/state/hosts.js';
import type { ProcessResult } from '../../src/ssh/process.js';

const entry: HostEntry = { user: 'deploy', host: 'web.example', port: 22, status: 'connected', added: '2024-01-01T00:00:00.000Z', tekton_path: '~/projects/x', installations: [] };
const result = (exitCode: number, stdout: string, stderr = ''): ProcessResult => ({ command: 'ssh', args: [], exitCode, signal: null, stdout, stderr, durationMs: 5, timedOut: false, cancelled: false });
const probe = (name = 'web', r: ProcessResult) => checkSshProbe({ name, entry, publicKey: 'ssh-ed25519 AAAAKEY till-federation@me', result: r, connectTimeout: 10 });
const byName = (checks: ReturnType<typeof probe>) => Object.fromEntries(checks.map((c) => [c.name, c]));
const healthy = `${PROBE_MARK}\n${PROBE_MARK}_TILL 0.1.0\n${PROBE_MARK}_PATH /home/deploy\n${PROBE_MARK}_DF /dev/sda1 100000000 2000000 98000000 3% /\n`;

describe('doctor checks', () => {
  it('key: missing, readable by others, public half missing, fine', () => {
    const base = { privateKey: '/k', publicKey: '/k.pub', publicPresent: true };
    expect(checkKey({ ...base, privateMode: null })).toMatchObject({ status: 'fail', fix: expect.stringContaining('till host init') });
    expect(checkKey({ ...base, privateMode: 0o644 })).toMatchObject({ status: 'fail', fix: 'run: chmod 600 /k' });
    expect(checkKey({ ...base, privateMode: 0o600, publicPresent: false }).status).toBe('fail');
    expect(checkKey({ ...base, privateMode: 0o600 }).status).toBe('pass');
  });

  it('dns and tcp', () => {
    expect(checkDns('10.0.0.1', 'literal').status).toBe('pass');
    expect(checkDns('x.invalid', { error: 'ENOTFOUND' })).toMatchObject({ status: 'fail' });
    expect(checkTcp('10.0.0.1', 22, { ok: false, code: 'ECONNREFUSED' }, 5).detail).toContain('refused');
    expect(checkTcp('::1', 22, { ok: false, code: 'ETIMEDOUT' }, 5).detail).toContain('[::1]:22');
    expect(checkTcp('10.0.0.1', 22, { ok: true, ms: 3 }, 5).status).toBe('pass');
  });

  it('a refused key fails auth with the exact authorized_keys line and till host authorize', () => {
    const c = byName(probe('web', result(255, '', 'deploy@web.example: Permission denied (publickey).\n')));
    expect(c['host-key']!.status).toBe('pass');
    expect(c.auth!.status).toBe('fail');
    expect(c.auth!.fix!.split('\n')).toContain('ssh-ed25519 AAAAKEY till-federation@me');
    expect(c.auth!.fix).toContain('till host authorize web');
    expect([c.till!.status, c.disk!.status]).toEqual(['skip', 'skip']);
  });

  it('a changed host key fails host-key with till host forget, and skips auth', () => {
    const c = byName(probe('web', result(255, '', '@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n@@@@@\nHost key verification failed.\n')));
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

  it('the probe quotes tekton_path', () => {
    expect(doctorProbe("~/a'b")).toContain(`p="$HOME"/'a'\\''b'`);
  });

  it('finishReport fills skips after a failure and is ok only without failures', () => {
    const r = finishReport('web', [checkKey({ privateKey: '/k', publicKey: '/k.pub', publicPresent: true, privateMode: null })]);
    expect(r.ok).toBe(false);
    expect(r.checks.map((c) => c.status)).toEqual(['fail', 'skip', 'skip', 'skip', 'skip', 'skip', 'skip']);
    expect(r.checks[1]!.detail).toContain('key check failed');
  });
});
