/**
 * Issue 18 as a person runs it, against three real lab hosts: the operations journal
 * (concurrent tills, a failed and an interrupted command, `till log`), drift
 * (`host diff` after a deploy, read-only), and `host copy` / `host fetch`.
 */
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLab, type Lab, type LabHost } from '../lab/lab.js';
import { closeMasters, tempHome, till, tillOk } from '../lab/till.js';

let lab: Lab;
let home: string;
let work: string;

function makeTree(dir: string, files: Record<string, string>): void {
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), content);
  }
}

/**
 * Every entry under `dir` (not following links): inode, mode, size, mtime and ctime to the
 * nanosecond, and a file's atime (reading a folder or a symlink, as ls does, updates its own).
 */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    const path = rel === '' ? dir : join(dir, rel);
    const st = lstatSync(path, { bigint: true });
    const atime = st.isFile() ? ` a${st.atimeNs}` : '';
    out.set(rel, `${st.ino} ${st.mode} ${st.size} m${st.mtimeNs} c${st.ctimeNs}${atime}`);
    if (st.isDirectory()) for (const n of readdirSync(path)) walk(rel === '' ? n : `${rel}/${n}`);
  };
  walk('');
  return out;
}

beforeAll(async () => {
  ({ home } = tempHome());
  await tillOk(home, ['host', 'init']);
  const key = readFileSync(join(home, 'ssh', 'till_federation_ed25519.pub'), 'utf8');
  lab = await startLab(3, { authorizedKey: key });
  for (const h of lab.hosts) await tillOk(home, ['host', 'add', `h${h.index}`, h.spec]);
  work = mkdtempSync('/tmp/t-ops-');
}, 120_000);

afterAll(async () => {
  await closeMasters(home);
  lab?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('host diff: drift after a deploy, read-only', () => {
  const src = () => join(work, 'src');
  const release = (h: LabHost) => join(h.home, 'projects/github/Tekton.till/releases', deployed);
  let deployed: string;

  beforeAll(async () => {
    makeTree(src(), {
      'README.md': 'v1\n',
      'lib/a.txt': 'A\n',
      'lib/b.txt': 'B\n',
      '.env.local': 'TEKTON_REGISTRY_NAME=app\n',
      'logs/local.log': 'never deployed\n',
      'skip.me': 'ignored\n',
      '.tillignore': 'skip.me\n',
    });
    const r = await tillOk(home, ['host', 'deploy', '--all', '--source', src(), '--json']);
    deployed = JSON.parse(r.stdout).release;
  }, 120_000);

  it('reports a file edited on one host and a file added on another (exit 1), the untouched host clean, and changes nothing', async () => {
    // By hand on the hosts: h0's live release edited, h1's given a new file. h2 keeps what
    // till wrote there itself (.env.local, the shared logs link), which must not count.
    lab.hosts[0]!.shell('printf "A edited\\n" > projects/github/Tekton/lib/a.txt');
    lab.hosts[1]!.shell('printf "x\\n" > projects/github/Tekton/extra.txt');
    lab.hosts[2]!.shell('printf "log line\\n" >> projects/github/Tekton/logs/app.log');
    const before = lab.hosts.map((h) => snapshot(release(h)));
    const links = lab.hosts.map((h) => h.shell('readlink projects/github/Tekton'));

    const r = await till(home, ['host', 'diff', '--all', '--source', src(), '--json']);
    expect(r.code, r.stderr).toBe(1);
    const doc = JSON.parse(r.stdout);
    const byHost = Object.fromEntries(doc.results.map((x: { host: string }) => [x.host, x]));
    expect(byHost.h0).toMatchObject({
      status: 'failed',
      differs: true,
      changed: ['lib/a.txt'],
      added: [],
      removed: [],
      release: deployed,
      recorded: deployed,
      liveIsRecorded: true,
      error: 'differs from the source: 1 changed',
    });
    expect(byHost.h1).toMatchObject({
      status: 'failed',
      differs: true,
      changed: [],
      added: ['extra.txt'],
      removed: [],
    });
    expect(byHost.h2).toMatchObject({ status: 'ok', differs: false, changed: [], added: [], removed: [], error: null });
    expect(doc.summary).toMatchObject({ total: 3, ok: 1, failed: 2 });

    // Nothing changed on any host: every inode, size, mtime and ctime of the releases, and even files' atimes.
    lab.hosts.forEach((h, i) => {
      expect(snapshot(release(h))).toEqual(before[i]);
      expect(h.shell('readlink projects/github/Tekton')).toBe(links[i]);
      expect(readdirSync(join(h.home, 'projects/github/Tekton.till/releases'))).toEqual([deployed]);
    });

    // The human report names the paths, per host, and the same exit code.
    const human = await till(home, ['host', 'diff', 'h0', 'h1', 'h2', '--source', src()]);
    expect(human.code).toBe(1);
    expect(human.stdout).toMatch(/== h0 \(\S+\): 1 changed\n {2}changed +lib\/a\.txt/);
    expect(human.stdout).toMatch(/== h1 \(\S+\): 1 added\n {2}added +extra\.txt/);
    expect(human.stdout).not.toMatch(/== h2/);

    // A file removed on a host; the clean host alone exits 0.
    lab.hosts[1]!.shell('rm projects/github/Tekton/lib/b.txt');
    const removed = JSON.parse((await till(home, ['host', 'diff', 'h1', '--source', src(), '--json'])).stdout);
    expect(removed.results[0]).toMatchObject({ added: ['extra.txt'], removed: ['lib/b.txt'] });
    expect((await till(home, ['host', 'diff', 'h2', '--source', src()])).code).toBe(0);
  }, 120_000);

  it('refuses bad input before contacting a host', async () => {
    const none = await till(home, ['host', 'diff', 'h0', '--source', join(work, 'nope')]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/source .*nope does not exist/);
    const shared = await till(home, ['host', 'diff', 'h0', '--source', src(), '--shared', '../x']);
    expect(shared.code).toBe(2);
    expect((await till(home, ['host', 'diff', 'zz*', '--source', src()])).code).toBe(2);
  });
});
