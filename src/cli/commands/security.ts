import { requireHost } from '../../core/host-admin.js';
import { ExitCode, FailedError, UsageError } from '../../core/errors.js';
import type { HostResult, Target } from '../../core/fanout.js';
import { Inventory } from '../../inventory/inventory.js';
import { checkControlPath } from '../../core/paths.js';
import { resolveTargets } from '../../core/targets.js';
import { validateName } from '../../core/validate.js';
import { AuthorizeFailed, authorizeHost } from '../../ops/authorize.js';
import { forgetHostKey, trustHostKey } from '../../ops/host-keys.js';
import { finishRotation, planRotation, recordUnknownKeys, rotateJob, type RotateData } from '../../ops/rotate-key.js';
import { normalizeFingerprint } from '../../ssh/known-hosts.js';
import type { Cli } from '../context.js';
import type { TillCommand } from '../help.js';
import { confirm } from '../prompt.js';
import { runSetupCommand } from './remote.js';
import { addFleetOptions, listHostsIfAsked, runFleetCommand, selectTargets, type FleetOpts } from '../fleet.js';
import { intOption } from '../options.js';
import { plural } from '../../core/format.js';
import { printable } from '../output/terminal.js';

/** Which key a host is on after a rotate-key attempt. */
function keyOf(r: HostResult<RotateData>): 'new' | 'old' {
  return r.ok || r.data?.onNewKey ? 'new' : 'old';
}

