import type { Markers } from './wire.js';

/**
 * Release hooks: executable files in a release's `.till/hooks/` that deploy-switch-v5,
 * deploy-revert and rollback-v4 run on the host (docs/deploy.md, "Hooks"). What those
 * scripts report of a hook, in the marker dialect of wire.ts:
 *
 *   TILL_HOOK <name> <outcome> <seconds>   outcome: ok | <exit code> | timeout | refused | skipped
 *   TILL_HOOK_WHY <name> <why>              why a hook was refused (a symlink, not executable…)
 *   TILL_HOOK_CUT <name>                    its output was longer than HOOK_OUTPUT_MAX (the rest is not kept)
 *   TILL_HOOK_OUT <name> <line>             its kept output, line by line
 *
 * The host keeps the first HOOK_OUTPUT_MAX bytes of each run in
 * `<tekton_path>.till/hook-output/<release>.<name>`, and each outcome in the
 * releases.log line of the event it belongs to (`pre-switch=ok post-switch=1`).
 */
export const HOOK_NAMES = ['pre-switch', 'post-switch', 'post-rollback'] as const;
export type HookName = (typeof HOOK_NAMES)[number];

/** Bytes of a hook's output a host keeps (and reports). */
export const HOOK_OUTPUT_MAX = 16_384;

/** A hook's default bound, in seconds (`--hook-timeout`). */
export const DEFAULT_HOOK_TIMEOUT = 300;

export type HookOutcome = 'ok' | 'failed' | 'timeout' | 'refused' | 'skipped';

export interface HookRun {
  hook: string;
  outcome: HookOutcome;
  /** The hook's exit code when it ran and ended by itself; null otherwise. */
  exitCode: number | null;
  /** How long it ran (whole seconds), null when it did not run. */
  seconds: number | null;
  /** Why it was refused, when it was. */
  why: string | null;
  /** Its output as the host kept it (the first HOOK_OUTPUT_MAX bytes). */
  output: string;
  /** The output was longer than what is kept. */
  cut: boolean;
}

/** An outcome word as a script or a releases.log line writes it. */
export function hookOutcome(word: string): { outcome: HookOutcome; exitCode: number | null } {
  if (word === 'ok') return { outcome: 'ok', exitCode: 0 };
  if (word === 'timeout' || word === 'refused' || word === 'skipped') return { outcome: word, exitCode: null };
  return { outcome: 'failed', exitCode: /^\d{1,3}$/.test(word) ? Number(word) : null };
}

/** The hooks a script reported, in the order they ran. */
export function parseHookRuns(m: Markers): HookRun[] {
  const runs: HookRun[] = [];
  const byName = new Map<string, HookRun>();
  for (const value of m.values.get('HOOK') ?? []) {
    const [hook = '', word = '', secs] = value.split(' ');
    const run: HookRun = {
      hook,
      ...hookOutcome(word),
      seconds:
        secs !== undefined && /^\d+$/.test(secs) && word !== 'skipped' && word !== 'refused' ? Number(secs) : null,
      why: null,
      output: '',
      cut: false,
    };
    runs.push(run);
    byName.set(hook, run);
  }
  const lines = new Map<string, string[]>();
  for (const value of m.values.get('HOOK_OUT') ?? []) {
    const at = value.indexOf(' ');
    const hook = at === -1 ? value : value.slice(0, at);
    const list = lines.get(hook) ?? [];
    list.push(at === -1 ? '' : value.slice(at + 1));
    lines.set(hook, list);
  }
  for (const [hook, list] of lines) {
    const run = byName.get(hook);
    if (run) run.output = list.join('\n');
  }
  for (const value of m.values.get('HOOK_WHY') ?? []) {
    const at = value.indexOf(' ');
    const run = byName.get(at === -1 ? value : value.slice(0, at));
    if (run) run.why = at === -1 ? '' : value.slice(at + 1);
  }
  for (const hook of m.values.get('HOOK_CUT') ?? []) {
    const run = byName.get(hook);
    if (run) run.cut = true;
  }
  return runs;
}

/** `pre-switch=ok post-switch=1`, a releases.log field: each hook's outcome word. */
export function parseHookField(field: string): Array<{ hook: string; outcome: HookOutcome; exitCode: number | null }> {
  return field
    .split(' ')
    .filter((w) => w.includes('='))
    .map((w) => {
      const at = w.indexOf('=');
      return { hook: w.slice(0, at), ...hookOutcome(w.slice(at + 1)) };
    });
}
