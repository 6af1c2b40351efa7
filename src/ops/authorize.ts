import { UsageError } from '../core/errors.js';
import { runFleet, type HostResult } from '../core/fanout.js';
import type { Inventory } from '../inventory/inventory.js';
import { requireHost } from '../core/host-admin.js';
import type { HostEntry, HostsFile } from '../core/state/hosts.js';
import { buildControlExitArgs } from '../ssh/args.js';
import { keyAppend, KEY_PRESENT } from '../protocol/keys.js';
import { commandLine } from '../protocol/wire.js';
import { DEFAULT_CONNECT_TIMEOUT } from '../ssh/config.js';
import { readTillKey } from '../ssh/key-set.js';
import { classifySsh, remoteFailure, type Failure } from '../ssh/outcome.js';
import { runProcess } from '../ssh/process.js';
import { applyTest, testJob, type TestData } from './test.js';

/**
 * `till host authorize`: puts till's public key into the host's authorized_keys with
 * the operator's OWN ssh (their identities, agent and ~/.ssh/config; never till's
 * config or key), then proves a login with till's key.
 */
export interface OperatorSshOptions {
  /** No terminal to type a password on: BatchMode, so ssh fails instead of hanging. */
  batch: boolean;
  connectTimeout?: number;
}

function jumpSpec(h: HostEntry): string {
  const host = h.host.includes(':') ? `[${h.host}]` : h.host;
  return `${h.user}@${host}:${h.port}`;
}

/** Plain `ssh` as the operator runs it: no -F, so their ~/.ssh/config applies. */
export function buildOperatorSshArgs(db: HostsFile, name: string, command: string, opts: OperatorSshOptions): string[] {
  const h = requireHost(db, name);
  const args = ['-o', `ConnectTimeout=${opts.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT}`];
  if (opts.batch) args.push('-o', 'BatchMode=yes');
  if (h.jump !== undefined) {
    const jump = db.hosts[h.jump];
    if (jump) args.push('-J', jumpSpec(jump));
  }
  args.push('-p', String(h.port), '-l', h.user, '-T', '--', h.host, command);
  return args;
}

export interface AuthorizeResult {
  host: string;
  /** false when the key was already there. */
  added: boolean;
  /** The login with till's key afterwards. */
  test: HostResult<TestData>;
  fingerprint: string;
}

export class AuthorizeFailed extends Error {
  constructor(readonly failure: Failure) {
    super(failure.message);
  }
}

export async function authorizeHost(
  inventory: Inventory,
  name: string,
  opts: OperatorSshOptions,
): Promise<AuthorizeResult> {
  const paths = inventory.paths;
  const db = await inventory.read();
  requireHost(db, name);
  const key = await readTillKey(paths, 'current');
  if (!key) throw new UsageError(`till's key is missing or unreadable (${paths.publicKey})`, 'run: till host init');

  // The operator's own ssh, not runScript's: on a terminal it may ask for a password or passphrase; let it.
  // key-append, not -v2: an append (>>) writes through a managed file's link and cuts nothing loose;
  // the operator adds till's key there with their own access (rotate-key, which must also remove, does not).
  const append = keyAppend.versions.find((v) => v.name === 'key-append')!;
  const command = commandLine(append, { line: key.line, blob: key.key.blob });
  const result = await runProcess('ssh', buildOperatorSshArgs(db, name, command, opts), { interactive: !opts.batch });
  if (result.exitCode !== 0 && result.exitCode !== KEY_PRESENT) {
    const failure = classifySsh(result) ?? remoteFailure('failed');
    const detail = result.stderr.trim().split('\n').pop() ?? '';
    throw new AuthorizeFailed({
      ...failure,
      message: `could not install till's key on ${name} with your own ssh: ${failure.message}${detail && !failure.message.includes(detail) ? ` (${detail})` : ''}`,
    });
  }

  // A master from before would hide a refused key: prove it on a fresh connection.
  await runProcess('ssh', buildControlExitArgs(paths, name));
  const report = await runFleet(
    [{ name, entry: db.hosts[name]! }],
    testJob(paths, { connectTimeout: opts.connectTimeout }),
    { attempts: 1 },
  );
  await inventory.recordResults(report.results, (entry, r) => {
    applyTest(entry, r.data);
    entry.key_fingerprint = key.key.fingerprint;
  });
  return { host: name, added: result.exitCode === 0, test: report.results[0]!, fingerprint: key.key.fingerprint };
}
