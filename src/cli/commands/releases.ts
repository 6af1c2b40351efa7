import { ExitCode, UsageError } from '../../core/errors.js';
import type { HostResult } from '../../core/fanout.js';
import { checkControlPath } from '../../core/paths.js';
import { requireHost } from '../../core/host-admin.js';
import { validateName } from '../../core/validate.js';
import { describeHold, isReleaseId, type HoldInfo } from '../../deploy/layout.js';
import { recordHold } from '../../deploy/record.js';
import { lockJob, unlockJob, type HoldData } from '../../ops/hold.js';
import { applyRollback, releasesJob, rollbackJob, type RollbackData } from '../../ops/releases.js';
import { ARG, MAX_HOOK_TIMEOUT } from '../../protocol/args.js';
import { DEFAULT_HOOK_TIMEOUT } from '../../protocol/hooks.js';
import { Inventory } from '../../inventory/inventory.js';
import type { Cli } from '../context.js';
import type { TillCommand } from '../help.js';
import { addFleetOptions, listHostsIfAsked, runFleetCommand, selectTargets, type FleetOpts } from '../fleet.js';
import { intOption } from '../options.js';
import { renderTable } from '../output/table.js';
import { printable } from '../output/terminal.js';
import { hookJson, hookOutputTail } from './deploy.js';

/**
 * `host rollback`, `host releases`, and the manual lock: `host lock -m "why"` and
 * `host unlock` (docs/deploy.md).
 */

/** `-m/--message`: one line of text the host records (no control characters, at most 1024). */
export function messageOption(value: string): string {
  const why = ARG.message.problem(value);
  if (why !== undefined)
    throw new UsageError(
      `invalid --message: ${why}`,
      'a message is one line of text (no tabs, newlines or other control characters)',
    );
  return value;
}

/**
 * The optional `-m` of deploy and rollback: a blank one says no more than none, and would
 * be recorded as if it said something. (`host lock` requires one and says so itself.)
 */
export function optionalMessageOption(value: string): string {
  if (value.trim() === '') throw new UsageError('-m, --message is empty', 'say why in a few words, or leave out -m');
  return messageOption(value);
}

export const hookTimeoutOption = intOption('--hook-timeout', 1, MAX_HOOK_TIMEOUT);

/** The manual lock as JSON (host text, as the host holds it). */
function holdJson(hold: Partial<HoldInfo> | null | undefined): Record<string, string | null> | null {
  if (hold === null || hold === undefined) return null;
  return { by: hold.by ?? null, when: hold.when ?? null, from: hold.from ?? null, message: hold.message ?? null };
}

