import type { TillPaths } from '../core/paths.js';
import { readLatestAudits } from '../core/state/audit.js';
import { auditMetricFamilies } from '../audit/metrics.js';
import { fleetMetricFamilies, loadFleetState } from './fleet.js';
import type { MetricFamily } from './prometheus.js';

/** Every metric family till exposes, read from local state (no network): fleet health, schedule, audits. */
export async function collectMetricFamilies(paths: TillPaths): Promise<MetricFamily[]> {
  const [state, audits] = await Promise.all([loadFleetState(paths), readLatestAudits(paths)]);
  return [...fleetMetricFamilies(state), ...auditMetricFamilies(audits)];
}
