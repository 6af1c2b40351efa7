import { randomBytes } from 'node:crypto';
import { requireHost } from '../../core/host-admin.js';
import { ExitCode, UsageError } from '../../core/errors.js';
import type { HostResult, Target } from '../../core/fanout.js';
import { Inventory } from '../../inventory/inventory.js';
import { checkControlPath } from '../../core/paths.js';
import {
  DeployJournalWriter,
  journalStore,
  lastUnfinished,
  unfinished,
  type DeployRun,
} from '../../core/state/deploy-journal.js';
import { validateName } from '../../core/validate.js';
import {
  DEFAULT_KEEP,
  DEFAULT_SHARED,
  isReleaseId,
  normalizeShared,
  releaseId,
  sharedPathProblem,
} from '../../deploy/layout.js';
import type { RsyncProgress } from '../../deploy/rsync.js';
import { resolveSource, treeHash, type DeploySource } from '../../deploy/source.js';
import {
  applyDeploy,
  applyRollback,
  dryRunJob,
  releasesJob,
  rollbackJob,
  runDeploy,
  type DeployPlan,
  type DeployResultData,
  type DryRunData,
  type RollbackData,
} from '../../ops/deploy.js';
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
import { collect, intOption } from '../options.js';
import { FleetReporter, fleetJson, renderSummary } from '../output/reporter.js';
import { renderTable } from '../output/table.js';
import { plural } from '../../core/format.js';
import { printable } from '../output/terminal.js';

interface DeployOpts extends FleetOpts {
  source?: string;
  installation?: string;
  shared?: string[];
  keep: number;
  maxFail: number;
  check?: string;
  dryRun?: boolean;
  resume?: boolean;
  forceUnlock?: boolean;
}

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

/** A release id no earlier run of this journal used (two deploys of one tree in the same second). */
async function freshReleaseId(used: Set<string>, hash: string): Promise<string> {
  for (;;) {
    const id = releaseId(new Date(), hash);
    if (!used.has(id)) return id;
    await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 5));
  }
}

function deployJsonExtra(r: HostResult<DeployResultData>): Record<string, unknown> {
  const d = r.data;
  return {
    phase: d?.phase ?? null,
    release: d?.release ?? null,
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
  };
}

