import { execFileSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  ftruncateSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  statfsSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLab, type Lab } from '../lab/lab.js';
import { closeMasters, till, tillOk, waitUntil, type TillRun } from '../lab/till.js';

/**
 * The controller's disk is full: TILL_HOME on a small tmpfs that a filler file fills.
 * Every state file a command cannot write is left byte for byte as it was, the command
 * says "disk full" and which file (exit 4, never the internal-error report, exit 70), no
 * temp file or lock is left behind, and the same command works once space is freed.
 * Real sshd host for the writers that follow a contact (known_hosts, health history,
 * audit history, deploy journal).
 */
let mount: string;
let home: string;
let lab: Lab;
let src: string;
const FILLER = () => join(mount, 'filler');
const PAGE = 4096;

/** Every file under TILL_HOME (control sockets aside) with its content's hash: names show stray temp files and locks. */
function snapshot(): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (p === join(home, 'ssh', 'control')) continue;
      const st = statSync(p);
      if (st.isDirectory()) {
        out[`${p}/`] = 'dir';
        walk(p);
      } else out[p] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(home);
  return out;
}

/** Fills the file system; then frees `freePages` pages (0: none left at all). */
function fill(freePages = 0): void {
  const fd = openSync(FILLER(), 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  const page = Buffer.alloc(PAGE, 1);
  let size = 0;
  try {
    for (;;) size += writeSync(fd, chunk);
  } catch {
    // the 64 KiB steps are done: fill the rest page by page
  }
  try {
    for (;;) size += writeSync(fd, page);
  } catch {
    // full
  }
  ftruncateSync(fd, Math.floor(size / PAGE) * PAGE - freePages * PAGE);
  closeSync(fd);
  expect(statfsSync(mount).bavail).toBe(freePages);
}
const unfill = () => rmSync(FILLER(), { force: true });

function expectDiskFull(r: TillRun, file: string): void {
  expect(r.stderr).not.toMatch(/internal error/);
  expect(r.code, r.stderr).toBe(4);
  expect(r.stderr).toContain(`error: disk full: could not write ${file}`);
  expect(r.stderr).toMatch(/hint: free space on the file system that holds TILL_HOME/);
}

beforeAll(async () => {
  mount = mkdtempSync('/tmp/t-');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'tmpfs', mount]);
  home = join(mount, 'h');
  await tillOk(home, ['host', 'init']);
  const key = readFileSync(`${home}/ssh/till_federation_ed25519.pub`, 'utf8');
  lab = await startLab(1, { authorizedKey: key });
  await tillOk(home, ['host', 'add', 'h0', lab.hosts[0]!.spec]);
  src = mkdtempSync('/tmp/t-src-');
  writeFileSync(join(src, 'app.txt'), 'v1\n');
  // Every state file exists before the disk fills: hosts, config, known_hosts, schedule,
  // installations, health history, audit history, deploy journal, watch log.
  await tillOk(home, ['schedule', 'set', '--interval-hours', '6']);
  await tillOk(home, ['installation', 'add', src, '--name', 'app']);
  await tillOk(home, ['host', 'health', '--all', '--load-max', '10000', '--disk-min', '0']);
  await till(home, ['host', 'audit', '--all']);
  await tillOk(home, ['host', 'deploy', 'h0', '--source', src], { timeoutMs: 120_000 });
  for (const f of ['hosts-local.json', 'ssh/config', 'ssh/known_hosts', 'schedule.json', 'installations.json'])
    expect(existsSync(join(home, f)), f).toBe(true);
  for (const f of ['health-history.json', 'audit/h0.json', 'deploy-journal.json'])
    expect(existsSync(join(home, 'state', f)), f).toBe(true);
}, 180_000);

afterAll(async () => {
  lab?.stop();
  if (home) await closeMasters(home).catch(() => undefined);
  if (mount) {
    execFileSync('umount', ['-l', mount]);
    rmSync(mount, { recursive: true, force: true });
  }
  if (src) rmSync(src, { recursive: true, force: true });
});

