import {
  runFleet,
  summarize,
  type FleetEvent,
  type FleetOptions,
  type HostResult,
  type Target,
} from '../core/fanout.js';
import type { DeployJournalWriter } from '../core/state/deploy-journal.js';
import { plural } from '../core/format.js';
import { failLimit, formatAmount, planBatches, type Amount } from '../deploy/batches.js';
import type { HoldInfo } from '../deploy/layout.js';
import { remoteFailure } from '../ssh/outcome.js';
import {
  releaseLocks,
  revertHost,
  stageJob,
  switchJob,
  type DeployPlan,
  type DeployResultData,
  type RevertData,
  type StageData,
} from './deploy.js';

/**
 * A fleet deploy from start to end: stage on every target in parallel, then switch in
 * batches (`--canary N`, then `--batch-size N|P%`, `--pause S` between them), counting
 * failures across the run (`--max-fail N|P%`: staging, hooks, switch and checks alike).
 * A failing canary, or a run over its budget, starts no further batch, and every host
 * this run switched goes back to the release it had (unless `--no-auto-rollback`);
 * hosts never switched keep their staged release for `--resume`. Without those options
 * it is one batch, and a failure switches nothing back: the deploy as it always was.
 * Locks are released in `finally`, whatever happened (failure, a stop, Ctrl-C).
 */

export interface SwitchOrder {
  /** The first N staged hosts (in target order) switch, and are checked, alone first. */
  canary: number;
  /** The rest switch this many at a time; null: all at once. */
  batchSize: Amount | null;
  /** Wait between batches (Ctrl-C during the wait stops the run cleanly). */
  pauseMs: number;
  /** Failures the run may have (of all its targets, for a percentage). */
  maxFail: Amount;
  /** Switch back what this run switched when it stops (a canary failed, or --max-fail was exceeded). */
  autoRollback: boolean;
}

export interface BatchReport {
  batch: number;
  canary: boolean;
  hosts: string[];
  ok: number;
  failed: number;
}

export interface StopReport {
  reason: 'canary' | 'max-fail';
  /** Failures of the run when it stopped, and how many it could have. */
  failures: number;
  limit: number;
  /** `a canary failed (web-1)`, `2 hosts failed (web-5, web-6): more than --max-fail 1`. */
  message: string;
}

export interface RolledBack extends RevertData {
  host: string;
  /** The release the run had switched it to. */
  from: string;
}

export type RunEvent =
  | { type: 'batch'; batch: number; of: number; canary: boolean; hosts: string[] }
  | { type: 'batch-done'; report: BatchReport; of: number }
  | { type: 'pause'; seconds: number; next: number }
  | { type: 'stop'; stop: StopReport; switchBack: string[] }
  | { type: 'rolled-back'; result: RolledBack };

export interface DeployOutcome {
  report: {
    ok: boolean;
    summary: ReturnType<typeof summarize>;
    results: HostResult<DeployResultData>[];
    cancelled: boolean;
  };
  stagingFailed: number;
  /** Phase 2 ran (at least one batch started). */
  switched: boolean;
  batches: BatchReport[];
  stopped: StopReport | null;
  rolledBack: RolledBack[];
  /** Hosts whose lock could not be released (unreachable at the end). */
  stillLocked: string[];
}

export type DeployEngine = Omit<FleetOptions, 'onEvent'> & {
  onEvent?: (phase: 'stage' | 'switch' | 'revert', e: FleetEvent) => void;
  onRun?: (e: RunEvent) => void;
};

