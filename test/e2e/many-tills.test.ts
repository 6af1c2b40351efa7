import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../lab/lab.js';
import { closeMasters, homeWithHosts, journalProblems, leftovers, till, tillOk, type TillRun } from '../lab/till.js';

/**
 * Many tills at once on one TILL_HOME (issue 20 item 3), as people and cron run them: a
 * loop of deploys, a loop of `till sync`, `host health` every second, and three
 * operators adding hosts (into groups) and removing some, all started together against
 * three real sshd hosts. No command fails on a lock, loses one or hits an internal error;
 * afterwards the database is valid and holds exactly the hosts it should, ssh/config and
 * the groups agree with it, every deploy, sync and health run is recorded (deploy
 * journal, host entries, schedule history, health history), every command that records
 * has its one line in the operations journal, and no lock or temp file is
 * left. `npm run soak` runs the same loops for minutes beside a watch under a storm.
 */
let home: string;
let lab: Lab;
let src: string;
let importFile: string;
const LAB = ['m0', 'm1', 'm2'];
const LOAD = ['--load-max', '10000', '--disk-min', '0'];

beforeAll(async () => {
  ({ home, lab } = await homeWithHosts(3, 'm'));
  await tillOk(home, ['host', 'setup', ...LAB], { timeoutMs: 180_000 });
  src = mkdtempSync('/tmp/t-mt-');
  writeFileSync(join(src, 'app.txt'), 'app\n');
  importFile = join(mkdtempSync('/tmp/t-mti-'), 'ssh_config');
  writeFileSync(
    importFile,
    [0, 1, 2, 3, 4, 5].map((i) => `Host imp${i}\n  HostName 127.252.0.${i + 2}\n  User u\n`).join('\n'),
  );
}, 240_000);

afterAll(async () => {
  lab?.stop();
  await closeMasters(home);
  rmSync(src, { recursive: true, force: true });
  rmSync(join(importFile, '..'), { recursive: true, force: true });
});

interface Ran {
  what: string;
  r: TillRun;
}

const json = async <T>(args: string[]): Promise<T> => JSON.parse((await tillOk(home, args)).stdout) as T;

