import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { ExitCode, UsageError } from '../../core/errors.js';
import type { HostResult, Target } from '../../core/fanout.js';
import { Inventory } from '../../inventory/inventory.js';
import { checkControlPath } from '../../core/paths.js';
import type { HostsFile } from '../../core/state/hosts.js';
import { UNCHANGED } from '../../core/state/store.js';
import {
  DeployJournalWriter,
  journalStore,
  type DeployJournal,
  lastUnfinished,
  unfinished,
  type DeployRun,
} from '../../core/state/deploy-journal.js';
import { failLimit, formatAmount, parseAmount, type Amount } from '../../deploy/batches.js';
import { DEFAULT_KEEP, DEFAULT_SHARED, normalizeShared, releaseId, sharedPathProblem } from '../../deploy/layout.js';
import { lockOwner } from '../../deploy/record.js';
import type { RsyncProgress } from '../../deploy/rsync.js';
import { gitRecord, hooksIn, listSource, resolveSource, type DeploySource } from '../../deploy/source.js';
import {
  applyDeploy,
  applyJournaled,
  dryRunJob,
  type DeployPlan,
  type DeployResultData,
  type DryRunData,
} from '../../ops/deploy.js';
import { runDeploy, type RunEvent, type SwitchOrder } from '../../ops/deploy-run.js';
import { sendEarlyLooks, type EarlyLooks } from '../../ops/deploy-look.js';
import { DEFAULT_HOOK_TIMEOUT, type HookRun } from '../../protocol/hooks.js';
import { plural } from '../../core/format.js';
import type { Cli } from '../context.js';
import {
  addFleetOptions,
  hasTargets,
  interruptSignal,
  listHostsIfAsked,
  runFleetCommand,
  selectTargets,
  type FleetOpts,
} from '../fleet.js';
import type { TillCommand } from '../help.js';
import { collect, installationOption, intOption, nonBlankOption, sourceOption } from '../options.js';
import { FleetReporter, fleetJson, renderSummary } from '../output/reporter.js';
import { printable } from '../output/terminal.js';
import { hookTimeoutOption, optionalMessageOption } from './releases.js';

interface DeployOpts extends FleetOpts {
  source?: string;
  installation?: string;
  shared?: string[];
  keep: number;
  maxFail?: Amount;
  check?: string;
  dryRun?: boolean;
  resume?: boolean;
  forceUnlock?: boolean;
  forceRelease?: boolean;
  canary?: number;
  batchSize?: Amount;
  pause?: number;
  autoRollback: boolean;
  message?: string;
  hooks: boolean;
  hookTimeout: number;
}

/** The options a resumed run takes from the run it continues (giving them again is refused; --pause may change). */
const RUN_OPTIONS = [
  'source',
  'installation',
  'dryRun',
  'canary',
  'batchSize',
  'maxFail',
  'message',
  'forceRelease',
] as const;

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function sharedPaths(extra: readonly string[]): string[] {
  const all = [...DEFAULT_SHARED, ...extra.map(normalizeShared)];
  for (const s of all) {
    const problem = sharedPathProblem(s);
    if (problem) throw new UsageError(`invalid --shared ${JSON.stringify(s)}: ${problem}`);
  }
  return [...new Set(all)];
}

function newRunId(): string {
  return `${new Date().toISOString().replace(/[-:.]/g, '').slice(0, 15)}Z-${randomBytes(4).toString('hex')}`;
}

/**
 * A release id no earlier run of this journal used. Two deploys of one tree in the same
 * second take the next free second instead of waiting for it (an unchanged redeploy would
 * otherwise wait up to a second): the id's time is then a second or two ahead, and ids
 * still sort in the order their runs began.
 */
export function freshReleaseId(used: ReadonlySet<string>, hash: string, now = Date.now()): string {
  for (let at = now; ; at += 1000) {
    const id = releaseId(new Date(at), hash);
    if (!used.has(id)) return id;
  }
}

