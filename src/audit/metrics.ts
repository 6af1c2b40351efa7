import type { MetricFamily } from '../metrics/prometheus.js';
import { countBySeverity, SEVERITIES, uniqueKeys, type Finding, type HostAudit } from './analyze.js';

/**
 * From each host's newest stored audit: the number of distinct authorized keys, and the
 * findings per severity (every severity present, 0 included, so alerts can use `> 0`).
 */
export function auditMetricFamilies(
  latest: ReadonlyArray<{ host: string; audit: Pick<HostAudit, 'keys' | 'findings'> }>,
): MetricFamily[] {
  const sorted = [...latest].sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
  return [
    {
      name: 'till_host_authorized_keys',
      help: "Distinct keys in the host user's ~/.ssh/authorized_keys and authorized_keys2 at the last audit.",
      type: 'gauge',
      samples: sorted.map(({ host, audit }) => ({ labels: { host }, value: uniqueKeys(audit.keys).length })),
    },
    {
      name: 'till_host_audit_findings',
      help: 'Findings of the last audit of the host, by severity.',
      type: 'gauge',
      samples: sorted.flatMap(({ host, audit }) => {
        const counts = countBySeverity(audit.findings as Finding[]);
        return SEVERITIES.map((severity) => ({ labels: { host, severity }, value: counts[severity] }));
      }),
    },
  ];
}
