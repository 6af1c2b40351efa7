import { lstatSync, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileErrorText, UsageError } from '../../core/errors.js';
import { formatBytes } from '../../core/units.js';
import { checkControlPath, type TillPaths } from '../../core/paths.js';
import type { RsyncProgress } from '../../deploy/rsync.js';
import { Inventory } from '../../inventory/inventory.js';
import { copyJob, fetchJob, removeEmptyFolder, type TransferData, type TransferOpts } from '../../ops/transfer.js';
import { remoteTransferPath } from '../../rsync/copy.js';
import type { Cli } from '../context.js';
import type { TillCommand } from '../help.js';
import { addFleetOptions, listHostsIfAsked, runFleetCommand, selectTargets, type FleetOpts } from '../fleet.js';
import type { HostJob, HostResult } from '../../core/fanout.js';
import { describeTransfers } from './deploy.js';

/**
 * `till host copy` / `till host fetch`: pscp/prsync and pslurp through till's key and
 * config, one rsync per host in parallel (src/rsync/copy.ts says how paths stay paths).
 *
 * Which words are targets and which are paths: after `--`, every word is a path (the
 * words before it are targets); without `--`, the first word is the target pattern
 * (one word: a name or a glob) unless --group or --all gives the targets, and the rest
 * are paths. The last path is where things go.
 */
export function splitTransferWords(
  words: readonly string[],
  rest: readonly string[],
  opts: FleetOpts,
  usage: string,
): { patterns: string[]; paths: string[] } {
  let patterns: string[];
  let paths: string[];
  if (rest.length > 0) {
    patterns = [...words];
    paths = [...rest];
  } else if ((opts.group ?? []).length > 0 || opts.all === true) {
    patterns = [];
    paths = [...words];
  } else {
    patterns = words.slice(0, 1);
    paths = words.slice(1);
  }
  if (patterns.length === 0 && (opts.group ?? []).length === 0 && opts.all !== true)
    throw new UsageError('no target given', usage);
  // --list-hosts only prints the targets: the paths may be left out.
  if (paths.length < 2 && opts.listHosts !== true)
    throw new UsageError(`give at least one path to copy and where to put it`, usage);
  return { patterns, paths };
}

interface CopyOpts extends FleetOpts {
  delete?: boolean;
}

/** The live line's detail and the jobs' progress hook, on a terminal only. */
function progressDisplay(cli: Cli, json: boolean) {
  const transfers = new Map<string, RsyncProgress>();
  let refresh: () => void = () => undefined;
  if (!cli.stderrIsTTY || json) return { detail: undefined, onProgress: undefined, bind: () => undefined };
  return {
    detail: () => describeTransfers(transfers),
    onProgress: (host: string, p: RsyncProgress | undefined) => {
      if (p) transfers.set(host, p);
      else transfers.delete(host);
      refresh();
    },
    bind: (r: () => void) => {
      refresh = r;
    },
  };
}

/**
 * Resolves the targets, runs `before` (nothing has been contacted yet), then one transfer
 * per host through the engine with the live line's progress; returns the exit code.
 */
async function runTransfer(
  cli: Cli,
  patterns: string[],
  opts: FleetOpts,
  fetching: boolean,
  job: (paths: TillPaths, common: TransferOpts) => HostJob<TransferData>,
  before: () => void = () => undefined,
): Promise<number> {
  const paths = cli.paths();
  checkControlPath(paths);
  const inventory = new Inventory(paths);
  const targets = selectTargets(cli, await inventory.read(), patterns, opts);
  before();
  const progress = progressDisplay(cli, opts.json === true);
  const columns: Array<[string, (r: HostResult<TransferData>) => string]> = [
    ['FILES', (r) => (r.data ? String(r.data.files) : '-')],
    ['DATA', (r) => (r.data ? formatBytes(r.data.bytes) : '-')],
  ];
  if (fetching) columns.push(['FOLDER', (r) => r.data?.dir ?? '-']);
  return runFleetCommand<TransferData>({
    cli,
    inventory,
    targets,
    opts,
    job: ({ refresh }) => {
      progress.bind(refresh);
      return job(paths, {
        connectTimeout: opts.connectTimeout,
        timeoutMs: opts.timeout && opts.timeout * 1000,
        ...(progress.onProgress ? { onProgress: progress.onProgress } : {}),
      });
    },
    ...(progress.detail ? { detail: progress.detail } : {}),
    extraJson: (r) => ({
      files: r.data?.files ?? null,
      bytes: r.data?.bytes ?? null,
      ...(fetching ? { dir: r.data?.dir ?? null } : {}),
    }),
    extraColumns: columns,
  });
}