function deployJsonExtra(r: HostResult<DeployResultData>): Record<string, unknown> {
  const d = r.data;
  return {
    phase: d?.phase ?? null,
    release: d?.release ?? null,
    unchanged: d?.phase === 'unchanged',
    compared: d?.phase === 'unchanged' ? (d.compared ?? null) : null,
    previous: d?.previous ?? null,
    transferred: d?.transferred ?? null,
    files: d?.stats?.files ?? null,
    filesTransferred: d?.stats?.filesTransferred ?? null,
    bytesSent: d?.stats?.bytesSent ?? null,
    literalBytes: d?.stats?.literalBytes ?? null,
    adopted: d?.adopted ?? null,
    checkFailed: d?.checkFailed ?? false,
    registered: d?.registered ?? null,
    registerError: d?.registerError ?? null,
    pruned: d?.pruned ?? [],
    brokeLock: d?.brokeLock ?? null,
    copiedFrom: d?.copiedFrom ?? null,
    batch: d?.batch ?? null,
    hookFailed: d?.hookFailed ?? null,
    hooks: (d?.hooks ?? []).map(hookJson),
    rolledBack: d?.rolledBack
      ? { to: d.rolledBack.to, ok: d.rolledBack.ok, error: d.rolledBack.error, hooks: d.rolledBack.hooks.map(hookJson) }
      : null,
    manualLock: d?.hold ?? null,
  };
}

/** A hook run in --json: its outcome, exit code, seconds, why it was refused, its kept output. */
export function hookJson(h: HookRun): Record<string, unknown> {
  return {
    hook: h.hook,
    outcome: h.outcome,
    exitCode: h.exitCode,
    seconds: h.seconds,
    why: h.why,
    output: h.output,
    outputCut: h.cut,
  };
}

/** The last lines of a hook's output, indented, for a failure on the terminal (host text: escaped). */
export function hookOutputTail(h: HookRun, lines = 20): string {
  const all = h.output.split('\n');
  const shown = all.slice(-lines).map((l) => `    ${printable(l)}`);
  const head =
    all.length > lines ? [`    … ${all.length - lines} earlier lines (till host releases <host> --json)`] : [];
  return [...head, ...shown].join('\n');
}

/**
 * Progressive switching from the run's options: what it does after staging. A resumed
 * run whose canaries already went live has none left to try; `--pause` given to the
 * resume replaces the run's.
 */
function switchOrderOf(run: DeployRun, resumed: boolean, pause: number | undefined): SwitchOrder {
  const o = run.options;
  const canaryDone = resumed && Object.values(run.hosts).some((h) => h.state === 'done');
  const maxFail = o.maxFailSpec !== undefined ? parseAmount('--max-fail', o.maxFailSpec, 0) : { count: o.maxFail };
  return {
    canary: canaryDone ? 0 : (o.canary ?? 0),
    batchSize: o.batchSize !== undefined ? parseAmount('--batch-size', o.batchSize, 1) : null,
    pauseMs: (pause ?? o.pauseSec ?? 0) * 1000,
    // A percentage counts against the hosts of this invocation (a resumed run's are fewer).
    maxFail,
    autoRollback: o.autoRollback === true,
  };
}

