import type { Command } from 'commander';
import { ExitCode, UsageError } from '../../core/errors.js';
import { addHost, removeHostFrom, requireHost } from '../../core/host-admin.js';
import { Inventory } from '../../inventory/inventory.js';
import { checkControlPath } from '../../core/paths.js';
import type { HostEntry, HostsFile } from '../../core/state/hosts.js';
import type { TestData } from '../../ops/test.js';
import { formatHostSpec, validateName } from '../../core/validate.js';
import { gateOutdated } from '../../core/versions.js';
import { describeHold } from '../../deploy/layout.js';
import { checkRemoteCommandLength } from '../../ssh/args.js';
import { readPublicKey } from '../../ssh/keys.js';
import { currentKeyInfo, KEY_ROTATE_AFTER_DAYS } from '../../ssh/key-set.js';
import { execLine } from '../../protocol/quote.js';
import type { Cli } from '../context.js';
import type { TillCommand } from '../help.js';
import { addFleetOptions, listHostsIfAsked, runFleetCommand, selectTargets, type FleetOpts } from '../fleet.js';
import { collect } from '../options.js';
import { outdatedGatesNote } from '../output/gates.js';
import { renderTable } from '../output/table.js';
import { formatAge, printable } from '../output/terminal.js';
import { VERSION } from '../version.js';

// What only one command uses is imported in its action: `host list` loads none of it.

/** Group membership of every host, in one pass (the database may hold 10,000 hosts). */
function membership(db: HostsFile): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const [g, members] of Object.entries(db.groups ?? {})) {
    for (const m of members) {
      const list = map.get(m);
      if (list) list.push(g);
      else map.set(m, [g]);
    }
  }
  return map;
}

function hostJson(name: string, entry: HostEntry, groups: string[]) {
  return { name, ...entry, groups: [...groups].sort() };
}

/** `host list` and `host show`'s JSON of a host: its entry, and whether its gate is older than this till. */
function hostViewJson(name: string, entry: HostEntry, groups: string[]) {
  return { ...hostJson(name, entry, groups), gate_outdated: gateOutdated(entry, VERSION) };
}