/** `--list-hosts`: the targets, printed before any path is looked at; nothing is contacted. */
async function listTargets(cli: Cli, patterns: string[], opts: FleetOpts): Promise<void> {
  const paths = cli.paths();
  const targets = selectTargets(cli, await new Inventory(paths).read(), patterns, opts);
  listHostsIfAsked(cli, targets, opts);
}

export function registerTransferCommands(host: TillCommand, cli: Cli): void {
  const copyUsage = 'till host copy <target> <local-path>… <remote-dir>   (or: till host copy [targets] -- <paths…>)';
  const copy = addFleetOptions(
    host
      .command('copy')
      .description(
        'copy local files and folders into a folder on every target, in parallel (rsync, compressed; like pscp/prsync)',
      )
      .note(
        "Without --, the first word is the target (a name or glob) unless --group or --all gives them; after --, every word is a path (a name with a leading dash too). The last path is the folder on the host (made if missing; ~/ is the home). Remote paths reach the host inside rsync's protocol: no shell there reads them. A restricted key refuses copy.",
      )
      .usage('[targets...] [options] [--] <local-path...> <remote-dir>')
      .option('--delete', 'also delete what the remote folder holds that the copied folders do not (rsync --delete)')
      .example("till host copy 'web-*' ./dist /srv/app", 'dist/ into /srv/app/dist on every web host')
      .example('till host copy --group db -- ./conf/ ~/conf', "conf's contents into ~/conf on the db group")
      .example(
        "till host copy web1 web2 -- '-odd name.txt' /tmp",
        'after --, every word is a path (a leading dash too)',
      ),
  );
  copy.action(async (words: string[], opts: CopyOpts) => {
    const { patterns, paths: all } = splitTransferWords(words, cli.rest, opts, copyUsage);
    if (opts.listHosts === true) return listTargets(cli, patterns, opts);
    const remoteDir = all[all.length - 1]!;
    remoteTransferPath(remoteDir, 'the remote folder');
    const sources = all.slice(0, -1);
    for (const s of sources) {
      try {
        lstatSync(s);
      } catch {
        throw new UsageError(`no such local file or folder: ${JSON.stringify(s)}`);
      }
    }
    cli.exitCode = await runTransfer(cli, patterns, opts, false, (paths, common) =>
      copyJob(paths, sources, remoteDir, { ...common, delete: opts.delete === true }),
    );
  });

  const fetchUsage =
    'till host fetch <target> <remote-path>… <local-dir>   (or: till host fetch [targets] -- <paths…>)';
  const fetch = addFleetOptions(
    host
      .command('fetch')
      .description(
        'copy files and folders from every target into <local-dir>/<host>/, one folder per host, in parallel (rsync; like pslurp)',
      )
      .note(
        "Without --, the first word is the target (a name or glob) unless --group or --all gives them; after --, every word is a path (a name with a leading dash too). The last path is the local folder. Remote paths reach the host inside rsync's protocol: no shell there reads them (its rsync expands * ? [ ] itself). Symlinks that point out of what is fetched are skipped. A restricted key refuses fetch.",
      )
      .usage('[targets...] [options] [--] <remote-path...> <local-dir>')
      .example('till host fetch --all /var/log/syslog ./logs', "every host's syslog as ./logs/<host>/syslog")
      .example("till host fetch 'web-*' '~/app/logs/*.log' ./out", "the hosts' rsync expands the glob, no shell"),
  );
  fetch.action(async (words: string[], opts: FleetOpts) => {
    const { patterns, paths: all } = splitTransferWords(words, cli.rest, opts, fetchUsage);
    if (opts.listHosts === true) return listTargets(cli, patterns, opts);
    const localDir = resolve(all[all.length - 1]!);
    const remotePaths = all.slice(0, -1);
    for (const p of remotePaths) remoteTransferPath(p, 'a remote path');
    let made: string | undefined;
    cli.exitCode = await runTransfer(
      cli,
      patterns,
      opts,
      true,
      (paths, common) => fetchJob(paths, remotePaths, localDir, common),
      () => {
        try {
          made = mkdirSync(localDir, { recursive: true });
        } catch (err) {
          throw new UsageError(`cannot make the local folder ${localDir}: ${fileErrorText(err)}`);
        }
        if (!statSync(localDir).isDirectory()) throw new UsageError(`${localDir} is not a folder`);
      },
    );
    // The folder this run made, when no host put anything in it, goes as the hosts' did.
    if (made !== undefined)
      for (let d = localDir; ; d = dirname(d)) {
        await removeEmptyFolder(d);
        if (d === made || d === dirname(d)) break;
      }
  });
}