export function registerDeployCommands(host: TillCommand, cli: Cli): void {
  addFleetOptions(
    host
      .command('deploy')
      .description(
        'deploy an installation as a new release on each host: rsync (--link-dest) into <tekton_path>.till/releases/<id>, then one atomic switch of the tekton_path symlink (in batches with --canary/--batch-size); status becomes deployed',
      )
      .note(
        "Hooks: executable files in the release's .till/hooks/ run on each host in the release: pre-switch (a failure leaves the host as it was), post-switch (a failure switches it back, as a failed --check does), post-rollback (in the release a host goes back to). See docs/deploy.md.",
      )
      .example(
        'till host deploy --all --source ./site -m "fix the login page"',
        'a folder as a new release everywhere, with why',
      )
      .example(
        "till host deploy --group web --canary 1 --batch-size 25% --check 'curl -fsS localhost/health'",
        'one host first, then a quarter at a time; a failure switches back what the run switched',
      )
      .example('till host deploy --all --source ./site --dry-run', 'what would be transferred; change nothing')
      .option('--source <dir>', 'the local directory to deploy', sourceOption)
      .option(
        '--installation <name>',
        'an installation from the local registry (default: the default installation)',
        installationOption,
      )
      .option(
        '--shared <path>',
        `a persistent path kept in <tekton_path>.till/shared and linked into every release, besides ${DEFAULT_SHARED.join(' and ')} (repeatable)`,
        collect,
      )
      .option(
        '--keep <n>',
        'releases to keep; the current and the previous good one are never removed',
        intOption('--keep', 1, 1000),
        DEFAULT_KEEP,
      )
      .option(
        '--check <command>',
        'a remote shell command run in the new release after the switch; if it fails, the host switches back',
        nonBlankOption(
          '--check',
          "give the command that checks the new release, e.g. --check 'curl -fsS localhost/health'",
        ),
      )
      .option(
        '--canary <n>',
        'switch the first n hosts (in target order) alone first; if one fails, switch no other and switch them back',
        intOption('--canary', 1, 1_000_000),
      )
      .option(
        '--batch-size <n|p%>',
        'switch the other hosts this many (or this share of them) at a time, each batch checked before the next',
        (v: string) => parseAmount('--batch-size', v, 1),
      )
      .option(
        '--max-fail <n|p%>',
        'failures the run may have (staging, hooks, switch, check; default 0); over it, no further batch starts and, with --canary/--batch-size/--max-fail, every host this run switched goes back',
        (v: string) => parseAmount('--max-fail', v, 0),
      )
      .option(
        '--pause <seconds>',
        'wait between batches (Ctrl-C during the wait stops cleanly; --resume continues)',
        intOption('--pause', 1, 86_400),
      )
      .option('--no-auto-rollback', 'when the run stops, leave the hosts it switched on the new release')
      .option(
        '-m, --message <text>',
        'why: kept in the release record on each host (one line, at most 1024 characters)',
        optionalMessageOption,
      )
      .option('--no-hooks', "do not run the release's hooks (.till/hooks/pre-switch, post-switch, post-rollback)")
      .option(
        '--hook-timeout <seconds>',
        'stop a hook that runs longer, in seconds',
        hookTimeoutOption,
        DEFAULT_HOOK_TIMEOUT,
      )
      .option('--dry-run', 'show per host what would be transferred (rsync --itemize-changes); change nothing')
      .option('--resume', 'finish the last interrupted deploy: same release, only the hosts that did not finish')
      .option(
        '--force-release',
        'make a new release on every host, even where the live release is already what it would be (by default such a host is compared in one connection, left as it is and reported unchanged)',
      )
      .option(
        '--force-unlock',
        'break a deploy lock left by a dead deploy (says whose it was; never a till host lock)',
      ),
  ).action(async (patterns: string[], opts: DeployOpts, cmd: Command) => {
    // The looks sent before the walk (sendEarlyLooks) end with the command, whatever ends it.
    const early: { looks?: EarlyLooks } = {};
    try {
      await deploy(cli, patterns, opts, cmd, early);
    } finally {
      early.looks?.cancel();
    }
  });
}

/**
 * Writes to the database what the newest journaled run finished but did not record (a
 * till killed between a host's `done` and the run's one write of the results; see
 * applyJournaled): one locked write, only when some entry is behind.
 */
async function recordJournaled(
  inventory: Inventory,
  db: HostsFile,
  journal: DeployJournal,
): Promise<{ run: string; release: string; hosts: string[] } | null> {
  const last = journal.runs.at(-1);
  if (last === undefined || applyJournaled(db, last).length === 0) return null;
  const hosts = await inventory.update(
    (fresh) => {
      const changed = applyJournaled(fresh, last);
      return changed.length > 0 ? changed : UNCHANGED;
    },
    { sshConfig: false },
  );
  return hosts === UNCHANGED ? null : { run: last.run, release: last.release, hosts };
}