describe('the controller disk is full', { timeout: 120_000 }, () => {
  /** Runs `args` on a full disk: exit 4 naming `file`, TILL_HOME unchanged; then with space: `then` holds. */
  async function refusedThenWorks(args: string[], file: string, then: (r: TillRun) => void): Promise<void> {
    const before = snapshot();
    fill();
    let r: TillRun;
    try {
      r = await till(home, args, { timeoutMs: 90_000 });
    } finally {
      unfill();
    }
    expectDiskFull(r, file);
    // The operations journal records the refused command when a record still fits, whole or not at all.
    const journal = join(home, 'logs', 'operations.jsonl');
    const { [journal]: _journalBefore, ...restBefore } = before;
    const { [journal]: _journalAfter, ...restAfter } = snapshot();
    expect(restAfter).toEqual(restBefore);
    const records = readFileSync(journal, 'utf8').split('\n').filter(Boolean);
    for (const line of records) expect(() => JSON.parse(line) as unknown, line).not.toThrow();
    const again = await till(home, args, { timeoutMs: 90_000 });
    then(again);
  }

  it('host add (hosts-local.json): refused, the database unchanged; added once there is space', async () => {
    await refusedThenWorks(['host', 'add', 'h9', 'u@127.0.0.9:2299'], join(home, 'hosts-local.json'), (r) => {
      expect(r.code, r.stderr).toBe(0);
      expect(readFileSync(join(home, 'hosts-local.json'), 'utf8')).toContain('"h9"');
    });
    await tillOk(home, ['host', 'remove', 'h9']);
  });

  it('ssh/config rebuilt from a hand-edited database: refused and unchanged; rebuilt once there is space', async () => {
    const db = JSON.parse(readFileSync(join(home, 'hosts-local.json'), 'utf8'));
    db.hosts.h0.note = 'edited by hand'; // an unknown field: kept, and the config no longer matches the database
    writeFileSync(join(home, 'hosts-local.json'), `${JSON.stringify(db, null, 2)}\n`);
    const config = readFileSync(join(home, 'ssh', 'config'), 'utf8');
    await refusedThenWorks(['host', 'list'], join(home, 'ssh', 'config'), (r) => {
      expect(r.code, r.stderr).toBe(0);
      expect(readFileSync(join(home, 'ssh', 'config'), 'utf8')).not.toBe(config);
    });
  });

  it('schedule set (schedule.json) and installation add (installations.json)', async () => {
    await refusedThenWorks(['schedule', 'set', '--daily-at', '04:30'], join(home, 'schedule.json'), (r) =>
      expect(r.code, r.stderr).toBe(0),
    );
    const other = mkdtempSync('/tmp/t-src-');
    try {
      await refusedThenWorks(['installation', 'add', other, '--name', 'other'], join(home, 'installations.json'), (r) =>
        expect(r.code, r.stderr).toBe(0),
      );
      await tillOk(home, ['installation', 'remove', 'other']);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('host deploy (deploy-journal.json): refused before any host is contacted; deploys once there is space', async () => {
    writeFileSync(join(src, 'app.txt'), 'v2\n');
    await refusedThenWorks(['host', 'deploy', 'h0', '--source', src], join(home, 'state', 'deploy-journal.json'), (r) =>
      expect(r.code, r.stderr).toBe(0),
    );
    expect(lab.hosts[0]!.shell('cat projects/github/Tekton/app.txt')).toBe('v2\n');
  });

  it('host audit (state/audit/h0.json): the host fails with the reason, nothing changed; audited once there is space', async () => {
    const auditFile = join(home, 'state', 'audit', 'h0.json');
    const audits = () => JSON.parse(readFileSync(auditFile, 'utf8')).audits.length as number;
    const count = audits();
    const before = snapshot();
    fill();
    let r: TillRun;
    try {
      r = await till(home, ['host', 'audit', 'h0', '--json']);
    } finally {
      unfill();
    }
    expect(JSON.parse(r.stdout).results[0].error).toBe(
      `audit history not updated (drift unknown): disk full: could not write ${auditFile}; it was left as it was`,
    );
    // The host failed (exit 1); a failure that proves no contact changes nothing in the database.
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).not.toMatch(/internal error/);
    expect(snapshot()).toEqual(before);
    const again = await till(home, ['host', 'audit', 'h0']);
    expect(again.code, again.stderr).toBe(0);
    expect(audits()).toBe(count + 1);
  });

  it('host health with room for the database but not the history: the history is left as it was', async () => {
    // A history of 100 points is ~10 pages, the database one: 3 free pages fit every write but the history's.
    const historyFile = join(home, 'state', 'health-history.json');
    const history = JSON.parse(readFileSync(historyFile, 'utf8'));
    const point = history.hosts.h0.at(-1);
    history.hosts.h0 = Array.from({ length: 100 }, (_, i) => ({
      ...point,
      at: new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString(),
    }));
    writeFileSync(historyFile, `${JSON.stringify(history, null, 2)}\n`);
    expect(statSync(historyFile).size).toBeGreaterThan(8 * PAGE);
    const before = snapshot();
    fill(3);
    let r: TillRun;
    try {
      r = await till(home, ['host', 'health', 'h0', '--load-max', '10000', '--disk-min', '0']);
    } finally {
      unfill();
    }
    expectDiskFull(r, historyFile);
    const after = snapshot();
    expect(after[historyFile]).toBe(before[historyFile]);
    // The database took the snapshot (its write completed); nothing else was added or left over.
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
    const again = await tillOk(home, ['host', 'health', 'h0', '--load-max', '10000', '--disk-min', '0']);
    expect(again.code).toBe(0);
    expect(JSON.parse(readFileSync(historyFile, 'utf8')).hosts.h0).toHaveLength(100);
  });

  it('known_hosts: host forget is refused, and a key ssh could only half-append is cut back', async () => {
    const knownHosts = join(home, 'ssh', 'known_hosts');
    // Another host's line stays: without it the new text is empty, and an empty file needs no space.
    writeFileSync(knownHosts, `[127.0.0.9]:2299 ${readFileSync(knownHosts, 'utf8').split(' ').slice(1).join(' ')}`, {
      flag: 'a',
    });
    await refusedThenWorks(['host', 'forget', 'h0'], knownHosts, (r) => {
      expect(r.code, r.stderr).toBe(0);
      expect(readFileSync(knownHosts, 'utf8')).not.toContain(`:${lab.hosts[0]!.port} `);
    });
    // Pad known_hosts so its last page has 40 bytes left: ssh's new line cannot fit, and there is no page to add.
    const pad = `# padding ${'x'.repeat(PAGE - 40 - 11)}\n`;
    writeFileSync(knownHosts, pad);
    expect(statSync(knownHosts).size).toBe(PAGE - 40);
    const before = snapshot();
    fill();
    let r: TillRun;
    try {
      r = await till(home, ['host', 'test', 'h0']);
    } finally {
      unfill();
    }
    // ssh connected (accept-new) and appended what fit; till cut it back, then could not record the test.
    expectDiskFull(r, join(home, 'hosts-local.json'));
    expect(snapshot()).toEqual(before);
    // The master ssh opened meanwhile lives on (ControlPersist): a fresh connection records the key.
    execFileSync('ssh', ['-F', join(home, 'ssh', 'config'), '-O', 'exit', 'till-h0'], { stdio: 'ignore' });
    await tillOk(home, ['host', 'test', 'h0']);
    const lines = readFileSync(knownHosts, 'utf8').split('\n');
    expect(lines[0]).toBe(pad.trimEnd());
    expect(lines[1]).toMatch(
      new RegExp(`^\\[${lab.hosts[0]!.address.replace(/\./g, '\\.')}\\]:${lab.hosts[0]!.port} ssh-ed25519 \\S+$`),
    );
    expect(lines.slice(2)).toEqual(['']);
  });

  it('host init: no half key pair and no half TILL_HOME is left; init works once there is space', async () => {
    const fresh = join(mount, 'fresh');
    fill();
    let r: TillRun;
    try {
      r = await till(fresh, ['host', 'init']);
    } finally {
      unfill();
    }
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/error: disk full: could not write \S+/);
    expect(existsSync(join(fresh, 'ssh', 'till_federation_ed25519'))).toBe(false);
    expect(existsSync(join(fresh, 'ssh', 'till_federation_ed25519.pub'))).toBe(false);
    await tillOk(fresh, ['host', 'init']);
    expect(readFileSync(join(fresh, 'ssh', 'till_federation_ed25519.pub'), 'utf8')).toMatch(/^ssh-ed25519 /);
    rmSync(fresh, { recursive: true, force: true });
  });

  it('till watch lives through it: watch.log keeps its lines, stderr says why, the log resumes when there is space', async () => {
    const log = join(home, 'logs', 'watch.log');
    let stderr = '';
    let child: ChildProcess | undefined;
    const run = till(home, ['watch', '--health-interval', '10s'], {
      timeoutMs: 110_000,
      onSpawn: (c) => {
        child = c;
        c.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      },
    });
    try {
      await waitUntil(
        () => existsSync(log) && /host health exit/.test(readFileSync(log, 'utf8')),
        60_000,
        'a first health run',
      );
      // Leave 10 bytes in the log's last page: the next line fits only in part, and no page is free.
      const size = statSync(log).size;
      writeFileSync(log, `${'#'.repeat(PAGE - (size % PAGE) + PAGE - 11)}\n`, { flag: 'a' });
      const lines = readFileSync(log);
      expect(lines.length % PAGE).toBe(PAGE - 10);
      fill();
      try {
        await waitUntil(
          () => /cannot write \S+watch\.log: disk full \(ENOSPC\)/.test(stderr),
          60_000,
          'the log write to fail',
        );
        // The health run itself could not record anything: logged (to stderr) with its reason.
        await waitUntil(() => /host health exit 4 .*disk full/.test(stderr), 60_000, 'the failed health run');
        expect(readFileSync(log)).toEqual(lines);
      } finally {
        unfill();
      }
      await waitUntil(() => /writing \S+watch\.log again/.test(stderr), 60_000, 'the log to resume');
      expect(readFileSync(log).length).toBeGreaterThan(lines.length);
      expect(readFileSync(log).subarray(0, lines.length)).toEqual(lines);
      expect(child!.exitCode).toBeNull();
    } finally {
      const stop = await till(home, ['watch', '--stop'], { timeoutMs: 90_000 });
      expect(stop.code, stop.stderr).toBe(0);
    }
    expect((await run).code).toBe(0);
  });
});