describe('many tills at once on one TILL_HOME', () => {
  it('deploys, syncs, health runs, host adds/removes, an import and edits at once: nothing lost, nothing locked, all recorded', async () => {
    const ran: Ran[] = [];
    const run = async (what: string, args: string[]) => {
      const r = await till(home, args, { timeoutMs: 180_000 });
      ran.push({ what, r });
      return r;
    };
    const historyFile = join(home, 'state', 'health-history.json');
    const points = (h: string): number =>
      existsSync(historyFile)
        ? ((JSON.parse(readFileSync(historyFile, 'utf8')) as { hosts: Record<string, unknown[]> }).hosts[h]?.length ??
          0)
        : 0;
    const pointsBefore = new Map(LAB.map((h) => [h, points(h)]));

    const DEPLOYS = 3;
    const SYNCS = 2;
    const HEALTHS = 4;
    const added = new Map<string, string>(); // name → group
    const removed = new Set<string>();
    const loops: Array<Promise<void>> = [
      (async () => {
        for (let i = 0; i < DEPLOYS; i++) {
          writeFileSync(join(src, 'version.txt'), `v${i}\n`);
          await run('host deploy', ['host', 'deploy', ...LAB, '--source', src]);
        }
      })(),
      (async () => {
        for (let i = 0; i < SYNCS; i++) await run('till sync', ['sync']);
      })(),
      (async () => {
        for (let i = 0; i < HEALTHS; i++) {
          await run('host health', ['host', 'health', ...LAB, ...LOAD]);
          await new Promise((r) => setTimeout(r, 1000));
        }
      })(),
      // Three operators, each adding five hosts into a group of their own and removing two of them.
      ...[0, 1, 2].map(async (k) => {
        for (let i = 0; i < 5; i++) {
          const name = `a${k}x${i}`;
          const r = await run('host add', ['host', 'add', name, `u@127.251.${k}.${i + 2}:22`, '--group', `ops${k}`]);
          if (r.code === 0) added.set(name, `ops${k}`);
          if (i % 2 === 1) {
            const gone = `a${k}x${i - 1}`;
            if ((await run('host remove', ['host', 'remove', gone])).code === 0) {
              added.delete(gone);
              removed.add(gone);
            }
          }
        }
      }),
      // A fourth imports six hosts from an ssh config into a group, then edits them: two ports, two names.
      (async () => {
        await run('host import', ['host', 'import', importFile, '--group', 'imported']);
        for (const i of [0, 2]) await run('host edit', ['host', 'edit', `imp${i}`, '--port', '2200']);
        for (const i of [1, 3]) await run('host edit', ['host', 'edit', `imp${i}`, '--rename', `ren${i}`]);
      })(),
    ];
    await Promise.all(loops);

    // Every command did its work: none failed, none waited on a lock past its bound, none lost one.
    const failed = ran.filter(({ r }) => r.code !== 0).map(({ what, r }) => `${what}: exit ${r.code}: ${r.stderr}`);
    expect(failed).toEqual([]);
    for (const { r } of ran) expect(r.stderr).not.toMatch(/internal error|could not lock|lost the lock/);
    expect(ran.filter((x) => x.what === 'host add')).toHaveLength(15);
    expect(ran.filter((x) => x.what === 'host remove')).toHaveLength(6);
    expect(ran.filter((x) => x.what === 'host edit')).toHaveLength(4);

    // Every command that records (all but the health runs) has exactly one line of its own in the
    // operations journal, with its argv and exit code, and every line is whole JSON: none lost or interleaved.
    expect(
      journalProblems(
        home,
        ran.map((x) => x.r),
      ),
    ).toEqual([]);
    const records = readFileSync(join(home, 'logs', 'operations.jsonl'), 'utf8')
      .trim()
      .split('\n');
    const pids = new Set(ran.map((x) => x.r.pid));
    expect(records.filter((l) => pids.has((JSON.parse(l) as { pid: number }).pid))).toHaveLength(
      ran.filter((x) => x.what !== 'host health').length,
    );

    // The database is valid and holds exactly the lab hosts and the added ones not removed.
    type Host = { name: string; port?: number; deploy?: { current: string | null }; last_sync?: string | null };
    const hosts = (await json<{ hosts: Host[] }>(['host', 'list', '--json'])).hosts;
    const imported = ['imp0', 'ren1', 'imp2', 'ren3', 'imp4', 'imp5'];
    expect(hosts.map((h) => h.name).sort()).toEqual([...LAB, ...added.keys(), ...imported].sort());
    expect(added.size).toBe(9);
    expect(imported.map((n) => `${n}:${hosts.find((h) => h.name === n)!.port}`)).toEqual([
      'imp0:2200',
      'ren1:22',
      'imp2:2200',
      'ren3:22',
      'imp4:22',
      'imp5:22',
    ]);
    // ssh/config was regenerated from the last database, not from a stale one.
    const aliases = [...readFileSync(join(home, 'ssh', 'config'), 'utf8').matchAll(/^Host till-([^*\s]+)$/gm)].map(
      (m) => m[1],
    );
    expect(aliases.sort()).toEqual(hosts.map((h) => h.name).sort());
    // Each group holds its operator's hosts that are still there.
    const groups = (await json<{ groups: Record<string, string[]> }>(['host', 'group', 'list', '--json'])).groups;
    for (const k of [0, 1, 2])
      expect([...(groups[`ops${k}`] ?? [])].sort()).toEqual(
        [...added].filter(([, g]) => g === `ops${k}`).map(([n]) => n),
      );
    expect([...(groups.imported ?? [])].sort()).toEqual([...imported].sort());

    // Every deploy is recorded: in the journal (every host done), on each host entry, on the hosts.
    const journal = JSON.parse(readFileSync(join(home, 'state', 'deploy-journal.json'), 'utf8')) as {
      runs: Array<{ release: string; hosts: Record<string, { state: string }> }>;
    };
    expect(journal.runs).toHaveLength(DEPLOYS);
    for (const run of journal.runs)
      expect(Object.entries(run.hosts).map(([h, p]) => `${h}:${p.state}`)).toEqual(LAB.map((h) => `${h}:done`));
    const last = journal.runs.at(-1)!.release;
    for (const name of LAB) {
      const entry = hosts.find((h) => h.name === name)!;
      expect(entry.deploy?.current).toBe(last);
      expect(entry.last_sync).toBeTruthy();
    }
    for (const h of lab.hosts)
      expect(readFileSync(join(h.home, 'projects/github/Tekton/version.txt'), 'utf8')).toBe(`v${DEPLOYS - 1}\n`);

    // Every sync run is in the schedule's history, every health run in the health history.
    const schedule = JSON.parse(readFileSync(join(home, 'schedule.json'), 'utf8')) as {
      history: Array<{ status: string }>;
    };
    expect(schedule.history.map((h) => h.status)).toEqual(Array(SYNCS).fill('success'));
    for (const name of LAB) expect(points(name) - pointsBefore.get(name)!).toBe(HEALTHS);

    // Nothing left behind: no lock, no temp file of an atomic write.
    expect(leftovers(home)).toEqual([]);
  }, 420_000);
});
