import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../lab/lab.js';
import { closeMasters, homeWithHosts, till, tillOk } from '../lab/till.js';

let lab: Lab;
let home: string;

beforeAll(async () => {
  ({ home, lab } = await homeWithHosts(3));
});

afterAll(async () => {
  lab?.stop();
  await closeMasters(home);
});

const db = () => JSON.parse(readFileSync(`${home}/hosts-local.json`, 'utf8'));

describe('till host test against real sshd', () => {
  it('connects to every host with till key and alias, records status and known host keys', async () => {
    const r = await tillOk(home, ['host', 'test', '--all', '--json']);
    const doc = JSON.parse(r.stdout);
    expect(doc.ok).toBe(true);
    expect(doc.summary).toEqual({ total: 3, ok: 3, failed: 0, unreachable: 0, skipped: 0 });
    for (const res of doc.results) {
      expect(res.stdout).toContain('TILL_TEST_SUCCESS');
      expect(res.latencyMs).toBeGreaterThan(0);
    }
    for (const name of ['h0', 'h1', 'h2']) {
      expect(db().hosts[name].status).toBe('connected');
      expect(Date.parse(db().hosts[name].last_test)).toBeGreaterThan(0);
    }
    const known = readFileSync(`${home}/ssh/known_hosts`, 'utf8');
    for (const h of lab.hosts) expect(known).toContain(`[${h.address}]:${h.port} ssh-ed25519 `);
  });

  it('lets a person use the same connection by hand: ssh -F <config> till-<name>', () => {
    const out = execFileSync('ssh', ['-F', `${home}/ssh/config`, 'till-h1', 'echo $USER'], { encoding: 'utf8' });
    expect(out.trim()).toBe(lab.hosts[1]!.user);
  });

  it('passes a host whose login shell greets without a newline (the greeting glued to the marker)', async () => {
    const h = lab.hosts[2]!;
    writeFileSync(`${h.home}/.bashrc`, "printf 'welcome '\n");
    try {
      // Control: the greeting really is on stdout, glued to what the command prints.
      expect(execFileSync('ssh', ['-F', `${home}/ssh/config`, 'till-h2', 'echo hi'], { encoding: 'utf8' })).toBe(
        'welcome hi\n',
      );
      const doc = JSON.parse((await tillOk(home, ['host', 'test', 'h2', '--json'])).stdout);
      expect(doc.results[0]).toMatchObject({ host: 'h2', ok: true });
      expect(db().hosts.h2.status).toBe('connected');
    } finally {
      rmSync(`${h.home}/.bashrc`, { force: true });
    }
  });

  it('reports a stopped host as connection refused while the others pass; exit 1', async () => {
    lab.hosts[2]!.stop();
    try {
      const r = await till(home, ['host', 'test', '--all', '--retries', '1']);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/h0\s+ok/);
      expect(r.stdout).toMatch(/h1\s+ok/);
      expect(r.stdout).toMatch(/h2\s+unreachable .*connection refused/);
      expect(db().hosts.h2.failures).toBe(1);
      expect(db().hosts.h2.last_error).toContain('connection refused');
      expect(db().hosts.h0.failures).toBe(0);
    } finally {
      await lab.hosts[2]!.start();
    }
  });

  it('refuses a host whose host key changed, naming the host', async () => {
    const h = lab.hosts[0]!;
    await tillOk(home, ['host', 'test', 'h0']);
    // End the master first: a live master would hide the new key.
    execFileSync('ssh', ['-F', `${home}/ssh/config`, '-O', 'exit', 'till-h0'], { stdio: 'ignore' });
    await h.changeHostKey();
    // changeHostKey may move the host to a new port; keep the database pointing at it.
    await tillOk(home, ['host', 'remove', 'h0']);
    await tillOk(home, ['host', 'add', 'h0', h.spec]);
    const known = readFileSync(`${home}/ssh/known_hosts`, 'utf8');
    const addr = `[${h.address}]:${h.port}`;
    if (!known.includes(addr)) {
      // The host came back on another address: plant the old key there, as if it had changed in place.
      const old = known
        .split('\n')
        .find((l) => l.includes('ssh-ed25519'))!
        .split(' ')
        .slice(1)
        .join(' ');
      execFileSync('sh', ['-c', `printf '%s\\n' "$1" >> "$2"`, 'sh', `${addr} ${old}`, `${home}/ssh/known_hosts`]);
    }
    const r = await till(home, ['host', 'test', 'h0', '--json']);
    expect(r.code).toBe(1);
    const res = JSON.parse(r.stdout).results[0];
    expect(res.host).toBe('h0');
    expect(res.attempts).toBe(1);
    expect(res.error).toMatch(/host key changed/);
    const plain = await till(home, ['host', 'test', 'h0']);
    expect(plain.stdout).toMatch(/h0\s+unreachable.*host key changed/);
  });

  it('explains a refused key', async () => {
    const h = lab.hosts[1]!;
    h.shell(': > ~/.ssh/authorized_keys');
    try {
      execFileSync('ssh', ['-F', `${home}/ssh/config`, '-O', 'exit', 'till-h1'], { stdio: 'ignore' });
      const r = await till(home, ['host', 'test', 'h1', '--json']);
      expect(r.code).toBe(1);
      const res = JSON.parse(r.stdout).results[0];
      expect(res.error).toMatch(/authentication failed: the host refused till's key/);
      expect(res.attempts).toBe(1);
    } finally {
      h.authorize(readFileSync(`${home}/ssh/till_federation_ed25519.pub`, 'utf8'));
    }
  });
});
