import { checkControlPath } from '../../core/paths.js';
import { DEFAULT_SHARED } from '../../deploy/layout.js';
import { resolveSource } from '../../deploy/source.js';
import { Inventory } from '../../inventory/inventory.js';
import { diffJob, describeDrift, type DiffData } from '../../ops/diff.js';
import type { Cli } from '../context.js';
import type { TillCommand } from '../help.js';
import { addFleetOptions, listHostsIfAsked, runFleetCommand, selectTargets, type FleetOpts } from '../fleet.js';
import { collect, installationOption, sourceOption } from '../options.js';
import { printable } from '../output/terminal.js';
import { sharedPaths } from './deploy.js';

interface DiffOpts extends FleetOpts {
  source?: string;
  installation?: string;
  shared?: string[];
}

/** The lines under a host that differs: `  changed  path`, one per path, as a host wrote them (escaped). */
function driftLines(d: DiffData): string[] {
  const lines: string[] = [];
  for (const [what, list] of [
    ['changed', d.changed],
    ['added', d.added],
    ['removed', d.removed],
  ] as const)
    for (const p of list) lines.push(`  ${what.padEnd(8)} ${printable(p)}`);
  return lines;
}

export function registerDiffCommand(host: TillCommand, cli: Cli): void {
  const cmd = addFleetOptions(
    host
      .command('diff')
      .description(
        "compare each host's live release with the source, by checksum and with deploy's excludes, changing nothing: files changed, added and removed on the host; exit 1 when a host differs",
      )
      .option('--source <dir>', 'the local directory to compare with', sourceOption)
      .option(
        '--installation <name>',
        'an installation from the local registry (default: the default installation)',
        installationOption,
      )
      .option(
        '--shared <path>',
        `a persistent path the deploy kept on the host besides ${DEFAULT_SHARED.join(' and ')}: not compared (repeatable)`,
        collect,
      )
      .example('till host diff --all --source ./app', 'which hosts drifted from ./app since the deploy')
      .example(
        'till host diff web1 --json',
        "web1's changed[], added[] and removed[] against the default installation",
      ),
  );
  cmd.action(async (patterns: string[], opts: DiffOpts) => {
    const paths = cli.paths();
    checkControlPath(paths);
    const inventory = new Inventory(paths);
    const targets = selectTargets(cli, await inventory.read(), patterns, opts);
    if (listHostsIfAsked(cli, targets, opts)) return;
    const source = await resolveSource(paths, { source: opts.source, installation: opts.installation });
    const shared = sharedPaths(opts.shared ?? []);
    cli.exitCode = await runFleetCommand<DiffData>({
      cli,
      inventory,
      targets,
      opts,
      // Read-only: the database is not touched either.
      record: false,
      job: () =>
        diffJob(paths, source, shared, {
          connectTimeout: opts.connectTimeout,
          timeoutMs: opts.timeout && opts.timeout * 1000,
        }),
      extraJson: (r) => ({
        differs: r.data?.differs ?? null,
        changed: r.data?.changed ?? [],
        added: r.data?.added ?? [],
        removed: r.data?.removed ?? [],
        release: r.data?.release ?? null,
        recorded: r.data?.recorded ?? null,
        liveIsRecorded: r.data?.liveIsRecorded ?? null,
        compared: r.data?.compared ?? null,
      }),
      extraColumns: [
        ['CHANGED', (r) => (r.data ? String(r.data.changed.length) : '-')],
        ['ADDED', (r) => (r.data ? String(r.data.added.length) : '-')],
        ['REMOVED', (r) => (r.data ? String(r.data.removed.length) : '-')],
        ['RELEASE', (r) => (r.data ? (r.data.release ?? 'plain folder') : '-')],
      ],
      beforeSummary: (report) => {
        for (const r of report.results) {
          if (!r.data?.differs) continue;
          cli.out(
            `${cli.stdoutColor.bold(`== ${r.host}`)} (${r.data.release ?? r.data.compared}): ${describeDrift(r.data)}`,
          );
          const lines = driftLines(r.data);
          if (lines.length > 0) cli.out(lines.join('\n'));
        }
      },
    });
  });
}