export function registerDeployCommands(host: TillCommand, cli: Cli): void {
  addFleetOptions(
    host
      .command('deploy')
      .description(
        'deploy an installation as a new release on each host: rsync (--link-dest) into <tekton_path>.till/releases/<id>, then one atomic switch of the tekton_path symlink; status becomes deployed',
      )
      .example('till host deploy --all --source ./site', 'a local folder as a new release on every host')
      .example(
        "till host deploy --group web --check 'curl -fsS localhost/health'",
        'the default installation; roll back a host whose check fails',
      )
      .example('till host deploy --all --source ./site --dry-run', 'what would be transferred; change nothing')
      .option('--source <dir>', 'the local directory to deploy')
      .option('--installation <name>', 'an installation from the local registry (default: the default installation)')
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
        '--max-fail <n>',
        'switch only if at most this many hosts failed to stage',
        intOption('--max-fail', 0, 1_000_000),
        0,
      )
      .option(
        '--check <command>',
        'a remote shell command run in the new release after the switch; if it fails, the host switches back',
      )
      .option('--dry-run', 'show per host what would be transferred (rsync --itemize-changes); change nothing')
      .option('--resume', 'finish the last interrupted deploy: same release, only the hosts that did not finish')
      .option('--force-unlock', 'break a deploy lock left by a dead deploy (says whose it was)'),
  ).action(async (patterns: string[], opts: DeployOpts) => {
    const paths = cli.paths();
    checkControlPath(paths);
    const inventory = new Inventory(paths);
    const db = await inventory.read();
    const timeoutMs = opts.timeout !== undefined ? opts.timeout * 1000 : undefined;
    const journal = new DeployJournalWriter(paths);

    let run: DeployRun;
    let source: DeploySource;
    let targets: Target[];
    if (opts.resume) {
      if (opts.source !== undefined || opts.installation !== undefined || opts.dryRun) {
        throw new UsageError(
          '--resume continues the interrupted deploy as it was; it takes no --source, --installation or --dry-run',
        );
      }
      const last = lastUnfinished(await journalStore(paths).read());
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
      if (!opts.json)
        cli.err(`resuming deploy ${run.run} of ${run.release} on ${targets.map((t) => t.name).join(', ')}`);
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
      const hash = treeHash(source.dir, shared);
      const used = new Set((await journalStore(paths).read()).runs.map((r) => r.release));
      run = {
        run: newRunId(),
        release: await freshReleaseId(used, hash),
        source: source.dir,
        installation: source.name,
        started: new Date().toISOString(),
        options: { shared, keep: opts.keep, maxFail: opts.maxFail, check: opts.check ?? null },
        hosts: Object.fromEntries(
          targets.map((t) => [t.name, { state: 'pending' as const, at: new Date().toISOString() }]),
        ),
      };
      await journal.begin(run);
    }

    const json = opts.json === true;
    const transfers = new Map<string, RsyncProgress>();
    const plan: DeployPlan = {
      paths,
      run,
      source,
      forceUnlock: opts.forceUnlock === true,
      connectTimeout: opts.connectTimeout,
      timeoutMs,
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
    if (!json) cli.err(`deploying ${run.release} (${source.dir}) to ${plural(targets.length, 'host')}`);
    const stage = new FleetReporter(cli, targets.length, {
      json,
      quietDone: true,
      detail: () => describeTransfers(transfers),
    });
    const swap = new FleetReporter(cli, targets.length, { json });
    const interrupt = interruptSignal();
    let outcome;
    try {
      outcome = await runDeploy(plan, journal, targets, {
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
          } else swap.onEvent(e);
        },
      });
    } finally {
      stage.stop();
      swap.stop();
      interrupt.dispose();
    }
    const { report } = outcome;
    await inventory.recordResults(report.results, (entry, r) => applyDeploy(entry, r.data, run.installation));
    const notes: string[] = [];
    if (!outcome.switched && outcome.stagingFailed > run.options.maxFail) {
      notes.push(
        `no host was switched: ${plural(outcome.stagingFailed, 'host')} failed to stage and --max-fail is ${run.options.maxFail}; fix them and run: till host deploy --resume`,
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
        switched: outcome.switched,
        notes,
      });
    } else {
      cli.out(
        renderSummary(cli, report as never, [
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
      for (const n of notes) cli.err(n);
    }
    cli.exitCode = report.cancelled ? ExitCode.interrupted : report.ok ? ExitCode.ok : ExitCode.hostFailed;
  });

  addFleetOptions(
    host
      .command('rollback')
      .description(
        "switch hosts back to the previous good release from till's record (or --to <id>); transfers nothing",
      )
      .example('till host rollback --all', 'back to the previous good release everywhere')
      .example(
        'till host rollback web1 --to 20250105T100000Z-3f2a9c1d',
        'to a given release (ids: till host releases web1)',
      )
      .option('--to <release>', 'the release id to switch to (see: till host releases <name>)'),
  ).action(async (patterns: string[], opts: FleetOpts & { to?: string }) => {
    if (opts.to !== undefined && !isReleaseId(opts.to))
      throw new UsageError(
        `invalid release id ${JSON.stringify(opts.to)}`,
        'release ids look like 20261126T031500Z-3fa9c2; see: till host releases <name>',
      );
    const paths = cli.paths();
    checkControlPath(paths);
    const inventory = new Inventory(paths);
    const targets = selectTargets(cli, await inventory.read(), patterns, opts);
    if (listHostsIfAsked(cli, targets, opts)) return;
    cli.exitCode = await runFleetCommand<RollbackData>({
      cli,
      inventory,
      targets,
      opts,
      job: () =>
        rollbackJob(paths, {
          ...(opts.to !== undefined ? { to: opts.to } : {}),
          connectTimeout: opts.connectTimeout,
          timeoutMs: opts.timeout && opts.timeout * 1000,
        }),
      onSuccess: (entry, r) => applyRollback(entry, r.data),
      extraJson: (r) => ({ from: r.data?.from ?? null, to: r.data?.to ?? null }),
      extraColumns: [
        ['FROM', (r) => r.data?.from ?? '-'],
        ['TO', (r) => r.data?.to ?? '-'],
      ],
    });
  });

  host
    .command('releases')
    .description(
      "list a host's releases: id, time, source, state (adopted, staged, good, failed, rolled-back, partial), which is current",
    )
    .example('till host releases web1', "web1's releases, the current one marked")
    .example('till host releases web1 --json', 'as JSON')
    .argument('<name>')
    .option('--json', 'print {host, current, releases: [...]} as JSON')
    .option('--connect-timeout <seconds>', 'ssh ConnectTimeout (default 10)', intOption('--connect-timeout', 1, 600))
    .action(async (name: string, opts: { json?: boolean; connectTimeout?: number }) => {
      validateName(name);
      const paths = cli.paths();
      checkControlPath(paths);
      const db = await new Inventory(paths).read();
      const entry = requireHost(db, name);
      const outcome = await releasesJob(paths, { connectTimeout: opts.connectTimeout })({
        name,
        entry,
        attempt: 1,
        signal: new AbortController().signal,
      });
      if (!outcome.ok || !outcome.data) {
        cli.err(`error: ${name}: ${outcome.failure?.message ?? 'failed'}`);
        cli.exitCode = ExitCode.hostFailed;
        return;
      }
      const d = outcome.data;
      if (opts.json) {
        cli.json({
          host: name,
          tekton_path: entry.tekton_path,
          current: d.current,
          link: d.link,
          plainDirectory: d.plain,
          lock: d.lock,
          releases: d.releases.map(({ liveOrder: _l, ...r }) => r),
        });
        return;
      }
      if (d.releases.length === 0) {
        cli.err(
          d.plain
            ? `${name}: ${entry.tekton_path} is a plain directory; the first deploy keeps it as a release`
            : `${name}: nothing deployed yet`,
        );
        return;
      }
      cli.out(
        renderTable(
          ['', 'RELEASE', 'STATE', 'TIME', 'SOURCE'],
          d.releases.map((r) => [r.current ? '*' : '', r.id, r.state, r.at ?? '-', r.source || '-']),
        ),
      );
      if (d.current === null && d.link !== null)
        cli.err(`${entry.tekton_path} points outside till's releases: ${printable(d.link)}`);
      // The lock file is the host's: its words are shown, not obeyed.
      if (d.lock)
        cli.err(
          `locked by ${printable(d.lock.who ?? '?')} since ${printable(d.lock.when ?? '?')} (${printable(d.lock.what ?? '?')})`,
        );
    });
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
