import type { TillPaths } from '../core/paths.js';
import { readLatestAudits } from '../audit/history.js';
import { auditMetricFamilies } from '../audit/metrics.js';
import { fleetMetricFamilies, loadFleetState } from './fleet.js';
import type { MetricFamily } from './prometheus.js';

/**
 * Every metric family till exposes, read from local state (no network): fleet health,
 * schedule, audits (of hosts still in the database only). `onWarning` hears about a
 * state file that was skipped.
 */
export async function collectMetricFamilies(
  paths: TillPaths,
  onWarning?: (message: string) => void,
): Promise<MetricFamily[]> {
  const [state, audits] = await Promise.all([loadFleetState(paths), readLatestAudits(paths, onWarning)]);
  return [
    ...fleetMetricFamilies(state),
    ...auditMetricFamilies(audits.filter((a) => Object.hasOwn(state.db.hosts, a.host))),
  ];
}
