import { Option } from 'commander';
import {
  countBySeverity,
  SEVERITIES,
  severityRank,
  uniqueKeys,
  worstSeverity,
  type HostAudit,
  type Severity,
} from '../../audit/analyze.js';
import { formatOptions } from '../../audit/authorized-keys.js';
import { ExitCode } from '../../core/errors.js';
import type { HostResult } from '../../core/fanout.js';
import { Inventory } from '../../inventory/inventory.js';
import { checkControlPath } from '../../core/paths.js';
import { AUDIT_HISTORY_LIMIT } from '../../audit/history.js';
import { auditJob, tillFingerprints } from '../../ops/audit.js';
import type { Cli } from '../context.js';
import { addFleetOptions, listHostsIfAsked, runFleetCommand, selectTargets, type FleetOpts } from '../fleet.js';
import type { TillCommand } from '../help.js';
import { renderTable } from '../output/table.js';
import { Painted, printable } from '../output/terminal.js';

type AuditOpts = FleetOpts & { failOn: Severity; quiet?: boolean };

function tillKeyText(a: HostAudit): string {
  if (!a.tillKey.present) return 'absent';
  const slots = [...new Set(a.keys.flatMap((k) => (k.till ? [k.till] : [])))];
  const which =
    a.tillKey.which === 'both'
      ? `${slots.join(' and ')} (rotation in progress)`
      : a.tillKey.which === 'old'
        ? 'old key only (not rotated yet)'
        : a.tillKey.which === 'next'
          ? 'next key only (rotation not switched yet)'
          : 'current';
  return `present (${which}), ${a.tillKey.restricted ? 'restricted' : 'unrestricted'}`;
}

function countsText(a: HostAudit): string {
  const counts = countBySeverity(a.findings);
  const parts = [...SEVERITIES]
    .reverse()
    .filter((s) => counts[s] > 0)
    .map((s) => `${counts[s]} ${s}`);
  return parts.length === 0 ? 'none' : parts.join(', ');
}

function renderHost(cli: Cli, host: string, a: HostAudit): string {
  const c = cli.stdoutColor;
  const paint = (s: Severity, text: string) =>
    s === 'high' ? c.red(text) : s === 'medium' ? c.yellow(text) : s === 'low' ? c.cyan(text) : c.dim(text);
  const drift = a.drift.baseline
    ? 'first audit: baseline recorded'
    : `${a.drift.added.length} added, ${a.drift.removed.length} removed since the last audit`;
  const out = [
    // The user and owner names are the host's words: shown, never obeyed (the tables escape their cells).
    `${c.bold(`== ${host}`)}  user ${printable(a.user)} (uid ${a.uid})`,
    `till key: ${tillKeyText(a)}`,
    `drift: ${drift}`,
    `modes: ${a.modes.map((m) => `${m.path === 'home' ? '~' : m.path === 'ssh' ? '~/.ssh' : `~/.ssh/${m.path}`} ${m.mode === null ? '-' : `${m.mode} ${printable(m.owner ?? '')}`}`).join(', ')}`,
  ].join('\n');
  const keys =
    a.keys.length === 0
      ? 'no keys\n'
      : renderTable(
          ['FILE:LINE', 'TYPE', 'BITS', 'FINGERPRINT', 'COMMENT', 'OPTIONS'],
          a.keys.map((k) => [
            `${k.file}:${k.line}`,
            k.label,
            k.bits,
            k.fingerprint,
            k.comment + (k.till ? ` [till ${k.till}]` : ''),
            formatOptions(k.options),
          ]),
        );
  const findings =
    a.findings.length === 0
      ? 'no findings\n'
      : renderTable(
          ['SEVERITY', 'CODE', 'FINDING'],
          a.findings.map((f) => [new Painted(paint(f.severity, f.severity.toUpperCase())), f.code, f.message]),
        );
  return `${out}\n\n${keys}\n${findings}\n`;
}