/** `host deploy`: a run of a source to the targets, or --resume, or --dry-run. */
async function deploy(
  cli: Cli,
  patterns: string[],
  opts: DeployOpts,
  cmd: Command,
  early: { looks?: EarlyLooks },
): Promise<void> {
  const paths = cli.paths();
  checkControlPath(paths);
  const given = (name: string) => cmd.getOptionValueSource(name) === 'cli';
  if (opts.pause !== undefined && opts.canary === undefined && opts.batchSize === undefined && !opts.resume)
    throw new UsageError('--pause waits between batches', 'give --canary or --batch-size as well');
  const inventory = new Inventory(paths);
  const db = await inventory.read();
  const timeoutMs = opts.timeout !== undefined ? opts.timeout * 1000 : undefined;
  const journal = new DeployJournalWriter(paths);

  let run: DeployRun;
  let source: DeploySource;
  /** The source's listing, for hosts whose live release may be the same (a fresh run without .tillignore). */
  let listing: string | undefined;
  let targets: Target[];
  if (opts.resume) {
    const again = RUN_OPTIONS.filter((o) => opts[o] !== undefined && o !== 'dryRun').concat(
      opts.dryRun ? ['dryRun'] : [],
    );
    if (again.length > 0) {
      throw new UsageError(
        '--resume continues the interrupted deploy as it was; it takes no --source, --installation, --dry-run, --canary, --batch-size, --max-fail, --message or --force-release (--pause may change)',
      );
    }
    const journalNow = await journalStore(paths).read();
    const recorded = await recordJournaled(inventory, db, journalNow);
    const last = lastUnfinished(journalNow);
    if (!last && recorded !== null) {
      // Killed after its last host finished: nothing left to run, only its record to write.
      if (opts.json) cli.json({ run: recorded.run, release: recorded.release, recorded: recorded.hosts });
      else cli.err(`run ${recorded.run} had finished; recorded ${recorded.release} on ${recorded.hosts.join(', ')}`);
      return;
    }
    if (!last)
      throw new UsageError('no interrupted deploy to resume', 'start one: till host deploy <targets> --source <dir>');
    run = last;
    const pending = Object.entries(run.hosts)
      .filter(([, h]) => unfinished(h.state))
      .map(([n]) => n);
    const wanted =
      hasTargets(patterns, opts) || opts.limit !== undefined
        ? new Set(selectTargets(cli, db, patterns, opts, { whenNone: 'all' }).map((t) => t.name))
        : undefined;
    targets = pending
      .filter((n) => db.hosts[n] !== undefined && (wanted === undefined || wanted.has(n)))
      .map((n) => ({ name: n, entry: db.hosts[n]! }));
    if (targets.length === 0) throw new UsageError(`run ${run.run} has no unfinished host among those targets`);
    if (listHostsIfAsked(cli, targets, opts)) return;
    source = { ...(await resolveSource(paths, { source: run.source })), name: run.installation };
    if (!opts.json) cli.err(`resuming deploy ${run.run} of ${run.release} on ${targets.map((t) => t.name).join(', ')}`);
  } else {
    targets = selectTargets(cli, db, patterns, opts);
    if (listHostsIfAsked(cli, targets, opts)) return;
    source = await resolveSource(paths, { source: opts.source, installation: opts.installation });
    const shared = sharedPaths(opts.shared ?? []);
    if (opts.dryRun) {
      cli.exitCode = await runFleetCommand<DryRunData>({
        cli,
        inventory,
        targets,
        opts,
        job: () => dryRunJob(paths, source, shared, { connectTimeout: opts.connectTimeout, timeoutMs }),
        extraJson: (r) => ({ changes: r.data?.changes ?? [], current: r.data?.current ?? null }),
        extraColumns: [['CHANGES', (r) => (r.data ? String(r.data.changes.length) : '-')]],
        beforeSummary: (report) => {
          for (const r of report.results) {
            if (!r.data) continue;
            cli.out(
              `${cli.stdoutColor.bold(`== ${r.host}`)} (against ${r.data.current ?? 'nothing deployed yet'}): ${plural(r.data.changes.length, 'change')}`,
            );
            if (r.data.changes.length > 0) cli.out(r.data.changes.join('\n'));
          }
        },
      });
      return;
    }
    // The source's listing (GNU find beside till), git and the hosts' looks all run at
    // once (an unchanged redeploy's local work is mostly these; each look is read-only,
    // see sendEarlyLooks).
    const listed = listSource(source.dir, shared);
    const gitDone = gitRecord(source.dir);
    if (!opts.forceRelease) {
      early.looks = sendEarlyLooks(
        { paths, connectTimeout: opts.connectTimeout, timeoutMs },
        targets,
        { shared, installation: source.name, envLocal: source.envLocal },
        { parallel: opts.serial ? 1 : opts.parallel },
      );
    }
    // The listing is the release id's content hash too; with a .tillignore (rsync filter
    // rules it does not read) it is not compared with a host's, rsync decides instead.
    const [hash, git, journalNow] = await Promise.all([listed, gitDone, journalStore(paths).read()]);
    // What a killed run finished but did not record, before this run's own record (a dry run changes nothing).
    if (!opts.dryRun) await recordJournaled(inventory, db, journalNow);
    if (!existsSync(join(source.dir, '.tillignore'))) listing = hash;
    const used = new Set(journalNow.runs.map((r) => r.release));
    const maxFail = opts.maxFail ?? { count: 0 };
    const progressive = opts.canary !== undefined || opts.batchSize !== undefined || given('maxFail');
    run = {
      run: newRunId(),
      release: freshReleaseId(used, hash),
      source: source.dir,
      installation: source.name,
      started: new Date().toISOString(),
      options: {
        shared,
        keep: opts.keep,
        maxFail: failLimit(maxFail, targets.length),
        check: opts.check ?? null,
        ...(opts.canary !== undefined ? { canary: opts.canary } : {}),
        ...(opts.batchSize !== undefined ? { batchSize: formatAmount(opts.batchSize) } : {}),
        maxFailSpec: formatAmount(maxFail),
        ...(opts.pause !== undefined ? { pauseSec: opts.pause } : {}),
        autoRollback: progressive && opts.autoRollback,
        hooks: opts.hooks,
        hookTimeout: opts.hookTimeout,
        ...(opts.forceRelease ? { forceRelease: true } : {}),
      },
      record: {
        deployer: lockOwner(),
        commit: git?.commit ?? null,
        dirty: git?.dirty ?? null,
        message: opts.message ?? '',
      },
      hosts: Object.fromEntries(
        targets.map((t) => [t.name, { state: 'pending' as const, at: new Date().toISOString() }]),
      ),
    };
    early.looks?.keepFor(run.release);
    await journal.begin(run);
  }

  const json = opts.json === true;
  const order = switchOrderOf(run, opts.resume === true, opts.pause);
  const record = run.record ?? { deployer: lockOwner(), commit: null, dirty: null, message: '' };
  const hookTimeoutSec = run.options.hookTimeout ?? DEFAULT_HOOK_TIMEOUT;
  const hooks = run.options.hooks !== false ? hooksIn(source.dir) : [];
  const transfers = new Map<string, RsyncProgress>();
  const plan: DeployPlan = {
    paths,
    run,
    source,
    forceUnlock: opts.forceUnlock === true,
    forceRelease: run.options.forceRelease === true,
    ...(listing !== undefined ? { listing } : {}),
    ...(early.looks !== undefined ? { looks: early.looks } : {}),
    connectTimeout: opts.connectTimeout,
    timeoutMs,
    record,
    hooks: { run: hooks.length > 0, enabled: run.options.hooks !== false, timeoutSec: hookTimeoutSec },
    keepLock: order.autoRollback,
    // On a terminal, the live line shows the transfers under way (rsync --info=progress2).
    ...(cli.stderrIsTTY && !json
      ? {
          onTransfer: (name: string, p: RsyncProgress) => {
            transfers.set(name, p);
            stage.refresh();
          },
        }
      : {}),
    onStaged: (name, d) => {
      transfers.delete(name);
      if (json) return;
      if (d.unchanged) {
        stage.clear();
        cli.err(`${name}: unchanged (${d.release} stays live)`);
        return;
      }
      if (d.brokeLock) cli.err(`${name}: broke the lock held by ${d.brokeLock}`);
      if (d.adopted) cli.err(`${name}: kept the existing directory as release ${d.adopted}`);
      const what =
        d.transferred && d.stats
          ? `${d.stats.filesTransferred} of ${plural(d.stats.files, 'file')}, ${formatBytes(d.stats.literalBytes)} of data, ${formatBytes(d.stats.bytesSent)} sent`
          : 'already staged, nothing transferred';
      stage.clear();
      cli.err(`staged ${name}: ${what}`);
    },
  };
  if (!json) {
    const commit =
      record.commit !== null ? `, commit ${record.commit.slice(0, 12)}${record.dirty ? ' (dirty)' : ''}` : '';
    cli.err(`deploying ${run.release} (${source.dir}${commit}) to ${plural(targets.length, 'host')}`);
    if (hooks.length > 0) cli.err(`hooks: ${hooks.join(', ')} (timeout ${hookTimeoutSec} s)`);
  }
  const stage = new FleetReporter(cli, targets.length, {
    json,
    quietDone: true,
    detail: () => describeTransfers(transfers),
  });
  const swap = new FleetReporter(cli, targets.length, {
    json,
    quietDone: order.canary > 0 || order.batchSize !== null,
  });
  const interrupt = interruptSignal();
  let outcome;
  try {
    outcome = await runDeploy(plan, journal, targets, order, {
      parallel: opts.serial ? 1 : opts.parallel,
      attempts: opts.retries,
      singleAttemptFor: (t) => t.entry.status === 'unreachable',
      signal: interrupt.signal,
      onEvent: (phase, e) => {
        if (phase === 'stage') {
          if (e.type === 'done' && !e.result.ok && !json) {
            stage.clear();
            cli.err(`${e.result.host}: staging ${e.result.status}: ${printable(e.result.error ?? '')}`);
          }
          stage.onEvent(e);
        } else if (phase === 'switch') swap.onEvent(e);
      },
      onRun: (e) => {
        if (json) return;
        swap.clear();
        const line = describeRunEvent(e, order);
        if (line !== null) cli.err(line);
      },
    });
  } finally {
    stage.stop();
    swap.stop();
    interrupt.dispose();
  }
  const { report } = outcome;
  await inventory.recordResults(report.results, undefined, (entry, r) =>
    applyDeploy(entry, r, run.installation, record),
  );
  const notes: string[] = [];
  if (!outcome.switched && outcome.stagingFailed > failLimit(order.maxFail, targets.length)) {
    notes.push(
      `no host was switched: ${plural(outcome.stagingFailed, 'host')} failed to stage and --max-fail is ${formatAmount(order.maxFail)}; fix them and run: till host deploy --resume`,
    );
  }
  if (outcome.stopped !== null) {
    const left = report.results.filter((r) => r.status === 'skipped').length;
    if (left > 0)
      notes.push(
        `${plural(left, 'host')} staged but not switched (${outcome.stopped.message}); once fixed: till host deploy --resume`,
      );
  }
  if (report.cancelled) notes.push('interrupted; finish with: till host deploy --resume');
  if (outcome.stillLocked.length > 0)
    notes.push(
      `could not release the deploy lock on ${outcome.stillLocked.join(', ')}; --resume reuses it, or break it with --force-unlock`,
    );
  for (const r of report.results) {
    if (r.data?.registered === false)
      notes.push(
        `${r.host}: the remote till did not register the installation: ${r.data.registerError ?? 'unknown error'}`,
      );
  }
  if (json) {
    cli.json({
      ...(fleetJson(report, deployJsonExtra as (r: HostResult) => Record<string, unknown>) as object),
      run: run.run,
      release: run.release,
      source: run.source,
      installation: run.installation,
      deployer: record.deployer,
      commit: record.commit,
      dirty: record.dirty,
      message: record.message === '' ? null : record.message,
      switched: outcome.switched,
      batches: outcome.batches,
      stopped: outcome.stopped,
      rolledBack: outcome.rolledBack.map((b) => ({
        host: b.host,
        from: b.from,
        to: b.to,
        ok: b.ok,
        error: b.error,
        hooks: b.hooks.map(hookJson),
      })),
      notes,
    });
  } else {
    const batched = outcome.batches.length > 1;
    cli.out(
      renderSummary(cli, report as never, [
        ...(batched ? [batchColumn] : []),
        ['RELEASE', (r) => (r as HostResult<DeployResultData>).data?.release ?? '-'],
        [
          'SENT',
          (r) => {
            const s = (r as HostResult<DeployResultData>).data?.stats;
            return s ? formatBytes(s.bytesSent) : '-';
          },
        ],
      ]),
    );
    // A failed hook's output (host text, escaped), where the operator looks first.
    for (const r of report.results) {
      for (const h of r.data?.hooks ?? []) {
        if (h.outcome === 'ok' || h.outcome === 'skipped' || h.output === '') continue;
        cli.err(`${r.host}: ${h.hook} hook output:\n${hookOutputTail(h)}`);
      }
    }
    for (const n of notes) cli.err(n);
  }
  cli.exitCode = report.cancelled ? ExitCode.interrupted : report.ok ? ExitCode.ok : ExitCode.hostFailed;
}