/** Waits `ms`; false when `signal` ended the wait first. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (slept: boolean) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(slept);
    };
    const onAbort = () => done(false);
    const timer = setTimeout(() => done(true), ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export async function runDeploy(
  given: DeployPlan,
  journal: DeployJournalWriter,
  targets: readonly Target[],
  order: SwitchOrder,
  engine: DeployEngine,
): Promise<DeployOutcome> {
  // What each host showed of a manual lock, for its database entry (host show, status).
  const holds = new Map<string, Partial<HoldInfo> | null>();
  const plan: DeployPlan = {
    ...given,
    onHold: (host, hold) => {
      holds.set(host, hold);
      given.onHold?.(host, hold);
    },
  };
  const locked = new Set<string>();
  const staged = new Map<string, StageData>();
  const results = new Map<string, HostResult<DeployResultData>>();
  const batches: BatchReport[] = [];
  const rolledBack: RolledBack[] = [];
  const limit = failLimit(order.maxFail, targets.length);
  let stagingFailed = 0;
  let switched = false;
  let cancelled = false;
  let stopped: StopReport | null = null;
  const { onRun, onEvent, ...fleet } = engine;
  try {
    const phase1 = await runFleet(targets, stageJob(plan, journal, locked), {
      ...fleet,
      onEvent: (e) => onEvent?.('stage', e as FleetEvent),
    });
    cancelled = phase1.cancelled;
    for (const r of phase1.results) {
      if (r.ok && r.data?.unchanged === true) {
        results.set(r.host, { ...r, data: { ...r.data, phase: 'unchanged' } });
        continue;
      }
      if (r.ok && r.data) staged.set(r.host, r.data);
      else {
        if (r.status !== 'skipped') await journal.advance(plan.run.run, r.host, 'failed', { error: r.error });
        stagingFailed += r.status === 'skipped' ? 0 : 1;
      }
      results.set(r.host, { ...r, data: { ...(r.data ?? {}), phase: 'stage' } });
    }
    const toSwitch = targets.filter((t) => staged.has(t.name));
    const byName = new Map(toSwitch.map((t) => [t.name, t]));
    let notSwitched: string[] = toSwitch.map((t) => t.name);
    let why = cancelled
      ? 'staged, not switched (interrupted)'
      : `staged, not switched: ${plural(stagingFailed, 'host')} failed to stage (--max-fail ${formatAmount(order.maxFail)})`;
    if (!cancelled && stagingFailed <= limit && toSwitch.length > 0) {
      switched = true;
      const plan2 = planBatches(
        toSwitch.map((t) => t.name),
        order.canary,
        order.batchSize,
      );
      const failedHosts = phase1.results.filter((r) => !r.ok && r.status !== 'skipped').map((r) => r.host);
      const switchedHere: string[] = [];
      for (const [i, names] of plan2.entries()) {
        const canary = order.canary > 0 && i === 0;
        if (i > 0 && order.pauseMs > 0) {
          onRun?.({ type: 'pause', seconds: order.pauseMs / 1000, next: i + 1 });
          if (!(await pause(order.pauseMs, fleet.signal))) cancelled = true;
        }
        if (cancelled || fleet.signal?.aborted) {
          cancelled = true;
          why = 'staged, not switched (interrupted)';
          break;
        }
        notSwitched = plan2.slice(i + 1).flat();
        onRun?.({ type: 'batch', batch: i + 1, of: plan2.length, canary, hosts: names });
        const run2 = await runFleet(
          names.map((n) => byName.get(n)!),
          switchJob(plan, journal, staged, locked),
          { ...fleet, onEvent: (e) => onEvent?.('switch', e as FleetEvent) },
        );
        let failed = 0;
        for (const r of run2.results) {
          const stage = staged.get(r.host);
          results.set(r.host, {
            ...r,
            durationMs: r.durationMs + (results.get(r.host)?.durationMs ?? 0),
            data: { ...stage, ...(r.data ?? {}), phase: 'switch', batch: i + 1 },
          });
          if (r.ok) switchedHere.push(r.host);
          else if (r.status !== 'skipped') {
            failed += 1;
            failedHosts.push(r.host);
          } else notSwitched.push(r.host);
        }
        const report: BatchReport = { batch: i + 1, canary, hosts: names, ok: run2.summary.ok, failed };
        batches.push(report);
        onRun?.({ type: 'batch-done', report, of: plan2.length });
        const failures = stagingFailed + batches.reduce((n, b) => n + b.failed, 0);
        if (run2.cancelled) {
          cancelled = true;
          why = 'staged, not switched (interrupted)';
          break;
        }
        const last = i === plan2.length - 1;
        if (canary && failed > 0 && (!last || order.autoRollback)) {
          const which = names.filter((n) => failedHosts.includes(n));
          stopped = { reason: 'canary', failures, limit, message: `a canary failed (${which.join(', ')})` };
        } else if (failures > limit && (!last || order.autoRollback)) {
          stopped = {
            reason: 'max-fail',
            failures,
            limit,
            message: `${plural(failures, 'host')} failed (${failedHosts.join(', ')}): more than --max-fail ${formatAmount(order.maxFail)}`,
          };
        }
        if (stopped) {
          why = `staged, not switched: ${stopped.message}`;
          break;
        }
      }
      if (stopped) {
        const back = order.autoRollback ? switchedHere : [];
        onRun?.({ type: 'stop', stop: stopped, switchBack: back });
        if (back.length > 0) await switchBack(back, stopped);
      }
    }
    for (const n of notSwitched) {
      const r = results.get(n);
      if (r && r.data?.phase === 'stage') results.set(n, { ...r, ok: false, status: 'skipped', error: why });
    }
  } finally {
    await journal.flush();
    if (locked.size > 0) await releaseLocks(plan, targets, locked);
  }

  /** Every host this run switched goes back to the release it had, in parallel. */
  async function switchBack(names: string[], stop: StopReport): Promise<void> {
    const why = `automatic rollback of ${plan.run.release}: ${stop.message}`;
    const back = await runFleet(
      names.map((n) => targets.find((t) => t.name === n)!),
      async ({ name, entry }) => {
        const data = await revertHost(plan, { name, entry }, staged.get(name)?.previous ?? null, why);
        return data.ok
          ? { ok: true, data }
          : { ok: false, data, failure: remoteFailure(data.error ?? 'could not switch back') };
      },
      // Not cancelled by Ctrl-C: switching back is what makes the fleet whole again.
      { ...fleet, signal: undefined, onEvent: (e) => onEvent?.('revert', e as FleetEvent) },
    );
    for (const r of back.results) {
      const data: RevertData = r.data ?? { to: null, ok: false, error: r.error, hooks: [] };
      const rb: RolledBack = { host: r.host, from: plan.run.release, ...data, ok: r.ok, error: r.ok ? null : r.error };
      rolledBack.push(rb);
      onRun?.({ type: 'rolled-back', result: rb });
      // The release stays staged there: --resume switches it again.
      if (rb.to !== null || r.ok)
        await journal.advance(plan.run.run, r.host, 'staged', { error: `rolled back: ${stop.message}` });
      const prev = results.get(r.host)!;
      results.set(r.host, {
        ...prev,
        ok: false,
        status: 'failed',
        error: r.ok
          ? `switched, then switched back to ${rb.to ?? 'nothing (tekton_path removed)'}: ${stop.message}`
          : `switched; switching it back failed: ${rb.error}`,
        data: { ...prev.data!, rolledBack: data },
      });
    }
  }

  for (const [host, hold] of holds) {
    const r = results.get(host);
    if (r) r.data = { ...r.data!, ...(hold === null ? { unheld: true } : { hold }) };
  }
  const ordered = targets.map((t) => results.get(t.name)!).filter((r) => r !== undefined);
  const summary = summarize(ordered);
  return {
    report: { ok: summary.ok === summary.total, summary, results: ordered, cancelled },
    stagingFailed,
    switched,
    batches,
    stopped,
    rolledBack,
    stillLocked: [...locked],
  };
}