export function registerReleaseCommands(host: TillCommand, cli: Cli): void {
  addFleetOptions(
    host
      .command('rollback')
      .description(
        "switch hosts back to the previous good release from till's record (or --to <id>); transfers nothing; runs that release's post-rollback hook",
      )
      .example(
        'till host rollback --all -m "login broken since 14:05"',
        'back to the previous good release everywhere, with why',
      )
      .example(
        'till host rollback web1 --to 20250105T100000Z-3f2a9c',
        'to a given release (ids: till host releases web1)',
      )
      .option('--to <release>', 'the release id to switch to (see: till host releases <name>)')
      .option('-m, --message <text>', 'why: kept in the release record on each host', optionalMessageOption)
      .option('--no-hooks', "do not run the release's post-rollback hook")
      .option(
        '--hook-timeout <seconds>',
        'stop the hook if it runs longer, in seconds',
        hookTimeoutOption,
        DEFAULT_HOOK_TIMEOUT,
      ),
  ).action(
    async (
      patterns: string[],
      opts: FleetOpts & { to?: string; message?: string; hooks: boolean; hookTimeout: number },
    ) => {
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
            message: opts.message ?? '',
            noHooks: !opts.hooks,
            hookTimeoutSec: opts.hookTimeout,
            connectTimeout: opts.connectTimeout,
            timeoutMs: opts.timeout && opts.timeout * 1000,
          }),
        // A switch whose hook then failed is still a switch: the entry says where the host is.
        onAttempt: (entry, r) => applyRollback(entry, r.data),
        extraJson: (r) => ({
          from: r.data?.from ?? null,
          to: r.data?.to ?? null,
          hooks: (r.data?.hooks ?? []).map(hookJson),
          manualLock: holdJson(r.data?.hold),
        }),
        extraColumns: [
          ['FROM', (r) => r.data?.from ?? '-'],
          ['TO', (r) => r.data?.to ?? '-'],
        ],
        beforeSummary: (report) => {
          for (const r of report.results)
            for (const h of r.data?.hooks ?? [])
              if (h.outcome !== 'ok' && h.outcome !== 'skipped' && h.output !== '')
                cli.err(`${r.host}: ${h.hook} hook output:\n${hookOutputTail(h)}`);
        },
      });
    },
  );

  host
    .command('releases')
    .description(
      "list a host's releases: id, state (adopted, staged, good, failed, rolled-back, partial), time, who deployed it from which commit, which is current; and its locks",
    )
    .example(
      'till host releases web1',
      "web1's releases: who deployed each, from which commit, why; the current one marked",
    )
    .example('till host releases web1 --json', 'with each release record: history, hooks and their output')
    .argument('<name>')
    .option('--json', 'print {host, current, manualLock, releases: [...]} as JSON (with each release record)')
    .option('--connect-timeout <seconds>', 'ssh ConnectTimeout (default 10)', intOption('--connect-timeout', 1, 600))
    .action(async (name: string, opts: { json?: boolean; connectTimeout?: number }) => {
      validateName(name);
      const paths = cli.paths();
      checkControlPath(paths);
      const inventory = new Inventory(paths);
      const db = await inventory.read();
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
      // What the host showed of a manual lock is kept for host show and status.
      if (d.hold !== undefined && JSON.stringify(entry.manual_lock ?? null) !== JSON.stringify(d.hold)) {
        await inventory.update((fresh) => {
          const e = fresh.hosts[name];
          if (e) recordHold(e, d.hold ?? null);
        });
      }
      if (opts.json) {
        cli.json({
          host: name,
          tekton_path: entry.tekton_path,
          current: d.current,
          link: d.link,
          plainDirectory: d.plain,
          lock: d.lock,
          manualLock: holdJson(d.hold),
          releases: d.releases.map(({ liveOrder: _l, ...r }) => r),
        });
        return;
      }
      if (d.hold) cli.err(`locked by ${printable(describeHold(d.hold))}; deploy and rollback are refused`);
      if (d.releases.length === 0) {
        cli.err(
          d.plain
            ? `${name}: ${entry.tekton_path} is a plain directory; the first deploy keeps it as a release`
            : `${name}: nothing deployed yet`,
        );
        return;
      }
      // Release records are the host's text: shown, not obeyed.
      cli.out(
        renderTable(
          ['', 'RELEASE', 'STATE', 'TIME', 'BY', 'COMMIT', 'MESSAGE', 'SOURCE'],
          d.releases.map((r) => [
            r.current ? '*' : '',
            r.id,
            r.state,
            r.at ?? '-',
            printable(r.deployer ?? '-'),
            r.commit === null ? '-' : `${printable(r.commit.slice(0, 12))}${r.dirty ? '+dirty' : ''}`,
            printable(r.message ?? ''),
            printable(r.source || '-'),
          ]),
        ),
      );
      if (d.current === null && d.link !== null)
        cli.err(`${entry.tekton_path} points outside till's releases: ${printable(d.link)}`);
      // The lock file is the host's: its words are shown, not obeyed.
      if (d.lock)
        cli.err(
          `deploy lock held by ${printable(d.lock.who ?? '?')} since ${printable(d.lock.when ?? '?')} (${printable(d.lock.what ?? '?')})`,
        );
    });

  addFleetOptions(
    host
      .command('lock')
      .description(
        'lock hosts by hand, with a message: deploy and rollback refuse them (naming who locked them, from where, when and why) until till host unlock; --force-unlock never breaks it',
      )
      .example('till host lock --group web -m "db migration until 15:00, ask ann"', 'hold deploys and rollbacks on web')
      .example('till host lock web1 -m "investigating a memory leak (bob)"', 'one host')
      .note('till host show and till status then name who locked a host, from where, when and why.')
      .option('-m, --message <text>', 'why (one line, required): shown to whoever tries to deploy', messageOption),
  ).action(async (patterns: string[], opts: FleetOpts & { message?: string }) => {
    const paths = cli.paths();
    checkControlPath(paths);
    const inventory = new Inventory(paths);
    const targets = selectTargets(cli, await inventory.read(), patterns, opts);
    // --list-hosts needs no message: it only shows which hosts a lock would take.
    if (listHostsIfAsked(cli, targets, opts)) return;
    const message = opts.message;
    // A blank message says no more than none: whoever meets the lock must learn why.
    if (message === undefined || message.trim() === '')
      throw new UsageError('host lock needs -m, --message <text>: say why it is locked');
    cli.exitCode = await runFleetCommand<HoldData>({
      cli,
      inventory,
      targets,
      opts,
      job: () =>
        lockJob(paths, {
          message,
          connectTimeout: opts.connectTimeout,
          timeoutMs: opts.timeout && opts.timeout * 1000,
        }),
      // Also a host someone else had locked: the entry shows whose lock it is.
      onAttempt: (entry, r) => {
        if (r.data) recordHold(entry, r.data.hold);
      },
      extraJson: (r) => ({ manualLock: holdJson(r.data?.hold), changed: r.data?.changed ?? false }),
      extraColumns: [['LOCKED BY', (r: HostResult<HoldData>) => printable(r.data?.hold?.by ?? '-')]],
    });
  });

  addFleetOptions(
    host
      .command('unlock')
      .description("remove hosts' manual lock (till host lock), whoever placed it; says whose it was")
      .example('till host unlock --group web', 'deploys and rollbacks may go on'),
  ).action(async (patterns: string[], opts: FleetOpts) => {
    const paths = cli.paths();
    checkControlPath(paths);
    const inventory = new Inventory(paths);
    const targets = selectTargets(cli, await inventory.read(), patterns, opts);
    if (listHostsIfAsked(cli, targets, opts)) return;
    cli.exitCode = await runFleetCommand<HoldData>({
      cli,
      inventory,
      targets,
      opts,
      job: () =>
        unlockJob(paths, { connectTimeout: opts.connectTimeout, timeoutMs: opts.timeout && opts.timeout * 1000 }),
      onSuccess: (entry) => recordHold(entry, null),
      extraJson: (r) => ({ removed: holdJson(r.data?.hold), changed: r.data?.changed ?? false }),
      extraColumns: [
        [
          'REMOVED',
          (r: HostResult<HoldData>) =>
            r.data?.hold ? printable(describeHold(r.data.hold)) : r.ok ? 'not locked' : '-',
        ],
      ],
    });
  });
}