const batchColumn: [string, (r: HostResult) => string] = [
  'BATCH',
  (r) => String((r as HostResult<DeployResultData>).data?.batch ?? '-'),
];

/** One stderr line per step of a batched run (null: nothing to say). */
export function describeRunEvent(e: RunEvent, order: SwitchOrder): string | null {
  switch (e.type) {
    case 'batch':
      if (e.of === 1 && order.canary === 0) return null;
      return `batch ${e.batch}/${e.of}${e.canary ? ' (canary)' : ''}: switching ${e.hosts.join(', ')}`;
    case 'batch-done':
      if (e.of === 1 && order.canary === 0) return null;
      return `batch ${e.report.batch}/${e.of}${e.report.canary ? ' (canary)' : ''}: ${e.report.ok} ok, ${e.report.failed} failed`;
    case 'pause':
      return `pausing ${e.seconds} s before batch ${e.next} (Ctrl-C stops here; till host deploy --resume continues)`;
    case 'stop':
      return e.switchBack.length > 0
        ? `stopping: ${e.stop.message}; switching back the ${plural(e.switchBack.length, 'host')} this run switched: ${e.switchBack.join(', ')}`
        : `stopping: ${e.stop.message}${order.autoRollback ? '' : ' (--no-auto-rollback: switched hosts stay)'}`;
    case 'rolled-back':
      return e.result.ok
        ? `${e.result.host}: switched back to ${e.result.to ?? 'nothing (tekton_path removed)'}`
        : `${e.result.host}: could not switch back: ${printable(e.result.error ?? '')}`;
  }
}

/** `web-1 45% 120 MiB, 812 files · web-2 …`: the transfers under way, for the live line. */
export function describeTransfers(transfers: ReadonlyMap<string, RsyncProgress>, shown = 3): string {
  const list = [...transfers];
  const parts = list
    .slice(0, shown)
    .map(([host, p]) => `${host} ${p.percent}% ${formatBytes(p.bytes)}, ${plural(p.files, 'file')}`);
  if (list.length > shown) parts.push(`+${list.length - shown} more`);
  return parts.join(' · ');
}
