import { join } from 'node:path';
import * as z from 'zod';
import './zod.js';
import type { TillPaths } from '../paths.js';
import { JsonFileStore } from './store.js';

/**
 * `$TILL_HOME/state/deploy-journal.json`: each fleet deploy's per-host progress,
 * written as hosts advance, so `till host deploy --resume` can finish an
 * interrupted run (same release id, only the hosts that did not finish).
 * Bounded: the newest MAX_RUNS runs are kept.
 */
export const MAX_RUNS = 20;

export const HOST_DEPLOY_STATES = ['pending', 'locked', 'staged', 'switched', 'done', 'failed', 'reverted'] as const;
export type HostDeployState = (typeof HOST_DEPLOY_STATES)[number];

/** States a resumed run still has work for. `reverted` (the check failed) is final. */
export function unfinished(state: HostDeployState): boolean {
  return state !== 'done' && state !== 'reverted';
}

const hostProgress = z.looseObject({
  state: z.enum(HOST_DEPLOY_STATES),
  at: z.string(),
  /** The release that was current before this deploy (the check's fallback). */
  previous: z.string().nullable().optional(),
  error: z.string().nullable().optional(),
  /** `done` without a new release: the host's live release (this id) was what the run's would be. */
  unchanged: z.string().optional(),
});

const runSchema = z.looseObject({
  run: z.string(),
  release: z.string(),
  source: z.string(),
  installation: z.string(),
  started: z.string(),
  options: z.looseObject({
    shared: z.array(z.string()),
    keep: z.number().int().min(1),
    /** Failures the run may have (a percentage already counted against its targets). */
    maxFail: z.number().int().min(0),
    check: z.string().nullable(),
    // Since progressive switching: absent in an older run (one batch, no hooks' options).
    canary: z.number().int().min(0).optional(),
    /** `--batch-size` as given (`2`, `25%`). */
    batchSize: z.string().optional(),
    /** `--max-fail` as given (`1`, `20%`). */
    maxFailSpec: z.string().optional(),
    pauseSec: z.number().min(0).optional(),
    /** --canary, --batch-size or --max-fail was given (and not --no-auto-rollback): a stop switches back. */
    autoRollback: z.boolean().optional(),
    /** False: --no-hooks. */
    hooks: z.boolean().optional(),
    hookTimeout: z.number().int().min(1).optional(),
    /** --force-release: a new release even where the live one is the same. */
    forceRelease: z.boolean().optional(),
  }),
  /** Who deploys what and why: the release record written on each host. */
  record: z
    .looseObject({
      deployer: z.string(),
      commit: z.string().nullable(),
      dirty: z.boolean().nullable(),
      message: z.string(),
    })
    .optional(),
  hosts: z.record(z.string(), hostProgress),
});
export type DeployRun = z.output<typeof runSchema>;

export const journalSchema = z.looseObject({
  runs: z.array(runSchema),
});
export type DeployJournal = z.output<typeof journalSchema>;

export function journalStore(paths: TillPaths) {
  return new JsonFileStore(join(paths.stateDir, 'deploy-journal.json'), journalSchema, () => ({ runs: [] }));
}

export function runFinished(run: DeployRun): boolean {
  return Object.values(run.hosts).every((h) => !unfinished(h.state));
}

/** The newest run, if it did not finish: a later deploy supersedes an older interrupted one. */
export function lastUnfinished(journal: DeployJournal): DeployRun | undefined {
  const run = journal.runs.at(-1);
  return run !== undefined && !runFinished(run) ? run : undefined;
}

/**
 * This process's journal writes. Hosts advance concurrently; their changes are
 * applied in order and coalesced into as few locked writes as possible (one file
 * write per host step would cost a 20-host deploy ~80 fsyncs).
 */
export class DeployJournalWriter {
  private pending: Array<{ change: (j: DeployJournal) => void; done: (err?: unknown) => void }> = [];
  private writing: Promise<void> | undefined;
  private readonly store;

  constructor(paths: TillPaths) {
    this.store = journalStore(paths);
  }

  begin(run: DeployRun): Promise<void> {
    return this.enqueue((j) => {
      const at = j.runs.findIndex((r) => r.run === run.run);
      if (at === -1) j.runs.push(run);
      else j.runs[at] = run;
      if (j.runs.length > MAX_RUNS) j.runs.splice(0, j.runs.length - MAX_RUNS);
    });
  }

  advance(
    runId: string,
    host: string,
    state: HostDeployState,
    extra: { previous?: string | null; error?: string | null; unchanged?: string } = {},
  ): Promise<void> {
    const at = new Date().toISOString();
    return this.enqueue((j) => {
      const run = j.runs.find((r) => r.run === runId);
      if (!run) return;
      const prev = run.hosts[host];
      run.hosts[host] = { ...prev, state, at, ...extra };
    });
  }

  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private enqueue(change: (j: DeployJournal) => void): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ change, done: (err) => (err === undefined ? resolve() : reject(err)) });
      this.writing ??= this.drain();
    });
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      try {
        await this.store.update((j) => {
          for (const b of batch) b.change(j);
        });
        for (const b of batch) b.done();
      } catch (err) {
        for (const b of batch) b.done(err);
      }
    }
    this.writing = undefined;
  }
}