export function registerHostCommands(host: TillCommand, cli: Cli): void {
  host
    .command('init')
    .description("create till's key, ssh config, host database and schedule under TILL_HOME (idempotent)")
    .example('till host init', "create ~/.till: till's own key, ssh config and an empty host database")
    .example('TILL_HOME=~/fleet-b till host init', 'a second, separate till setup (its own key and database)')
    .option('--json', 'print what was created as JSON')
    .option(
      '--new-key',
      'make a new key when the private key is lost but its .pub is there (the .pub is kept as .pub.lost-<time>; every host must then authorize the new key)',
    )
    .action(async (opts: { json?: boolean; newKey?: boolean }) => {
      const paths = cli.paths();
      const { initTillHome } = await import('../../inventory/till-home.js');
      const result = await initTillHome(paths, { newKey: opts.newKey === true });
      const publicKey = await readPublicKey(paths);
      if (opts.json) {
        cli.json({ home: paths.home, ...result, publicKey });
        return;
      }
      cli.err(result.keyCreated ? `created key ${paths.privateKey}` : `kept existing key ${paths.privateKey}`);
      cli.err(result.databaseCreated ? `created ${paths.hostsDb}` : `kept existing ${paths.hostsDb}`);
      cli.err(`wrote ${paths.sshConfig}`);
      cli.out(publicKey);
      cli.err(
        "\nAuthorize this key on each host (append the line above to the host user's ~/.ssh/authorized_keys),\n" +
          'or let till do it with your own ssh access: till host authorize <name>',
      );
    });

  host
    .command('add')
    .description('add a host as untested (no network contact) and regenerate the ssh config')
    .example('till host add web1 deploy@web1.example.com --group web', 'add a host to group web (no network contact)')
    .example('till host add db1 admin@[2001:db8::5]:2222', 'an IPv6 address with a port')
    .example('till host add app2 deploy@10.0.0.12 --jump bastion', 'reach it through the till host bastion')
    .argument('<name>', 'short name: letters, digits, . _ - (becomes the ssh alias till-<name>)')
    .argument('<user@host[:port]>', 'where to connect; IPv6 in brackets: deploy@[2001:db8::5]:2222')
    .option('--port <port>', 'ssh port (default 22)')
    .option('--tekton-path <path>', 'where installations are deployed on the host', '~/projects/github/Tekton')
    .option('-g, --group <group>', 'add to this group, creating it (repeatable)', collect)
    .option('--jump <host>', 'reach this host through another till host (ProxyJump)')
    .option('--json', 'print the new entry as JSON')
    .action(
      async (
        name: string,
        spec: string,
        opts: { port?: string; tektonPath?: string; group?: string[]; jump?: string; json?: boolean },
      ) => {
        const inventory = new Inventory(cli.paths());
        const groups = opts.group ?? [];
        const entry = await addHost(inventory, {
          name,
          spec,
          port: opts.port,
          tektonPath: opts.tektonPath,
          groups,
          jump: opts.jump,
        });
        if (opts.json) cli.json(hostJson(name, entry, groups));
        else cli.err(`added ${name} (${formatHostSpec(entry)}), status untested; next: till host test ${name}`);
      },
    );

  host
    .command('remove')
    .alias('rm')
    .description('remove a host from the database and its groups, closing its master connection')
    .example('till host remove web1', 'forget a host (nothing on the host changes)')
    .example('till host remove web1 --clean-remote --yes', "also remove till's files from the host")
    .argument('<name>')
    .option('--clean-remote', "first remove till's files (~/.till) from the host")
    .option('-y, --yes', 'do not ask before --clean-remote')
    .option('--json', 'print {"removed": name, "cleanedRemote": bool} as JSON')
    .action(async (name: string, opts: { cleanRemote?: boolean; yes?: boolean; json?: boolean }) => {
      validateName(name);
      const paths = cli.paths();
      const inventory = new Inventory(paths);
      const db = await inventory.read();
      requireHost(db, name);
      const [{ removeAuditHistory }, { removeHealthHistory }, { closeMaster }] = await Promise.all([
        import('../../audit/history.js'),
        import('../../core/state/health.js'),
        import('../../ssh/client.js'),
      ]);
      if (opts.cleanRemote) {
        const [{ confirm }, { runScript }, { cleanRemote }] = await Promise.all([
          import('../prompt.js'),
          import('../../ssh/run-script.js'),
          import('../../protocol/host.js'),
        ]);
        if (cli.stdinIsTTY && !opts.yes && !(await confirm(`Remove ~/.till from ${name}? [y/N] `))) {
          throw new UsageError('not confirmed; nothing removed');
        }
        const { failure } = await runScript(paths, name, cleanRemote, undefined);
        if (failure) {
          cli.err(`error: could not clean ${name}: ${printable(failure.message)}; host kept`);
          cli.exitCode = ExitCode.hostFailed;
          return;
        }
        if (db.hosts[name]!.restricted) {
          cli.err(
            `${name}: removed ~/.till, and with it till gate: till's restricted key line stays in ~/.ssh/authorized_keys but can run nothing now; delete that line with your own access to tidy up`,
          );
        }
      }
      await closeMaster(paths, name);
      await inventory.update((d) => removeHostFrom(d, name));
      await removeAuditHistory(paths, name);
      await removeHealthHistory(paths, name);
      if (opts.json) cli.json({ removed: name, cleanedRemote: opts.cleanRemote === true });
      else cli.err(`removed ${name}`);
    });

  host
    .command('list')
    .alias('ls')
    .description('list hosts: name, address, status, last test and sync, groups')
    .example('till host list', 'every host: address, status, last test and sync, groups')
    .example('till host list --json', 'the same as one JSON document')
    .option('--json', 'print {"hosts": [...]} as JSON (each with "gate_outdated")')
    .note(
      'A restricted host whose till, and so its till gate, is older than this till is named under the table (on stderr), with the command that upgrades it (docs/gate.md).',
    )
    .action(async (opts: { json?: boolean }) => {
      const db = await new Inventory(cli.paths()).read();
      const groups = membership(db);
      const names = Object.keys(db.hosts).sort();
      const key = await currentKeyInfo(cli.paths());
      if (opts.json) {
        cli.json({ hosts: names.map((n) => hostViewJson(n, db.hosts[n]!, groups.get(n) ?? [])), key });
        return;
      }
      if (key) {
        const onOther = names.filter(
          (n) => db.hosts[n]!.key_fingerprint !== undefined && db.hosts[n]!.key_fingerprint !== key.fingerprint,
        );
        const stale = key.ageDays >= KEY_ROTATE_AFTER_DAYS ? '; rotate it: till host rotate-key' : '';
        cli.err(`till key ${key.fingerprint}, created ${key.created.slice(0, 10)} (${key.ageDays} days old)${stale}`);
        if (onOther.length > 0) cli.err(`on the old key: ${onOther.join(', ')} (finish with: till host rotate-key)`);
      }
      if (names.length === 0) {
        cli.err('no hosts yet; add one with: till host add <name> <user@host>');
        return;
      }
      const now = Date.now();
      cli.out(
        renderTable(
          ['NAME', 'ADDRESS', 'STATUS', 'LAST TEST', 'LAST SYNC', 'GROUPS'],
          names.map((n) => {
            const h = db.hosts[n]!;
            return [
              n,
              formatHostSpec(h),
              h.status,
              formatAge(h.last_test, now),
              formatAge(h.last_sync, now),
              (groups.get(n) ?? []).sort().join(','),
            ];
          }),
        ),
      );
      const outdated = names.filter((n) => gateOutdated(db.hosts[n]!, VERSION) === true);
      const note = outdatedGatesNote(
        outdated.map((n) => ({ name: n, tillVersion: db.hosts[n]!.till_version ?? null })),
        VERSION,
        'till host list --json: "gate_outdated": true',
      );
      if (note !== null) cli.err(note);
    });

  host
    .command('show')
    .description('show one host in full')
    .example('till host show web1', 'one host in full')
    .example('till host show web1 --json', 'as JSON')
    .argument('<name>')
    .option('--json', 'print the entry as JSON (with "gate_outdated")')
    .action(async (name: string, opts: { json?: boolean }) => {
      const db = await new Inventory(cli.paths()).read();
      const entry = requireHost(db, name);
      const groups = membership(db).get(name) ?? [];
      if (opts.json) {
        cli.json(hostViewJson(name, entry, groups));
        return;
      }
      const older = gateOutdated(entry, VERSION) === true;
      const rows: Array<[string, string]> = [
        ['name', name],
        ['address', formatHostSpec(entry)],
        ['ssh alias', `till-${name}`],
        [
          'status',
          entry.status + (entry.status === 'unreachable' ? ` (was ${entry.previous_status ?? 'untested'})` : ''),
        ],
        ['added', entry.added],
        ['last test', entry.last_test ?? 'never'],
        ['last sync', entry.last_sync ?? 'never'],
        ['tekton path', entry.tekton_path],
        ['installations', entry.installations.join(', ')],
        ['groups', groups.sort().join(', ')],
        ['till version', (entry.till_version ?? '-') + (older ? ` (older than this till, ${VERSION})` : '')],
        ['failures', String(entry.failures ?? 0)],
        ['last error', entry.last_error ?? '-'],
      ];
      if (entry.jump) rows.push(['jump', entry.jump]);
      // What deploys recorded (the host's own record: shown, not obeyed).
      if (entry.deploy) {
        const d = entry.deploy;
        const by = [
          d.deployer ? `by ${d.deployer}` : '',
          d.commit ? `commit ${d.commit.slice(0, 12)}${d.dirty ? ' (dirty)' : ''}` : '',
          d.message ? JSON.stringify(d.message) : '',
        ].filter((x) => x !== '');
        rows.push(['release', `${d.current ?? 'none'} (${d.at}${by.length > 0 ? `, ${by.join(', ')}` : ''})`]);
      }
      if (entry.manual_lock)
        rows.push(['locked', `by ${describeHold(entry.manual_lock)} (seen ${entry.manual_lock.seen})`]);
      if (entry.restricted)
        rows.push([
          'key',
          `restricted to till gate${entry.gate_hooks ? ', release hooks allowed' : ''}` +
            (older
              ? `; the gate is the host's older till: fixes to it reach the host only when it runs a newer till (upgrade: till host setup ${name})`
              : ''),
        ]);
      const key = await currentKeyInfo(cli.paths());
      const onCurrent = entry.key_fingerprint === undefined || entry.key_fingerprint === key?.fingerprint;
      rows.push([
        'till key',
        onCurrent
          ? `current${key ? ` (${key.ageDays} days old)` : ''}`
          : `old ${entry.key_fingerprint} (finish with: till host rotate-key)`,
      ]);
      // last_error and till_version are what a host said: shown, not obeyed.
      cli.out(rows.map(([k, v]) => `${k.padEnd(14)} ${printable(v)}`).join('\n'));
    });

  host
    .command('pubkey')
    .description("print till's public key (for a host's authorized_keys)")
    .example('till host pubkey', "till's public key, to paste into a host's ~/.ssh/authorized_keys")
    .example('till host pubkey --json', 'the key, its fingerprint and age')
    .option('--json', 'print {"publicKey", "fingerprint", "file", "created", "ageDays"} as JSON')
    .action(async (opts: { json?: boolean }) => {
      const paths = cli.paths();
      const publicKey = await readPublicKey(paths);
      if (!opts.json) {
        cli.out(publicKey);
        return;
      }
      const key = await currentKeyInfo(paths);
      cli.json({
        publicKey,
        fingerprint: key?.fingerprint ?? null,
        file: paths.publicKey,
        created: key?.created ?? null,
        ageDays: key?.ageDays ?? null,
      });
    });

  addFleetOptions(
    host
      .command('test')
      .description(
        "connect to hosts with till's key ('echo TILL_TEST_SUCCESS'); status becomes connected, or till-ready when the remote till answers; a host that has not answered within 20 s (--timeout) is unreachable",
      )
      .example('till host test --all', 'check that till reaches every host')
      .example("till host test 'web-*' --group db", 'hosts matching a glob, and a group')
      .example("till host test 'web-*,&@prod,!web-3' --list-hosts", 'which hosts a pattern selects; contacts nothing'),
  ).action(async (patterns: string[], opts: FleetOpts) => {
    const paths = cli.paths();
    checkControlPath(paths);
    const inventory = new Inventory(paths);
    const targets = selectTargets(cli, await inventory.read(), patterns, opts);
    if (listHostsIfAsked(cli, targets, opts)) return;
    const { applyTest, probeBoundMs, testJob } = await import('../../ops/test.js');
    // --timeout bounds each host's whole test; without it, a default that a frozen host meets.
    const boundMs = opts.timeout !== undefined ? opts.timeout * 1000 : probeBoundMs(opts.connectTimeout);
    cli.exitCode = await runFleetCommand<TestData>({
      cli,
      inventory,
      targets,
      opts,
      hostTimeoutMs: boundMs,
      job: () => testJob(paths, { connectTimeout: opts.connectTimeout, boundMs }),
      onAttempt: (entry) => {
        entry.last_test = new Date().toISOString();
      },
      onSuccess: (entry, r) => applyTest(entry, r.data),
      extraJson: (r) => ({ latencyMs: r.data?.latencyMs ?? null, tillVersion: r.data?.tillVersion ?? null }),
      extraColumns: [
        ['LATENCY', (r) => (r.data ? `${r.data.latencyMs}ms` : '-')],
        ['TILL', (r) => r.data?.tillVersion ?? '-'],
      ],
    });
  });

  addFleetOptions(
    host
      .command('exec')
      .description('run a command on every target in parallel: `till host exec web-* -- uptime`')
      .example('till host exec --all -- uptime', 'run a command on every host')
      .example("till host exec --group web -- 'df -h /; free -m'", 'a shell line, on one group')
      .example('till host exec web1 web2 --json -- systemctl is-active nginx', 'one JSON document with every output')
      .option('--group-output', "print each host's output as one block when it finishes, instead of prefixed lines")
      .option(
        '--stop-remote',
        'Ctrl-C also ends the command on the hosts, not only their ssh (implied by --timeout; two short-lived processes more per host)',
      )
      .option(
        '--live',
        "a new ssh session per host, its output printed as it comes, even where `till watch --keep-warm` holds sessions (whose output comes when the host's command ends)",
      )
      .usage('[targets...] [options] -- <command...>'),
  ).action(
    async (patterns: string[], opts: FleetOpts & { groupOutput?: boolean; stopRemote?: boolean; live?: boolean }) => {
      const noCommand = cli.rest.length === 0 || cli.rest.every((a) => a.trim() === '');
      if (noCommand && !opts.listHosts) {
        // An empty command would make ssh open a login shell instead.
        throw new UsageError('no command given', 'put the command after --: till host exec web-* -- uptime');
      }
      const paths = cli.paths();
      checkControlPath(paths);
      const inventory = new Inventory(paths);
      const targets = selectTargets(cli, await inventory.read(), patterns, opts);
      if (listHostsIfAsked(cli, targets, opts)) return;
      const line = execLine(cli.rest);
      const grouped = opts.groupOutput === true;
      const { execCommand, execJob } = await import('../../ops/exec.js');
      const stopRemote = opts.stopRemote === true || opts.timeout !== undefined;
      checkRemoteCommandLength(stopRemote ? execCommand(line) : line);
      // `watch --keep-warm`'s sessions, when a daemon holds them: not for what needs a session of its own.
      const warm =
        stopRemote || opts.live === true || targets.length === 0
          ? undefined
          : await (await import('../../watch/warm-client.js')).WarmClient.open(paths);
      try {
        cli.exitCode = await runFleetCommand({
          cli,
          inventory,
          targets,
          opts,
          stream: !grouped,
          grouped,
          // "give up on a host after this long": every attempt included, not per ssh call.
          hostTimeoutMs: opts.timeout !== undefined ? opts.timeout * 1000 : undefined,
          job: ({ output }) =>
            execJob(paths, line, {
              connectTimeout: opts.connectTimeout,
              timeoutMs: opts.timeout && opts.timeout * 1000,
              stopRemote,
              onOutput: output,
              warm,
            }),
        });
      } finally {
        warm?.close();
      }
    },
  );

  host
    .command('ssh')
    .description("open a shell on a host through till's config (or run one command after --)")
    .example('till host ssh web1', "a shell on web1 through till's key and config")
    .example('till host ssh web1 -- tail -n 50 /var/log/syslog', 'one command')
    .argument('<name>')
    .usage('<name> [-- <command...>]')
    .allowExcessArguments(true)
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      if (cmd.args.length > 1) {
        throw new UsageError(
          `host ssh takes one host name, got ${cmd.args.length} arguments`,
          `put the remote command after --: till host ssh ${name} -- ${cmd.args.slice(1).join(' ')}`,
        );
      }
      const paths = cli.paths();
      checkControlPath(paths);
      const db = await new Inventory(paths).read();
      requireHost(db, name);
      // A blank command after -- would open the login shell that leaving out -- opens, without a terminal.
      if (cli.rest.length > 0 && cli.rest.every((a) => a.trim() === ''))
        throw new UsageError('the command after -- is empty', `leave out -- for a shell: till host ssh ${name}`);
      const command = cli.rest.length > 0 ? execLine(cli.rest) : undefined;
      if (command !== undefined) checkRemoteCommandLength(command);
      const { sshInteractive } = await import('../../ssh/client.js');
      const result = await sshInteractive(paths, name, command, command === undefined && cli.stdinIsTTY);
      // The remote command's exit code passes through; ssh's own failure (255) is 1.
      cli.exitCode = result.exitCode === null || result.exitCode === 255 ? ExitCode.hostFailed : result.exitCode;
    });
}
