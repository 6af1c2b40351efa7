/**
 * The fourth review's user-facing leftovers, each pinned as the user met it: the command
 * line, its stdout, stderr, exit code and what it left behind.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { homeWithOneHost, tempHomes } from '../lab/homes.js';
import { closeMasters, homeWithHosts, till, tillOk } from '../lab/till.js';

const home = tempHomes();

describe('a blank option value that would mean nothing', () => {
  it('host deploy --check with an empty or blank command is a usage error before any connection', async () => {
    const h = await homeWithOneHost(home);
    for (const check of ['', '  \t']) {
      const r = await till(h, ['host', 'deploy', 'h0', '--source', h, '--check', check]);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/--check/);
      expect(r.stderr).not.toMatch(/deploying|retry|refused/);
    }
  });

  it('--source, --installation, -m, --root, watch intervals and a command after -- that are blank are usage errors too (was: the current directory, an empty record, a shell, a watch that ignored them)', async () => {
    const h = await homeWithOneHost(home);
    for (const [args, said] of [
      [['host', 'deploy', 'h0', '--source', ''], /--source is empty/],
      [['host', 'diff', 'h0', '--source', ' '], /--source is empty/],
      [['host', 'health', 'h0', '--drift', '--source', ''], /--source is empty/],
      [['host', 'deploy', 'h0', '--source', h, '-m', ''], /--message is empty/],
      [['host', 'rollback', 'h0', '-m', '  '], /--message is empty/],
      [['host', 'ssh', 'h0', '--', ''], /the command after -- is empty/],
      [['installation', 'discover', '--root', ''], /--root is empty/],
      [['host', 'deploy', 'h0', '--installation', ''], /--installation is empty/],
      [['watch', '--health-interval', ''], /--health-interval takes a duration/],
      [['watch', '--audit-interval', ' '], /--audit-interval takes a duration/],
      [['watch', '--sync-command', ''], /--sync-command is empty/],
    ] as const) {
      const r = await till(h, [...args]);
      expect({ args, code: r.code, stdout: r.stdout }).toEqual({ args, code: 2, stdout: '' });
      expect(r.stderr).toMatch(said);
      expect(r.stderr).not.toMatch(/deploying|retry|refused/);
    }
  });
});
describe('a failed --check in the result', () => {
  it('shows the check exit code, not the switch script exit 0, and says the check failed', async () => {
    const { home: h, lab } = await homeWithHosts(1);
    try {
      const src = join(h, 'src');
      mkdirSync(src);
      writeFileSync(join(src, 'a.txt'), 'a\n');
      const json = await till(h, ['host', 'deploy', 'h0', '--source', src, '--check', 'exit 3', '--json']);
      expect(json.code).toBe(1);
      const r = JSON.parse(json.stdout).results[0];
      expect(r.checkFailed).toBe(true);
      expect(r.exitCode).toBe(3);
      expect(r.error).toMatch(/check failed \(exit 3\)/);
      writeFileSync(join(src, 'a.txt'), 'b\n');
      const table = await till(h, ['host', 'deploy', 'h0', '--source', src, '--check', 'exit 3']);
      expect(table.code).toBe(1);
      const row = table.stdout.split('\n').find((l) => l.startsWith('h0'));
      expect(row).toMatch(/^h0\s+\S+\s+3\s/);
    } finally {
      await closeMasters(h);
      lab.stop();
    }
  });
});

describe('host fetch after a failure', () => {
  it('leaves no folder for a host that sent nothing, nor the local folder it made; keeps what a host sent', async () => {
    const { home: h, lab } = await homeWithHosts(1);
    try {
      await tillOk(h, ['host', 'add', 'down', 'u@127.0.0.5:1']);
      lab.hosts[0]!.shell('echo hi > here.txt');
      const out = join(h, 'out', 'deeper');
      const missing = await till(h, ['host', 'fetch', 'h0', '~/nothing-here', out]);
      expect(missing.code).toBe(1);
      const down = await till(h, ['host', 'fetch', 'down', '~/here.txt', out, '--retries', '1']);
      expect(down.code).toBe(1);
      expect(existsSync(join(h, 'out'))).toBe(false);
      // One host sends, one cannot: only the first has a folder.
      const mixed = await till(h, ['host', 'fetch', 'h0,down', '~/here.txt', out, '--retries', '1']);
      expect(mixed.code).toBe(1);
      expect(readdirSync(out)).toEqual(['h0']);
      expect(readFileSync(join(out, 'h0', 'here.txt'), 'utf8')).toBe('hi\n');
      // A folder that was there before the run stays, even empty.
      mkdirSync(join(out, 'down'));
      await till(h, ['host', 'fetch', 'down', '~/here.txt', out, '--retries', '1']);
      expect(existsSync(join(out, 'down'))).toBe(true);
    } finally {
      await closeMasters(h);
      lab.stop();
    }
  });
});

describe('file system errors in words, not errno text', () => {
  /** Node's own wording of an errno error: `EEXIST: file already exists, mkdir '/x'`. */
  const RAW = /\bE[A-Z]+: [a-z ]+, [a-z]+ '/;

  it('till watch with a file where its log folder goes: exit 4 before it starts, the folder named', async () => {
    const h = home();
    await tillOk(h, ['host', 'init']);
    rmSync(join(h, 'logs'), { recursive: true, force: true });
    writeFileSync(join(h, 'logs'), '');
    const r = await till(h, ['watch', '--health-interval', '1h'], { timeoutMs: 20_000 });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(`${join(h, 'logs')}: a file of that name is in the way`);
    expect(r.stderr).not.toMatch(RAW);
    expect(r.stderr).not.toMatch(/internal error|watch started/);
  });

  it('host setup --restrict with a folder where the public key goes: says so (not "no public key", not EISDIR text)', async () => {
    const h = await homeWithOneHost(home);
    const pub = join(h, 'ssh', 'till_federation_ed25519.pub');
    rmSync(pub);
    mkdirSync(pub);
    rmSync(join(h, 'logs'), { recursive: true, force: true });
    writeFileSync(join(h, 'logs'), '');
    const r = await till(h, ['host', 'setup', 'h0', '--restrict']);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(`could not read ${pub}: a directory is in the way`);
    expect(r.stderr).not.toMatch(/no public key|host init/);
    // The operations journal, which cannot be written either, says why in words too.
    expect(r.stderr).toContain(
      `could not record this command in the operations journal: ${join(h, 'logs')}: a file of that name is in the way`,
    );
    expect(r.stderr).not.toMatch(RAW);
  });
});
describe('a lock another till holds, or a killed one left', () => {
  /** A lock folder as a till killed 12 s ago left it (stale at 15 s, so in about 3 s), and the words a wait for it gets. */
  const killedTillsLock = (dir: string): string => {
    mkdirSync(dir, { recursive: true });
    const at = new Date(Date.now() - 12_000);
    utimesSync(dir, at, at);
    return `till: waiting for ${dir}: another till holds it (one a killed till left is taken after 15 s)\n`;
  };

  it('is waited for out loud: stderr says which lock and why, then the command goes on once it is stale', async () => {
    const h = home();
    await tillOk(h, ['host', 'init']);
    const dir = join(h, 'hosts-local.json.lock');
    const said = killedTillsLock(dir);
    const r = await till(h, ['host', 'add', 'web1', 'deploy@127.0.0.1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(said);
    expect(Object.keys(JSON.parse(readFileSync(join(h, 'hosts-local.json'), 'utf8')).hosts)).toEqual(['web1']);
    expect(existsSync(dir)).toBe(false);
    // no wait, no word
    const again = await till(h, ['host', 'add', 'web2', 'deploy@127.0.0.2']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).not.toContain('waiting for');
  });

  it("the operations journal's lock too (taken synchronously, as the command exits)", async () => {
    const h = home();
    await tillOk(h, ['host', 'init']);
    const said = killedTillsLock(join(h, 'logs', 'operations.jsonl.lock'));
    const r = await till(h, ['host', 'add', 'web1', 'deploy@127.0.0.1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(said);
    expect(readFileSync(join(h, 'logs', 'operations.jsonl'), 'utf8')).toMatch(/"argv":\["host","add","web1"/);
  });
});

describe('host import of a pssh file with IPv6 lines', () => {
  it('adds them under names made from the address, the address kept as the address', async () => {
    const h = home();
    await tillOk(h, ['host', 'init']);
    const file = join(h, 'hosts.txt');
    writeFileSync(file, '[::1]:2222\nops@[0:0:0:0:0:0:0:1]\n');
    const r = await till(h, ['host', 'import', file, '--format', 'pssh']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('named after its IPv6 address ::1');
    const hosts = JSON.parse(readFileSync(join(h, 'hosts-local.json'), 'utf8')).hosts;
    expect(Object.keys(hosts).sort()).toEqual(['0--1', '0-0-0-0-0-0-0-1']);
    expect([hosts['0--1'].host, hosts['0--1'].port]).toEqual(['::1', 2222]);
    expect([hosts['0-0-0-0-0-0-0-1'].host, hosts['0-0-0-0-0-0-0-1'].user]).toEqual(['0:0:0:0:0:0:0:1', 'ops']);
    expect(readFileSync(join(h, 'ssh', 'config'), 'utf8')).toMatch(/Host till-0--1\n\s+HostName ::1\n/);
  });
});

describe('completion of rollback --to', () => {
  it('offers no release id of a deploy that made none (a failed run, a dry run)', async () => {
    const h = await homeWithOneHost(home);
    const src = join(h, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'a.txt'), 'a\n');
    expect((await till(h, ['host', 'deploy', 'h0', '--source', src, '--retries', '1'])).code).toBe(1);
    expect((await till(h, ['host', 'deploy', 'h0', '--source', src, '--dry-run', '--retries', '1'])).code).toBe(1);
    const r = await tillOk(h, ['__complete', 'zsh', '--', 'host', 'rollback', 'h0', '--to', '']);
    expect(r.stdout).toBe('words\n');
  });
});
