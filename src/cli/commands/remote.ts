import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import {
  errorMessage,
  ExitCode,
  fileErrorText,
  fileSystemError,
  permissionError,
  SetupError,
  UsageError,
} from '../../core/errors.js';
import type { HostResult, Target } from '../../core/fanout.js';
import { Inventory } from '../../inventory/inventory.js';
import { checkControlPath } from '../../core/paths.js';
import { atLeast, lifecycleOf, type HostsFile } from '../../core/state/hosts.js';
import { applySetup, MIN_NODE_MAJOR, setupJob, VERSION_RE, type SetupData } from '../../ops/setup.js';
import { gateConfigFor, parsePublicKey, restrictJob, type PublicKey } from '../../ops/restrict.js';
import { countLocal, hostSyncJob, type HostSyncData } from '../../ops/sync.js';
import type { Cli } from '../context.js';
import {
  addFleetOptions,
  hasTargets,
  listHostsIfAsked,
  runFleetCommand,
  selectTargets,
  type FleetOpts,
} from '../fleet.js';
import type { TillCommand } from '../help.js';
import { printable } from '../output/terminal.js';
import { shippedBundle, VERSION } from '../version.js';

/**
 * The self-contained bundle `host setup` ships: dist/till.mjs of the build this till
 * runs from (the local till runs the same CLI split into dist/cli/; version.ts).
 */
export function runningBundle(): string {
  const file = shippedBundle();
  if (!file.endsWith('.mjs') || !existsSync(file)) {
    throw new SetupError(
      `till host setup ships the built bundle, but this till runs from ${file}`,
      'run the built till (npm run build; bin/till.mjs)',
    );
  }
  return file;
}

/** till's public key, for restricting it on hosts. */
async function readPublicKey(file: string): Promise<PublicKey> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new SetupError(`no public key at ${file}`, 'run: till host init');
    // Something else is in the way (a folder, a permission): host init would not help.
    throw (
      fileSystemError(file, err, 'read') ??
      permissionError(err) ??
      new SetupError(`cannot read ${file}: ${fileErrorText(err)}`)
    );
  }
  try {
    return parsePublicKey(text);
  } catch (err) {
    throw new SetupError(`${file}: ${errorMessage(err)}`);
  }
}

/** Hosts at till-ready or beyond (looking through unreachable), and the others. */
export function splitSetUp(targets: readonly Target[]): { ready: Target[]; notReady: Target[] } {
  const ready: Target[] = [];
  const notReady: Target[] = [];
  for (const t of targets) (atLeast(lifecycleOf(t.entry), 'till-ready') ? ready : notReady).push(t);
  return { ready, notReady };
}

/**
 * Targets of a host sync: the named ones, or every set-up host when none are named.
 * Hosts without till are left out with a note (they have nothing to sync with). With
 * --list-hosts an empty result is not an error: the listing shows what would run.
 */
export function syncTargets(cli: Cli, db: HostsFile, patterns: string[], opts: FleetOpts): Target[] {
  const explicit = hasTargets(patterns, opts);
  const all = selectTargets(cli, db, patterns, opts, { whenNone: 'all' });
  const { ready, notReady } = splitSetUp(all);
  if (notReady.length > 0 && (explicit || !opts.json)) {
    cli.err(
      `not set up, left out: ${notReady.map((t) => `${t.name} (${lifecycleOf(t.entry)})`).join(', ')}; run: till host setup <name>`,
    );
  }
  if (explicit && ready.length === 0 && opts.listHosts !== true)
    throw new UsageError('none of the targets has till set up', 'run: till host setup <targets>');
  return ready;
}

/**
 * One line per installation a host skipped or failed, with the host's reason: the
 * INSTALLATIONS column only counts them. Empty when every host's checkouts synced.
 */
export function hostInstallationNotes(results: ReadonlyArray<HostResult<HostSyncData>>): string[] {
  const lines: string[] = [];
  for (const r of results) {
    for (const inst of r.data?.local ?? []) {
      if (inst.status === 'skipped' || inst.status === 'failed')
        // The host's own report: its names and reasons are shown, not obeyed.
        lines.push(`${r.host}: ${printable(`${inst.name} ${inst.status}: ${inst.reason ?? 'no reason given'}`)}`);
    }
  }
  return lines;
}

export function localSummary(data: HostSyncData | undefined): string {
  if (!data?.local) return '-';
  const c = countLocal(data.local);
  if (c.total === 0) return 'none';
  const parts: string[] = [];
  for (const k of ['updated', 'would-update', 'up-to-date', 'skipped', 'failed'] as const)
    if (c[k] > 0) parts.push(`${c[k]} ${k}`);
  return parts.join(', ');
}

/**
 * `host setup [--restrict]`, also run by `host authorize --restrict` (a host must run
 * till before its key can be restricted to `till gate`).
 */
