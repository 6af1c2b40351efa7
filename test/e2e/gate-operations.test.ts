/**
 * Issue 18 on a restricted host (its key restricted by `till host setup --restrict`, then
 * narrowed by its owner to the tightest policy): `host diff` works through the gate as a
 * dry-run read of the live release; `host copy` / `host fetch` are refused with the
 * gate's reason; and someone holding only that key cannot turn the gate's new read into
 * a download, a write, or a read outside the release.
 */
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTree, snapshot } from './helpers-files.js';
import { closeMasters, till, tillOk } from '../lab/till.js';
import { changes, outside, restrictedHost, type RestrictedHost } from './helpers-gate.js';

/** Everything under `dir`, as one text (for "the secret never arrived"). */
function allText(dir: string): string {
  try {
    return execFileSync('sh', ['-c', `find "$1" -type f -exec cat {} + 2>/dev/null || true`, 'sh', dir], {
      encoding: 'utf8',
    });
  } catch {
    return '';
  }
}

describe(
  'a restricted host: host diff through the gate, copy and fetch refused, the read attacked',
  { timeout: 300_000 },
  () => {
    let r: RestrictedHost;
    let work: string;
    let release: string;
    const SECRET = `TOPSECRET-${randomBytes(6).toString('hex')}`;
    const releases = () => join(r.host.home, 'app.till/releases');
    const keys = () => readFileSync(join(r.host.home, '.ssh/authorized_keys'), 'utf8');
    let keysBefore: string;
    let before: Map<string, string>;

    beforeAll(async () => {
      r = await restrictedHost();
      work = mkdtempSync('/tmp/t-gops-');
      chmodSync(work, 0o755);
      const src = join(work, 'src');
      makeTree(src, { 'README.md': 'v1\n', 'lib/secret.conf': `password=${SECRET}\n` });
      const d = await tillOk(r.home, ['host', 'deploy', 'h0', '--source', src, '--json']);
      release = JSON.parse(d.stdout).release;
      // A file in the host user's home that no key of till's may read, not even a line of it.
      r.host.shell(`printf '%s\\n' '${SECRET}-home' > notes.txt`);
      keysBefore = keys();
      before = outside(r.host);
    }, 240_000);

    afterAll(async () => {
      r?.lab.stop();
      if (r) await closeMasters(r.home);
      rmSync(work, { recursive: true, force: true });
    });

    it('host diff reads the live release through the gate and changes nothing', async () => {
      const src = join(work, 'src');
      const clean = await till(r.home, ['host', 'diff', 'h0', '--source', src, '--json']);
      expect(clean.code, clean.stderr + clean.stdout).toBe(0);
      expect(JSON.parse(clean.stdout).results[0]).toMatchObject({ ok: true, differs: false, release });

      r.host.shell(`printf 'v2 by hand\\n' > app/README.md && printf 'x\\n' > app/added.txt`);
      const snap = snapshot(join(releases(), release));
      const drift = await till(r.home, ['host', 'diff', 'h0', '--source', src, '--json']);
      expect(drift.code).toBe(1);
      expect(JSON.parse(drift.stdout).results[0]).toMatchObject({
        differs: true,
        changed: ['README.md'],
        added: ['added.txt'],
        removed: [],
      });
      // host health --drift makes the same read through the gate.
      const health = await till(r.home, [
        ...['host', 'health', 'h0', '--drift', '--source', src, '--json'],
        ...['--load-max', '1000', '--disk-min', '0'],
      ]);
      expect(health.code, health.stderr).toBe(1);
      expect(JSON.parse(health.stdout).results[0].health).toMatchObject({
        degraded: true,
        drift: { changed: 1, added: 1, removed: 0, liveIsRecorded: true },
      });
      expect(snapshot(join(releases(), release))).toEqual(snap);
      expect(readFileSync(join(r.host.home, '.till/logs/gate.log'), 'utf8')).toMatch(
        new RegExp(`allowed rsync read of ${r.host.home}/app\\.till/releases/${release}/ from`),
      );
      expect(keys()).toBe(keysBefore);
      expect(changes(before, outside(r.host))).toEqual([]);
    });

    it("host copy and host fetch are refused with the gate's reason, and write nothing", async () => {
      writeFileSync(join(work, 'f.txt'), 'x\n');
      const copy = await till(r.home, ['host', 'copy', 'h0', join(work, 'f.txt'), '~/app.till/releases/x', '--json']);
      expect(copy.code).toBe(1);
      expect(JSON.parse(copy.stdout).results[0]).toMatchObject({
        status: 'failed',
        error: expect.stringMatching(/^refused by till gate on the host: rsync option -s is not allowed/),
      });
      const fetch = await till(r.home, ['host', 'fetch', 'h0', `app.till/releases/${release}/lib`, join(work, 'got')]);
      expect(fetch.code).toBe(1);
      expect(fetch.stdout + fetch.stderr).toMatch(
        /refused by till gate on the host: rsync option -s is not allowed in a read/,
      );
      expect(allText(join(work, 'got'))).not.toContain(SECRET);
      expect(existsSync(join(releases(), 'x'))).toBe(false);
      expect(keys()).toBe(keysBefore);
      expect(changes(before, outside(r.host))).toEqual([]);
    });

    describe('the read, attacked with the stolen key (plain rsync)', () => {
      const into = (name: string) => {
        const d = join(work, name);
        mkdirSync(d, { recursive: true });
        return d;
      };
      const rel = () => `app.till/releases/${release}/`;

      it('a download that is not a dry run is refused: no content leaves the host', () => {
        const d = into('dl');
        const res = r.key.rsync(['-r', `HOST:${rel()}`, `${d}/`]);
        expect(res.status).not.toBe(0);
        expect(res.stderr).toMatch(/must be a dry run \(-n\)/);
        expect(allText(d)).not.toContain(SECRET);
      });

      it('a client that tells the host "dry run" but asks for the data anyway gets none', async () => {
        const d = into('liar');
        // Puts -n into the flags of the command the client sends, behind the client's back.
        const wrapper = join(work, 'add-n.sh');
        writeFileSync(
          wrapper,
          `#!/bin/sh\nn=$#\nwhile [ "$n" -gt 0 ]; do a=$1; shift; case "$a" in --*) ;; -*e.*) a="-n\${a#-}" ;; esac; set -- "$@" "$a"; n=$((n-1)); done\nexec "$@"\n`,
          { mode: 0o755 },
        );
        const child = r.key.rsyncAsync(['-r', '-v', `HOST:${rel()}`, `${d}/`], wrapper);
        let out = '';
        child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
        child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
        await new Promise((res) => child.on('close', res));
        // The gate allowed it (a dry-run read); rsync's sender, dry-running, sent no file's data.
        expect(readFileSync(join(r.host.home, '.till/logs/gate.log'), 'utf8')).toMatch(/allowed rsync read of/);
        expect(out).not.toContain(SECRET);
        expect(allText(d)).not.toContain(SECRET);
      });

      it("waits for the deploy root's lock: no read while another session works on the release", async () => {
        // Another gate session on ~/app: its lock folder, held by a live process.
        const holder = spawn('sleep', ['60'], { stdio: 'ignore' });
        const lock = `.till/locks/root-${createHash('sha256').update(`${r.host.home}/app`).digest('hex').slice(0, 20)}`;
        r.host.shell(`mkdir -p ${lock} && echo ${holder.pid} > ${lock}/pid`);
        const log = () => readFileSync(join(r.host.home, '.till/logs/gate.log'), 'utf8');
        const reads = () => log().match(/allowed rsync read of/g)?.length ?? 0;
        const before = reads();
        const child = r.key.rsyncAsync(['-n', '-r', `HOST:${rel()}`, `${into('locked')}/`]);
        let exited: number | null | undefined;
        const done = new Promise<void>((res) =>
          child.on('close', (code) => {
            exited = code;
            res();
          }),
        );
        try {
          await new Promise((res) => setTimeout(res, 2_500));
          expect(exited, 'the read ran while the root was locked').toBeUndefined();
          expect(reads()).toBe(before);
        } finally {
          holder.kill();
        }
        // Its holder gone, the lock is stale: the waiting gate breaks it and the read runs.
        await done;
        expect(exited).toBe(0);
        expect(reads()).toBe(before + 1);
        expect(existsSync(join(r.host.home, lock))).toBe(false);
      });

      it('outside a release: ~/.ssh, the home, the deploy root itself, other folders', () => {
        for (const path of ['.ssh/', '', 'app/', 'app.till/', 'app.till/releases/', '.till/', '/etc/']) {
          const res = r.key.rsync(['-n', '-r', `HOST:${path}`, `${into('out')}/`]);
          expect(res.status, path).not.toBe(0);
          expect(res.stderr, path).toMatch(/till gate: refused: downloads \(rsync --sender\) are not allowed/);
        }
        const dots = r.key.rsync(['-n', '-r', `HOST:${rel()}../../../.ssh/`, `${into('out')}/`]);
        expect(dots.stderr).toMatch(/not a plain path/);
      });

      it('through a symlink planted by an earlier upload: refused, never followed', () => {
        // The key may upload a tree with a symlink into a release: that is a deploy.
        const tree = join(work, 'planted');
        mkdirSync(tree, { recursive: true });
        symlinkSync('../../../.ssh', join(tree, 'keys'));
        const up = r.key.rsync(['-rl', `${tree}/`, 'HOST:app.till/releases/atk1/']);
        expect(up.status, up.stderr).toBe(0);
        // Release name as a symlink too.
        r.host.shell('ln -s ../../.ssh app.till/releases/atk2');
        const attempts: Array<[string[], RegExp]> = [
          [['-n', '-r', '-c', 'HOST:app.till/releases/atk1/keys/'], /does not lie inside/],
          [['-n', '-r', 'HOST:app.till/releases/atk2/'], /does not lie inside/],
          [['-n', '-r', '-L', 'HOST:app.till/releases/atk1/'], /-L is not allowed/],
          [['-n', '-r', '--copy-unsafe-links', 'HOST:app.till/releases/atk1/'], /not allowed/],
          [['-n', '-r', '--copy-dirlinks', 'HOST:app.till/releases/atk1/'], /-k is not allowed|not allowed/],
        ];
        for (const [args, why] of attempts) {
          const d = into('sym');
          const res = r.key.rsync([...args, `${d}/`]);
          expect(res.status, args.join(' ')).not.toBe(0);
          expect(res.stderr, args.join(' ')).toMatch(why);
        }
        // Listed as what it is (a symlink), with -l: its target text, nothing behind it.
        const listed = r.key.rsync(['-n', '-rl', '-i', 'HOST:app.till/releases/atk1/', `${into('sym2')}/`]);
        expect(listed.status, listed.stderr).toBe(0);
        expect(listed.stdout).toMatch(/cL\+{9} keys -> \.\.\/\.\.\/\.\.\/\.ssh/);
        expect(listed.stdout).not.toMatch(/authorized_keys/);
      });

      it('nothing that writes: --remove-source-files, a log file, batches', () => {
        // Sent to the host's rsync as its own options (-M): what would write there.
        for (const extra of [['--remove-source-files'], ['-M--log-file=w.log'], ['-M--only-write-batch=w.batch']]) {
          const res = r.key.rsync(['-n', '-r', ...extra, `HOST:${rel()}`, `${into('w')}/`]);
          expect(res.status, extra.join(' ')).not.toBe(0);
        }
        expect(readFileSync(join(releases(), release, 'lib/secret.conf'), 'utf8')).toContain(SECRET);
        for (const f of ['w.log', 'w.batch']) expect(existsSync(join(r.host.home, f)), f).toBe(false);
      });

      it('a filter rule that names a file beside the release (a per-directory merge) does not hand its lines back', () => {
        // rsync reads such a file as rules on the host; 3.5.0 no longer quotes a line it cannot parse.
        for (const flags of [
          ['-n', '-r'],
          ['-n', '-r', '-vv'],
        ]) {
          const res = r.key.rsync([
            ...flags,
            `--filter=dir-merge ${r.host.home}/notes.txt`,
            `HOST:${rel()}`,
            `${into('merge')}/`,
          ]);
          expect(res.stdout + res.stderr).not.toContain(SECRET);
        }
      });

      it('after every attack: authorized_keys byte-identical, nothing changed outside the deploy root and ~/.till', () => {
        expect(keys()).toBe(keysBefore);
        expect(changes(before, outside(r.host))).toEqual([]);
        expect(readFileSync(join(releases(), release, 'lib/secret.conf'), 'utf8')).toBe(`password=${SECRET}\n`);
      });
    });
  },
);
