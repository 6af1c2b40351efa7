/**
 * The Prometheus text exposition format (version 0.0.4), rendered from a list of
 * metric families. Pure: features add their own families (health, sync, audit…) and
 * the renderer knows nothing of where the numbers come from.
 * https://prometheus.io/docs/instrumenting/exposition_formats/
 */
export type MetricType = 'gauge' | 'counter' | 'untyped';

export interface Sample {
  labels?: Record<string, string>;
  value: number;
}

export interface MetricFamily {
  name: string;
  help: string;
  type: MetricType;
  samples: Sample[];
}

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const METRIC_NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** HELP text escapes backslash and newline. */
export function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** Label values escape backslash, double quote and newline. */
export function escapeLabelValue(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function renderLabels(labels: Record<string, string> | undefined, family: string): string {
  const entries = Object.entries(labels ?? {});
  if (entries.length === 0) return '';
  for (const [k] of entries) {
    // A bug in a family builder, never user input: names are fixed in code.
    if (!LABEL_NAME_RE.test(k) || k.startsWith('__'))
      throw new Error(`invalid label name ${JSON.stringify(k)} in ${family}`);
  }
  return `{${entries.map(([k, v]) => `${k}="${escapeLabelValue(String(v))}"`).join(',')}}`;
}

/**
 * Renders the families in order, each with its HELP and TYPE lines. A family with no
 * samples is left out. Two families with the same name are a bug (the format forbids it).
 */
export function renderPrometheus(families: readonly MetricFamily[]): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const f of families) {
    if (!METRIC_NAME_RE.test(f.name)) throw new Error(`invalid metric name ${JSON.stringify(f.name)}`);
    if (seen.has(f.name)) throw new Error(`metric family ${f.name} given twice`);
    seen.add(f.name);
    if (f.samples.length === 0) continue;
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`);
    out.push(`# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      // Values come from validated files; one that is not a number (a bug, a seal made with a
      // stolen key) is left out rather than written as text that could start a line of its own.
      if (typeof s.value !== 'number') continue;
      out.push(`${f.name}${renderLabels(s.labels, f.name)} ${formatValue(s.value)}`);
    }
  }
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}

/** The same families as a JSON-friendly value (NaN and infinities become null). */
export function familiesJson(families: readonly MetricFamily[]): unknown {
  return {
    metrics: families.map((f) => ({
      name: f.name,
      help: f.help,
      type: f.type,
      samples: f.samples.map((s) => ({ labels: s.labels ?? {}, value: Number.isFinite(s.value) ? s.value : null })),
    })),
  };
}