export async function runSetupCommand(
  cli: Cli,
  patterns: string[],
  opts: FleetOpts & { restrict?: boolean; force?: boolean; allowHooks?: boolean },
): Promise<number> {
  if (opts.allowHooks && !opts.restrict)
    throw new UsageError(
      "--allow-hooks is part of a restricted key's policy: give it with --restrict",
      'an unrestricted key runs release hooks anyway',
    );
  const paths = cli.paths();
  checkControlPath(paths);
  if (!VERSION_RE.test(VERSION))
    throw new SetupError(`this till's version ${JSON.stringify(VERSION)} cannot name a file on the host`);
  const bundlePath = runningBundle();
  const inventory = new Inventory(paths);
  const targets = selectTargets(cli, await inventory.read(), patterns, opts);
  if (listHostsIfAsked(cli, targets, opts)) return ExitCode.ok;
  const timing = { connectTimeout: opts.connectTimeout, timeoutMs: opts.timeout && opts.timeout * 1000 };
  const key = opts.restrict ? await readPublicKey(paths.publicKey) : undefined;
  return runFleetCommand<SetupData & { restricted?: boolean }>({
    cli,
    inventory,
    targets,
    opts,
    job: () => {
      const setup = setupJob(paths, { version: VERSION, bundlePath, force: opts.force === true, ...timing });
      if (!key) return setup;
      return async (ctx) => {
        const done = await setup(ctx);
        if (!done.ok) return done;
        const restricted = await restrictJob(paths, key, {
          configFor: () => gateConfigFor(ctx.entry, [], { hooks: opts.allowHooks === true }),
          ...timing,
        })(ctx);
        return restricted.ok
          ? { ...done, data: { ...done.data!, restricted: true } }
          : { ...restricted, data: undefined };
      };
    },
    onSuccess: (entry, r) => {
      applySetup(entry, r.data);
      if (r.data?.restricted) {
        entry.restricted = true;
        if (opts.allowHooks) entry.gate_hooks = true;
        else delete entry.gate_hooks;
      }
    },
    extraJson: (r) => ({
      changed: r.data?.changed ?? null,
      tillVersion: r.data?.tillVersion ?? null,
      previousVersion: r.data?.previousVersion ?? null,
      node: r.data?.node ?? null,
      nodeVersion: r.data?.nodeVersion ?? null,
      restricted: r.data?.restricted ?? null,
    }),
    extraColumns: [
      [
        'TILL',
        (r) =>
          r.data
            ? r.data.changed
              ? `${r.data.previousVersion ?? 'none'} -> ${r.data.tillVersion}`
              : `${r.data.tillVersion} (unchanged)`
            : '-',
      ],
      ['NODE', (r) => r.data?.nodeVersion ?? '-'],
      ...(key
        ? [
            ['KEY', (r: { data?: { restricted?: boolean } }) => (r.data?.restricted ? 'restricted' : '-')] as [
              string,
              (r: { data?: { restricted?: boolean } }) => string,
            ],
          ]
        : []),
    ],
  });
}

export function registerRemoteCommands(host: TillCommand, cli: Cli): void {
  addFleetOptions(
    host
      .command('setup')
      .description(
        `install this till (${VERSION}) on hosts: checks rsync and Node.js ${MIN_NODE_MAJOR}+, copies the bundle to ~/.till/lib, switches ~/.till/bin/till atomically; status till-ready`,
      )
      .example('till host setup --all', 'install this till on every host (status till-ready)')
      .example('till host setup web1 --restrict', "then restrict till's key there to till's own operations")
      .example(
        'till host setup web1 --restrict --allow-hooks',
        'the same, letting it run release hooks (deployed code then runs there)',
      )
      .option(
        '--restrict',
        "then restrict till's key on the host to `till gate` (only till's own operations; docs/gate.md) and prove host test still passes",
      )
      .option(
        '--allow-hooks',
        'with --restrict: let the key run release hooks (.till/hooks/*): deployed code then runs on the host (gate.json "hooks": true)',
      )
      .option(
        '--force',
        'install even on hosts that already run this version (e.g. a rebuilt bundle); the launcher is switched again',
      ),
  ).action(
    async (patterns: string[], opts: FleetOpts & { restrict?: boolean; force?: boolean; allowHooks?: boolean }) => {
      cli.exitCode = await runSetupCommand(cli, patterns, opts);
    },
  );

  addFleetOptions(
    host
      .command('sync')
      .description(
        "on each set-up host (default: all of them), run the host's own `till sync --local-only`; records last_sync",
      )
      .example('till host sync --all', "run each set-up host's own local sync")
      .example('till host sync --group web --dry-run', 'what each host of group web would pull')
      .option('-n, --dry-run', 'report what each host would pull; change nothing'),
  ).action(async (patterns: string[], opts: FleetOpts & { dryRun?: boolean }) => {
    const paths = cli.paths();
    checkControlPath(paths);
    const inventory = new Inventory(paths);
    const targets = syncTargets(cli, await inventory.read(), patterns, opts);
    if (listHostsIfAsked(cli, targets, opts)) return;
    if (targets.length === 0) {
      if (opts.json)
        cli.json({ ok: true, summary: { total: 0, ok: 0, failed: 0, unreachable: 0, skipped: 0 }, results: [] });
      else cli.err('no host has till set up; nothing to sync (run: till host setup <name>)');
      return;
    }
    const dryRun = opts.dryRun === true;
    cli.exitCode = await runFleetCommand<HostSyncData>({
      cli,
      inventory,
      targets,
      opts,
      job: () =>
        hostSyncJob(paths, {
          dryRun,
          connectTimeout: opts.connectTimeout,
          timeoutMs: opts.timeout && opts.timeout * 1000,
        }),
      record: !dryRun,
      onSuccess: (entry) => void (entry.last_sync = new Date().toISOString()),
      extraJson: (r) => ({ local: r.data?.local ?? null }),
      extraColumns: [['INSTALLATIONS', (r) => localSummary(r.data)]],
      beforeSummary: (report) => {
        const notes = hostInstallationNotes(report.results);
        if (notes.length > 0) cli.out(notes.join('\n'));
      },
    });
  });
}