/** authorize, rotate-key, forget, trust: till's key and the hosts' keys. */
export function registerSecurityCommands(host: TillCommand, cli: Cli): void {
  host
    .command('authorize')
    .description(
      "install till's public key on a host with YOUR ssh access (your keys, agent, ~/.ssh/config), then prove a login with till's key",
    )
    .example('till host authorize web1', "install till's key on web1 with your own ssh access")
    .example('till host authorize web1 --restrict', 'and restrict it to till gate at once')
    .argument('<name>')
    .option('--connect-timeout <seconds>', 'ssh ConnectTimeout (default 10)', intOption('--connect-timeout', 1, 600))
    .option(
      '--restrict',
      'then install till there (as host setup does) and restrict its key to `till gate` (docs/gate.md)',
    )
    .option('--json', 'print {host, added, connected, fingerprint, error} as JSON')
    .action(async (name: string, opts: { connectTimeout?: number; json?: boolean; restrict?: boolean }) => {
      validateName(name);
      const paths = cli.paths();
      checkControlPath(paths);
      const inventory = new Inventory(paths);
      let result;
      try {
        result = await authorizeHost(inventory, name, { batch: !cli.stdinIsTTY, connectTimeout: opts.connectTimeout });
      } catch (err) {
        if (!(err instanceof AuthorizeFailed)) throw err;
        if (opts.json) cli.json({ host: name, added: false, connected: false, fingerprint: null, error: err.message });
        throw new FailedError(opts.json ? '' : err.message);
      }
      const t = result.test;
      if (opts.json) {
        cli.json({ host: name, added: result.added, connected: t.ok, fingerprint: result.fingerprint, error: t.error });
      } else {
        cli.err(`${name}: till's key ${result.added ? 'added to' : 'was already in'} ~/.ssh/authorized_keys`);
        if (t.ok)
          cli.err(
            `${name}: login with till's key works (${t.data?.latencyMs ?? '?'}ms); status ${t.data?.tillVersion ? 'till-ready' : 'connected'}`,
          );
        else cli.err(`${name}: but the login with till's key failed: ${printable(t.error ?? '')}`);
      }
      if (!t.ok) {
        cli.exitCode = ExitCode.hostFailed;
        return;
      }
      // SPEC §11: on a host without till, --restrict installs it first so the gate exists.
      if (opts.restrict)
        cli.exitCode = await runSetupCommand(cli, [name], {
          restrict: true,
          connectTimeout: opts.connectTimeout,
          json: false,
        });
    });

  addFleetOptions(
    host
      .command('rotate-key')
      .description(
        "replace till's key pair: on every host add the new key, prove a login with it, remove the old one; then switch locally. Safe to re-run",
      )
      .example('till host rotate-key --all', 'a new key for till, moved onto every host')
      .example('till host rotate-key --all --yes --json', 'without asking, as JSON')
      .option('-y, --yes', 'do not ask for confirmation on a terminal'),
  ).action(async (patterns: string[], opts: FleetOpts & { yes?: boolean }) => {
    const paths = cli.paths();
    checkControlPath(paths);
    const inventory = new Inventory(paths);
    const all = patterns.length === 0 && (opts.group ?? []).length === 0;
    // No patterns or groups: the whole fleet (--all or not), an empty one included.
    const selection = all ? { ...opts, all: false } : opts;
    const db0 = await inventory.read();
    // Validate targets before any key is made.
    const planned = selectTargets(cli, db0, patterns, selection, { whenNone: 'all' });
    if (listHostsIfAsked(cli, planned, opts)) return;
    if (cli.stdinIsTTY && !opts.yes) {
      const n = Object.keys(db0.hosts).length;
      if (
        !(await confirm(
          `Rotate till's key${all ? ` on all ${plural(n, 'host')}` : ''}? Hosts that cannot be reached keep the old key. [y/N] `,
        ))
      ) {
        throw new UsageError('not confirmed; nothing changed');
      }
    }
    const plan = await planRotation(paths);
    cli.err(
      plan.switchPending
        ? `${plan.created ? 'new' : 'resuming with the new'} key ${plan.target.key.fingerprint} (${plan.target.file}); old key ${plan.previous.key.fingerprint}`
        : `finishing hosts still on the old key ${plan.previous.key.fingerprint}; current key ${plan.target.key.fingerprint}`,
    );
    await recordUnknownKeys(inventory, plan.switchPending ? plan.previous : plan.target);
    const db = await inventory.read();
    const targets: Target[] =
      Object.keys(db.hosts).length === 0
        ? []
        : resolveTargets(
            db,
            { patterns, groups: selection.group ?? [], all: selection.all === true, limit: opts.limit },
            { whenNone: 'all' },
          ).targets;
    let code: number = ExitCode.ok;
    if (targets.length > 0) {
      code = await runFleetCommand<RotateData>({
        cli,
        inventory,
        targets,
        opts,
        job: () =>
          rotateJob(inventory, plan, {
            connectTimeout: opts.connectTimeout,
            timeoutMs: opts.timeout && opts.timeout * 1000,
          }),
        extraJson: (r) => ({
          key: keyOf(r),
          appended: r.data?.appended ?? null,
          restricted: r.data?.restricted ?? null,
          otherRestrictedKeys: r.data?.otherRestricted ?? null,
        }),
        extraColumns: [['KEY', (r) => `${keyOf(r)}${r.data?.restricted ? ' (restricted)' : ''}`]],
        // What the key edits found out about the host (its restricted flag may have been stale).
        onAttempt: (entry, r) => {
          if (r.data?.restricted) entry.restricted = true;
          else if (r.data && entry.restricted) delete entry.restricted;
        },
        beforeSummary: (report) => {
          for (const r of report.results) {
            const n = r.data?.otherRestricted ?? 0;
            if (n > 0)
              cli.err(
                `${r.host}: ${plural(n, 'other restricted key')} in ~/.ssh/authorized_keys (till gate lines of keys that are not this till's); if you did not add ${n === 1 ? 'it' : 'them'}, see: till host audit ${r.host}`,
              );
          }
        },
      });
    }
    if (code === ExitCode.interrupted) {
      cli.err('interrupted before the local switch; run till host rotate-key again to finish');
      cli.exitCode = code;
      return;
    }
    const done = await finishRotation(inventory, plan);
    if (done.switched) cli.err(`switched: till's key is now ${done.current.key.fingerprint} (${paths.privateKey})`);
    if (done.leftOnOld.length > 0) {
      cli.err(
        `still on the old key (kept as ${paths.privateKey}.old): ${done.leftOnOld.join(', ')}; run till host rotate-key again when they are reachable, or once what their error says is done`,
      );
      code = ExitCode.hostFailed;
    } else if (done.oldKeyDeleted) {
      cli.err('every host is on the new key; the old key was deleted');
    }
    cli.exitCode = code;
  });

  host
    .command('forget')
    .description(
      "remove a host's key from till's known_hosts (after a reinstall changed it) and close its master connection",
    )
    .example('till host forget web1', "forget web1's host key after a reinstall you have checked")
    .argument('<name>')
    .option('-y, --yes', 'do not ask for confirmation on a terminal')
    .action(async (name: string, opts: { yes?: boolean }) => {
      validateName(name);
      const paths = cli.paths();
      const db = await new Inventory(paths).read();
      const entry = requireHost(db, name);
      if (
        cli.stdinIsTTY &&
        !opts.yes &&
        !(await confirm(
          `Forget the host key of ${name}? The next connection trusts whatever key it is offered. [y/N] `,
        ))
      ) {
        throw new UsageError('not confirmed; nothing changed');
      }
      const { removed } = await forgetHostKey(paths, name, entry);
      cli.err(
        removed > 0
          ? `forgot ${plural(removed, 'key')} of ${name}; the next connection records the key it is offered (or pin one first: till host trust ${name} --fingerprint SHA256:…)`
          : `till's known_hosts had no key for ${name}`,
      );
    });

  host
    .command('trust')
    .description(
      "pin a host's key before first contact: fetch its keys with ssh-keyscan and record the one with this fingerprint",
    )
    .example(
      'till host trust web1 --fingerprint SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s',
      'pin the host key before the first connection',
    )
    .argument('<name>')
    .requiredOption(
      '--fingerprint <SHA256:…>',
      'the host key fingerprint, as `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` prints it on the host',
    )
    .option('--json', 'print {host, pinned: {type, fingerprint}, offered: [...]} as JSON')
    .action(async (name: string, opts: { fingerprint: string; json?: boolean }) => {
      validateName(name);
      const fingerprint = normalizeFingerprint(opts.fingerprint);
      if (fingerprint === undefined)
        throw new UsageError(
          `invalid --fingerprint ${JSON.stringify(opts.fingerprint)}`,
          'expected SHA256: followed by 43 base64 characters',
        );
      const paths = cli.paths();
      const db = await new Inventory(paths).read();
      const entry = requireHost(db, name);
      const { pinned, offered } = await trustHostKey(paths, name, entry, fingerprint);
      if (opts.json)
        cli.json({
          host: name,
          pinned: { type: pinned.type, fingerprint: pinned.fingerprint },
          offered: offered.map((k) => ({ type: k.type, fingerprint: k.fingerprint })),
        });
      else cli.err(`pinned ${pinned.type} ${pinned.fingerprint} for ${name} in ${paths.knownHosts}`);
    });
}