function auditJson(a: HostAudit | undefined) {
  if (!a) return { audit: null };
  return {
    audit: {
      at: a.at,
      user: a.user,
      uid: a.uid,
      keys: a.keys,
      tillKey: a.tillKey,
      findings: a.findings,
      counts: countBySeverity(a.findings),
      worst: worstSeverity(a.findings),
      drift: a.drift,
      files: a.files,
      modes: a.modes,
    },
  };
}

export function registerAuditCommand(host: TillCommand, cli: Cli): void {
  addFleetOptions(
    host
      .command('audit')
      .description(
        "read (never change) each host's ~/.ssh/authorized_keys{,2} in one round trip: till's key, every other key (type, bits, SHA256 fingerprint, options), weak keys, duplicates, unparseable lines, unsafe modes, and keys added or removed since the host's last audit",
      )
      .example('till host audit --all', "read every host's authorized_keys: till's key, weak keys, changes")
      .example(
        'till host audit --all --quiet --fail-on medium',
        'for cron: only findings of medium or above; exit 1 on one',
      )
      .addOption(
        new Option('--fail-on <severity>', 'exit 1 when a host has a finding at or above this severity')
          .choices([...SEVERITIES])
          .default('high'),
      )
      .option(
        '-q, --quiet',
        'for periodic runs: print only findings at or above --fail-on and failed hosts, one line each',
      )
      .note(
        'Severities: high = weak key (DSA, RSA < 2048), unknown key added since the last audit, unsafe modes or owner; medium = unparseable line (including option values sshd refuses); low = duplicate key, key removed, expiry-time passed; info = till key absent/added. KEYS counts distinct keys (as till_host_authorized_keys does).',
      )
      .note(
        `History: $TILL_HOME/state/audit/<host>.json keeps the last ${AUDIT_HISTORY_LIMIT} audits per host; the first audit is the baseline.`,
      )
      .note('Exit: 0 clean, 1 a host failed or has a finding at or above --fail-on, 2 usage.'),
  ).action(async (patterns: string[], opts: AuditOpts) => {
    const paths = cli.paths();
    checkControlPath(paths);
    const inventory = new Inventory(paths);
    const targets = selectTargets(cli, await inventory.read(), patterns, opts);
    if (listHostsIfAsked(cli, targets, opts)) return;
    const till = await tillFingerprints(paths);
    const failOn = severityRank(opts.failOn);
    const quiet = opts.quiet === true;
    const audits = new Map<string, HostAudit>();
    const job = auditJob(paths, till, {
      connectTimeout: opts.connectTimeout,
      timeoutMs: opts.timeout && opts.timeout * 1000,
    });
    const code = await runFleetCommand<HostAudit>({
      cli,
      inventory,
      targets,
      opts,
      quiet,
      job: () => async (ctx) => {
        const outcome = await job(ctx);
        if (outcome.ok && outcome.data) audits.set(ctx.name, outcome.data);
        return outcome;
      },
      extraJson: (r: HostResult<HostAudit>) => auditJson(r.data),
      extraColumns: [
        // Distinct keys, as till_host_authorized_keys counts them (a duplicate line is one key).
        ['KEYS', (r) => (r.data ? String(uniqueKeys(r.data.keys).length) : '-')],
        ['FINDINGS', (r) => (r.data ? countsText(r.data) : '-')],
      ],
      beforeSummary: (report) => {
        for (const r of report.results) {
          if (quiet) {
            if (!r.ok) cli.out(`${r.host}: ${r.status}: ${printable(r.error ?? '')}`);
            for (const f of r.data?.findings ?? [])
              if (severityRank(f.severity) >= failOn)
                cli.out(`${r.host}: ${f.severity} ${f.code}: ${printable(f.message)}`);
          } else if (r.data) {
            cli.out(renderHost(cli, r.host, r.data));
          }
        }
      },
    });
    const flagged = [...audits.values()].some((a) => a.findings.some((f) => severityRank(f.severity) >= failOn));
    cli.exitCode = code === ExitCode.ok && flagged ? ExitCode.hostFailed : code;
  });
}
