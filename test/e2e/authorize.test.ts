/**
 * `till host authorize` uses the operator's OWN ssh: their default identity, their
 * ~/.ssh/config and known_hosts. OpenSSH takes ~ from the passwd entry, not $HOME, so
 * the "operator" here is a real Unix user with a temp home: nothing touches /root/.ssh.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startLab, type Lab, type LabHost } from '../lab/lab.js';
import { TILL_BIN, type TillRun } from '../lab/till.js';

const OPERATOR_KEYS = '.operator_keys';

describe('till host authorize', () => {
  let lab: Lab;
  let opDir: string;
  let opHome: string;
  let op: string;
  let tillHome: string;
  let tillPub: string;
  const rootSsh = () =>
    existsSync('/root/.ssh')
      ? readdirSync('/root/.ssh')
          .map((f) => `${f}:${statSync(`/root/.ssh/${f}`).mtimeMs}`)
          .sort()
      : [];
  let rootSshBefore: string[];

  /** till as the operator user. */
  const tillAs = (args: string[]): Promise<TillRun> =>
    new Promise((resolve, reject) => {
      const child = spawn(
        '/usr/sbin/runuser',
        [
          '-u',
          op,
          '--',
          '/usr/bin/env',
          '-i',
          `HOME=${opHome}`,
          `TILL_HOME=${tillHome}`,
          'NO_COLOR=1',
          'PATH=/usr/bin:/bin',
          process.execPath,
          TILL_BIN,
          ...args,
        ],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
          cwd: opHome,
        },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('error', reject);
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout, stderr });
      });
    });
  const tillAsOk = async (args: string[]) => {
    const r = await tillAs(args);
    if (r.code !== 0) throw new Error(`till ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
    return r;
  };
  const authorizedKeys = (h: LabHost) => readFileSync(`${h.home}/.ssh/authorized_keys`, 'utf8');
  const tillBlob = () => tillPub.split(' ')[1]!;

  beforeAll(async () => {
    rootSshBefore = rootSsh();
    // Host 1 also reads ~/.operator_keys, so its ~/.ssh can be missing entirely.
    lab = await startLab(3, {
      perHost: (i) =>
        i === 1 ? { sshdExtra: ['Match all', `    AuthorizedKeysFile .ssh/authorized_keys ${OPERATOR_KEYS}`] } : {},
    });
    // A lab user, so a stale-lab clean-up in another worker leaves it alone while this file runs.
    ({ user: op, home: opHome } = lab.addUser());
    opDir = dirname(opHome);
    execFileSync('ssh-keygen', [
      '-q',
      '-t',
      'ed25519',
      '-N',
      '',
      '-C',
      'operator',
      '-f',
      join(opHome, '.ssh', 'id_ed25519'),
    ]);
    writeFileSync(
      join(opHome, '.ssh', 'config'),
      `Host *\n    StrictHostKeyChecking accept-new\n    UserKnownHostsFile ${opHome}/.ssh/known_hosts\n`,
    );
    tillHome = join(opDir, 't');
    mkdirSync(tillHome);
    execFileSync('chown', ['-R', `${op}:`, opHome, tillHome]);
    const opPub = readFileSync(join(opHome, '.ssh', 'id_ed25519.pub'), 'utf8');
    lab.hosts[0]!.authorize(opPub);
    rmSync(join(lab.hosts[1]!.home, '.ssh'), { recursive: true });
    writeFileSync(join(lab.hosts[1]!.home, OPERATOR_KEYS), opPub);
    chownSync(join(lab.hosts[1]!.home, OPERATOR_KEYS), lab.hosts[1]!.uid, lab.hosts[1]!.gid);
    // host 2 does not know the operator at all
    await tillAsOk(['host', 'init']);
    tillPub = readFileSync(join(tillHome, 'ssh', 'till_federation_ed25519.pub'), 'utf8').trim();
    for (const h of lab.hosts) await tillAsOk(['host', 'add', `h${h.index}`, h.spec]);
  });

  afterAll(async () => {
    for (const s of tillHome && existsSync(`${tillHome}/ssh/control`) ? readdirSync(`${tillHome}/ssh/control`) : []) {
      try {
        execFileSync('ssh', ['-o', `ControlPath=${tillHome}/ssh/control/${s}`, '-O', 'exit', 'x'], {
          stdio: 'ignore',
          timeout: 5000,
        });
      } catch {
        // gone
      }
    }
    // Removes the operator user and its folder too.
    lab?.stop();
  });

  test('installs the key with the operator ssh, proves the login, records connected; a second run adds nothing', async () => {
    const h = lab.hosts[0]!;
    const before = authorizedKeys(h);
    const r = await tillAs(['host', 'authorize', 'h0']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("till's key added");
    expect(r.stderr).toContain("login with till's key works");
    expect(authorizedKeys(h)).toBe(`${before}${tillPub}\n`);
    const show = JSON.parse((await tillAsOk(['host', 'show', 'h0', '--json'])).stdout);
    expect(show.status).toBe('connected');
    expect(show.key_fingerprint).toMatch(/^SHA256:/);
    // the operator's known_hosts learned the host; till's own config was not used for it
    // (Debian hashes known_hosts names by default: look it up as ssh does)
    expect(
      execFileSync('ssh-keygen', ['-F', `[${h.address}]:${h.port}`, '-f', join(opHome, '.ssh', 'known_hosts')], {
        encoding: 'utf8',
      }),
    ).toContain('ssh-ed25519');
    expect(readFileSync(join(tillHome, 'ssh', 'known_hosts'), 'utf8')).toContain(`[${h.address}]:${h.port}`);

    const again = await tillAs(['host', 'authorize', 'h0', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ host: 'h0', added: false, connected: true });
    expect(authorizedKeys(h)).toBe(`${before}${tillPub}\n`);
  });

  test('matches by key blob: a line with options and another comment counts, and a missing final newline is fixed first', async () => {
    const h = lab.hosts[0]!;
    const opLine = readFileSync(join(opHome, '.ssh', 'id_ed25519.pub'), 'utf8').trim();
    writeFileSync(
      `${h.home}/.ssh/authorized_keys`,
      `${opLine}\nno-pty,from="127.0.0.0/8" ssh-ed25519 ${tillBlob()} renamed`,
    );
    const r = await tillAsOk(['host', 'authorize', 'h0']);
    expect(r.stderr).toContain('was already in');
    expect(authorizedKeys(h)).toBe(`${opLine}\nno-pty,from="127.0.0.0/8" ssh-ed25519 ${tillBlob()} renamed`);
    writeFileSync(`${h.home}/.ssh/authorized_keys`, opLine);
    await tillAsOk(['host', 'authorize', 'h0']);
    expect(authorizedKeys(h)).toBe(`${opLine}\n${tillPub}\n`);
  });

  test('creates ~/.ssh (0700) and authorized_keys (0600) when the host has none', async () => {
    const h = lab.hosts[1]!;
    expect(existsSync(`${h.home}/.ssh`)).toBe(false);
    const r = await tillAs(['host', 'authorize', 'h1']);
    expect(r.code, r.stderr).toBe(0);
    expect(statSync(`${h.home}/.ssh`).mode & 0o777).toBe(0o700);
    expect(statSync(`${h.home}/.ssh/authorized_keys`).mode & 0o777).toBe(0o600);
    expect(statSync(`${h.home}/.ssh/authorized_keys`).uid).toBe(h.uid);
    expect(authorizedKeys(h)).toBe(`${tillPub}\n`);
    expect(JSON.parse((await tillAsOk(['host', 'show', 'h1', '--json'])).stdout).status).toBe('connected');
  });

  test('without a terminal it never waits for a password: a host that refuses the operator fails at once with exit 1', async () => {
    const r = await tillAs(['host', 'authorize', 'h2']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/could not install till's key on h2 with your own ssh: authentication failed/);
    expect(authorizedKeys(lab.hosts[2]!)).toBe('');
  });

  test('--restrict installs till on the host first, then restricts the key to till gate: test works, exec is refused', async () => {
    const r = await tillAs(['host', 'authorize', 'h0', '--restrict']);
    expect(r.code, r.stderr).toBe(0);
    const line = authorizedKeys(lab.hosts[0]!)
      .split('\n')
      .find((l) => l.includes(tillBlob()))!;
    expect(line).toMatch(/^restrict,command="[^"]*\/\.till\/bin\/till gate" ssh-ed25519 /);
    expect((await tillAs(['host', 'test', 'h0'])).code).toBe(0);
    const exec = await tillAs(['host', 'exec', 'h0', '--', 'id']);
    expect(exec.code).toBe(1);
    expect(exec.stdout).toContain('refused by till gate');
    const db = JSON.parse(readFileSync(join(tillHome, 'hosts-local.json'), 'utf8'));
    expect(db.hosts.h0).toMatchObject({ status: 'till-ready', restricted: true });
  });

  test('never touches /root/.ssh', () => {
    expect(rootSsh()).toEqual(rootSshBefore);
  });
});
