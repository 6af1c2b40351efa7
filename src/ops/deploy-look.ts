import { DEFAULT_PARALLEL, DEFAULT_PER_ENDPOINT, endpointKey, type Target } from '../core/fanout.js';
import type { TillPaths } from '../core/paths.js';
import type { HostEntry } from '../core/state/hosts.js';
import { envLocalAround } from '../core/dotenv.js';
import { contentHashOf, remoteLayout } from '../deploy/layout.js';
import { deployCompare, type CompareParams, type DeployReport } from '../protocol/deploy.js';
import { runScript, type ScriptRun } from '../ssh/run-script.js';

/** What the unchanged-redeploy look sends a host: known before the source is walked. */
export interface LookSetup {
  shared: readonly string[];
  /** The installation a switch would register ('' none). */
  installation: string;
  /** The source's `.env.local`, as read (undefined: none). */
  envLocal: string | undefined;
}

/**
 * The look (deploy-compare) a host is sent when the release to deploy has content hash
 * `hash`; undefined when its `.env.local` cannot be compared (a switch would write it
 * otherwise, so the look would only say "differs").
 */
export function lookParams(entry: HostEntry, hash: string, setup: LookSetup): CompareParams | undefined {
  const env = envLocalAround(setup.envLocal);
  if (env === undefined) return undefined;
  return {
    path: remoteLayout(entry.tekton_path).path,
    contentHash: hash,
    shared: setup.shared,
    installation: setup.installation,
    envBefore: env[0],
    envAfter: env[1],
  };
}

/** Looks sent before the source's walk said what the release is (sendEarlyLooks). */
export interface EarlyLooks {
  /**
   * The look sent to `name` with exactly these params, handed over once, from then on
   * ended by the host job's `signal`; undefined when none was sent (or with others:
   * that one is ended). The job sends its own then.
   */
  take(name: string, params: CompareParams, signal: AbortSignal): Promise<ScriptRun<DeployReport>> | undefined;
  /** Ends, unread, every look made for a release of another content hash than `release`'s. */
  keepFor(release: string): void;
  /** Ends every look no job took. */
  cancel(): void;
}

interface Early {
  key: string;
  hash: string;
  ctl: AbortController;
  done: Promise<ScriptRun<DeployReport>>;
}

/** Sends one look; its signal ends it. */
export type LookSender = (name: string, params: CompareParams, signal: AbortSignal) => Promise<ScriptRun<DeployReport>>;

/**
 * An unchanged redeploy's cost is mostly waiting: for the walk of the source
 * (`listSource`: its hash says whether a host's live release may already be it), then
 * for each host's look.
 * The look only reads, so it can go first: to every host among the first the fan-out
 * would start (`parallel`, at most `perEndpoint` on one address, as the engine counts)
 * whose database entry names a live release, it is sent as if the new release had that
 * release's content hash. Once the walk is done, the looks of hosts whose hash it
 * matches are taken by their jobs (the same look, with the same arguments, sent
 * earlier); the others are ended unread (`keepFor`): on a changed tree, one connection
 * each that writes nothing and whose answer is not used.
 */
export function sendEarlyLooks(
  call: { paths: TillPaths; connectTimeout?: number; timeoutMs?: number; send?: LookSender },
  targets: readonly Target[],
  setup: LookSetup,
  limits: { parallel?: number; perEndpoint?: number } = {},
): EarlyLooks {
  const parallel = Math.max(1, limits.parallel ?? DEFAULT_PARALLEL);
  const perEndpoint = Math.max(1, limits.perEndpoint ?? DEFAULT_PER_ENDPOINT);
  const send: LookSender =
    call.send ??
    ((name, params, signal) =>
      runScript(call.paths, name, deployCompare, params, {
        signal,
        connectTimeout: call.connectTimeout,
        timeoutMs: call.timeoutMs,
      }));
  const looks = new Map<string, Early>();
  const counts = new Map<string, number>();
  let slots = 0;
  for (const t of targets) {
    if (slots >= parallel) break;
    const key = endpointKey(t);
    const n = counts.get(key) ?? 0;
    if (n >= perEndpoint) continue;
    counts.set(key, n + 1);
    slots += 1;
    const live = t.entry.deploy?.current ?? null;
    const hash = live !== null ? contentHashOf(live) : '';
    const params = hash !== '' ? lookParams(t.entry, hash, setup) : undefined;
    if (params === undefined) continue;
    const ctl = new AbortController();
    const done = send(t.name, params, ctl.signal);
    done.catch(() => undefined); // a look nobody takes is not heard
    looks.set(t.name, { key: JSON.stringify(params), hash, ctl, done });
  }
  const end = (name: string, look: Early) => {
    look.ctl.abort();
    looks.delete(name);
  };
  return {
    take(name, params, signal) {
      const look = looks.get(name);
      if (look === undefined) return undefined;
      looks.delete(name);
      if (look.key !== JSON.stringify(params)) {
        look.ctl.abort();
        return undefined;
      }
      const onAbort = () => look.ctl.abort(signal.reason);
      if (signal.aborted) onAbort();
      else {
        signal.addEventListener('abort', onAbort, { once: true });
        void look.done.finally(() => signal.removeEventListener('abort', onAbort)).catch(() => undefined);
      }
      return look.done;
    },
    keepFor(release) {
      const hash = contentHashOf(release);
      for (const [name, look] of looks) if (look.hash !== hash) end(name, look);
    },
    cancel() {
      for (const [name, look] of looks) end(name, look);
    },
  };
}
