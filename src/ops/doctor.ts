import { lookup } from 'node:dns/promises';
import { readFile, stat } from 'node:fs/promises';
import { connect, isIP } from 'node:net';
import type { TillPaths } from '../core/paths.js';
import { TILL_VERSION } from '../core/build.js';
import { errorMessage } from '../core/errors.js';
import type { HostEntry } from '../core/state/hosts.js';
import { formatHostSpec } from '../core/validate.js';
import { compareVersions } from '../core/versions.js';
import { buildSshArgs } from '../ssh/args.js';
import { DEFAULT_CONNECT_TIMEOUT } from '../ssh/config.js';
import { NOT_A_DEPLOY_ROOT } from '../protocol/args.js';
import { REMOTE_TILL } from '../protocol/host.js';
import { doctor, parseProbe, PROBE_MARK, type ProbeOutput } from '../protocol/probes.js';
import { gateRefusal } from '../protocol/wire.js';
import { classifySsh, sshReason } from '../ssh/outcome.js';
import { runProcess, type ProcessResult } from '../ssh/process.js';
import { runScript } from '../ssh/run-script.js';

/**
 * `till host doctor`: the seed's troubleshooting list, automated. Each check says
 * pass/warn/fail with a one-line fix; a check that cannot run because an earlier one
 * failed is `skip`. The interpretation of every probe is a pure function below; the
 * runner at the end only gathers facts (fs, DNS, TCP, one ssh round trip).
 */
export type CheckStatus = 'pass' | 'fail' | 'warn' | 'skip';
export type CheckName = 'key' | 'dns' | 'tcp' | 'host-key' | 'auth' | 'till' | 'disk';

export interface DoctorCheck {
  name: CheckName;
  status: CheckStatus;
  detail: string;
  fix: string | null;
}

export interface DoctorReport {
  host: string;
  ok: boolean;
  /** till's key on the host is restricted to till gate: true or false once logged in, null when doctor did not get that far. */
  restricted: boolean | null;
  checks: DoctorCheck[];
}

export const CHECK_ORDER: readonly CheckName[] = ['key', 'dns', 'tcp', 'host-key', 'auth', 'till', 'disk'];
/** Below this much free space at tekton_path a deploy is likely to fail. */
export const LOW_DISK_BYTES = 1024 ** 3;

const pass = (name: CheckName, detail: string): DoctorCheck => ({ name, status: 'pass', detail, fix: null });
const fail = (name: CheckName, detail: string, fix: string): DoctorCheck => ({ name, status: 'fail', detail, fix });
const warn = (name: CheckName, detail: string, fix: string): DoctorCheck => ({ name, status: 'warn', detail, fix });
const skip = (name: CheckName, why: string): DoctorCheck => ({ name, status: 'skip', detail: why, fix: null });

export interface KeyFacts {
  privateKey: string;
  publicKey: string;
  /** Permission bits of the private key, or null when it is missing. */
  privateMode: number | null;
  publicPresent: boolean;
}

export function checkKey(f: KeyFacts): DoctorCheck {
  if (f.privateMode === null)
    return fail(
      'key',
      `till's key ${f.privateKey} is missing`,
      f.publicPresent
        ? // Its .pub is there: hosts trust that key, a new one locks till out of them.
          'restore it from a backup (mode 0600); only if it is lost for good: till host init --new-key, then authorize the new key on every host again'
        : 'run: till host init (creates it; then authorize it on your hosts)',
    );
  if ((f.privateMode & 0o077) !== 0) {
    return fail(
      'key',
      `till's key ${f.privateKey} has mode ${f.privateMode.toString(8).padStart(4, '0')}; ssh refuses a private key others can read`,
      `run: chmod 600 ${f.privateKey}`,
    );
  }
  if (!f.publicPresent)
    return fail(
      'key',
      `the public key ${f.publicKey} is missing`,
      'run: till host init (derives it from the private key)',
    );
  return pass('key', `${f.privateKey} (mode 0600) and its .pub are present`);
}

/** What a resolver's or a socket's error code means, in words (the code kept after them, to search for). */
const NETWORK_CODES: Readonly<Record<string, string>> = {
  ENOTFOUND: 'no such name',
  ENODATA: 'the name has no address',
  EAI_AGAIN: 'the name server did not answer in time',
  ESERVFAIL: 'the name server failed',
  EREFUSED: 'the name server refused the query',
  ECONNREFUSED: 'the connection was refused',
  ECONNRESET: 'the connection was reset',
  ETIMEDOUT: 'no answer in time',
  EHOSTUNREACH: 'no route to the host',
  ENETUNREACH: 'the network is unreachable',
  EHOSTDOWN: 'the host is down',
  EADDRNOTAVAIL: 'the address is not available from here',
  EACCES: 'refused by this machine (a local firewall?)',
  EPERM: 'refused by this machine (a local firewall?)',
};

/** `no such name (ENOTFOUND)`; the code alone for one not listed, the text as it is when it is no code. */
export function networkErrorText(code: string): string {
  const words = NETWORK_CODES[code];
  return words === undefined ? code : `${words} (${code})`;
}

export function checkDns(host: string, resolved: { address: string } | { error: string } | 'literal'): DoctorCheck {
  if (resolved === 'literal') return pass('dns', `${host} is an IP address`);
  if ('address' in resolved) return pass('dns', `${host} resolves to ${resolved.address}`);
  return fail(
    'dns',
    `${host} does not resolve: ${networkErrorText(resolved.error)}`,
    `check the spelling and your DNS or /etc/hosts; or re-add the host with its IP address (till host remove, till host add)`,
  );
}

export type TcpFact = { ok: true; ms: number } | { ok: false; code: string };

export function checkTcp(address: string, port: number, fact: TcpFact, timeoutS: number): DoctorCheck {
  const where = isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
  if (fact.ok) return pass('tcp', `port ${where} accepts connections (${fact.ms}ms)`);
  if (fact.code === 'ECONNREFUSED')
    return fail(
      'tcp',
      `${where} refused the connection`,
      `start sshd on the host, or fix the port (till host show; sshd's Port/ListenAddress)`,
    );
  if (fact.code === 'ETIMEDOUT')
    return fail(
      'tcp',
      `no answer from ${where} within ${timeoutS}s`,
      'check that the host is up and that no firewall drops port ' + port,
    );
  return fail(
    'tcp',
    `cannot reach ${where}: ${networkErrorText(fact.code)}`,
    'check the host is up and routable from here',
  );
}

export { PROBE_MARK, parseProbe, type ProbeOutput };

export interface SshProbeInput {
  name: string;
  entry: HostEntry;
  publicKey: string | null;
  result: ProcessResult;
  connectTimeout: number;
  /** This till's version, which a gate's is compared with (default: this build's). */
  version?: string;
}

function formatBytes(bytes: number): string {
  const gib = bytes / 1024 ** 3;
  return gib >= 1 ? `${gib.toFixed(1)} GiB` : `${Math.round(bytes / 1024 ** 2)} MiB`;
}

/** Why an older gate matters, said with every fix that upgrades one. */
const GATE_FIXES = 'fixes to till gate reach the host only when it runs a newer till';

/**
 * The `till` check of a host whose login went through till gate: the host's till is
 * the gate, the trust boundary, so its version is compared with this till's.
 */
export function checkGateTill(name: string, installed: string | null, version: string): DoctorCheck {
  const upgrade = `run: till host setup ${name} (installs this till, ${version}, through the gate; the key stays restricted; ${GATE_FIXES})`;
  const order = installed === null ? null : compareVersions(installed, version);
  if (installed === null || order === null)
    return warn(
      'till',
      `till gate runs on the host, but its version is unknown (~/${REMOTE_TILL} --version said ${installed === null ? 'no version' : JSON.stringify(installed)}): whether its gate has this till's (${version}) fixes cannot be told`,
      upgrade,
    );
  const installedAt = `till ${installed} is installed (~/${REMOTE_TILL}) and runs the host's till gate`;
  if (order < 0) return warn('till', `${installedAt}: it is older than this till (${version})`, upgrade);
  return pass(
    'till',
    `${installedAt}: ${order === 0 ? 'the same version as this till' : `newer than this till (${version})`}`,
  );
}

/** host-key, auth, till and disk from the probe's ssh result. */
export function checkSshProbe(p: SshProbeInput): DoctorCheck[] {
  const { name, entry, result } = p;
  const failure = classifySsh(result);
  const reason = sshReason(result.stderr) || `ssh exit ${result.exitCode}`;
  const later = (why: string) => [skip('till', why), skip('disk', why)];
  if (failure?.kind === 'hostkey-changed') {
    return [
      fail(
        'host-key',
        `the host's key changed since till recorded it (${reason})`,
        `if the host was reinstalled, run: till host forget ${name} (then till host test ${name}); otherwise do not connect: this may be an attack`,
      ),
      skip('auth', 'ssh stops before authentication when the host key does not match'),
      ...later('needs a connection'),
    ];
  }
  if (failure?.kind === 'hostkey-unknown') {
    return [
      fail(
        'host-key',
        `host key verification failed (${reason})`,
        `run: till host forget ${name}, then till host test ${name}`,
      ),
      skip('auth', 'ssh stops before authentication when the host key cannot be verified'),
      ...later('needs a connection'),
    ];
  }
  if (failure?.kind === 'auth') {
    const line = p.publicKey ?? '(till has no public key: run till host init)';
    return [
      pass('host-key', "the host's key matches till's known_hosts"),
      fail(
        'auth',
        `the host refused till's key (${reason})`,
        `append this line to ~${entry.user}/.ssh/authorized_keys on ${entry.host}:\n${line}\nor let till do it with your own ssh access: till host authorize ${name}`,
      ),
      ...later('needs a login'),
    ];
  }
  if (
    failure?.connection ||
    failure?.kind === 'deadline' ||
    failure?.kind === 'spawn' ||
    failure?.kind === 'cancelled'
  ) {
    const fix =
      failure.kind === 'timeout' || failure.kind === 'deadline'
        ? `the port answers but sshd does not: check sshd on the host (overloaded, hung, MaxStartups), or raise --connect-timeout (now ${p.connectTimeout}s)`
        : failure.kind === 'spawn'
          ? 'install the OpenSSH client (Debian: apt-get install openssh-client)'
          : `try by hand: till host ssh ${name} -- true`;
    return [
      skip('host-key', 'ssh did not get as far as the host key'),
      fail('auth', `ssh could not log in: ${failure.message}`, fix),
      ...later('needs a login'),
    ];
  }
  const hostKey = pass('host-key', "the host's key matches till's known_hosts");
  const gated = pass('auth', `logged in as ${entry.user} with till's key, restricted to till gate (docs/gate.md)`);
  // A refusal by the gate proves the gate is in front; the probe itself did not run.
  const refused = result.exitCode === 1 ? gateRefusal(result.stderr) : undefined;
  if (refused !== undefined) {
    if (refused.startsWith('gate configuration')) {
      return [
        hostKey,
        gated,
        fail(
          'till',
          `till gate on the host refuses every command: ${refused}`,
          // A broken gate refuses setup too: only the owner's own access mends it.
          `fix ~/.till/gate.json on the host with your own access (its ~/.till/logs/gate.log says why; docs/gate.md): while it is broken the gate refuses every command, host setup's too`,
        ),
        skip('disk', 'the gate refused the probe'),
      ];
    }
    if (refused.includes(NOT_A_DEPLOY_ROOT)) {
      // Through the gate a probe looks only at a deploy root; a deploy there is refused too.
      return [
        hostKey,
        gated,
        skip('till', 'the gate refused the probe, which asks the version'),
        fail(
          'disk',
          `tekton_path ${entry.tekton_path} is not a deploy root of the host's ~/.till/gate.json: the gate refuses to look there, and would refuse a deploy there`,
          `widen "deployRoots" in ~/.till/gate.json on the host with your own access, or: till host edit ${name} --tekton-path <a deploy root>`,
        ),
      ];
    }
    return [
      hostKey,
      gated,
      warn(
        'till',
        `till is installed, but its gate refused doctor's probe (${refused}): the host's till is older than this one`,
        `run: till host setup ${name} (${GATE_FIXES})`,
      ),
      skip('disk', 'the gate refused the probe'),
    ];
  }
  const probe = parseProbe(result.stdout);
  const auth = probe.gate
    ? gated
    : entry.restricted === true && !failure && probe.marker
      ? warn(
          'auth',
          `logged in as ${entry.user} with till's key, but the key is NOT restricted on the host, although hosts-local.json records it as restricted`,
          `is the key also authorized without the restriction (another line or file)? see: till host audit ${name}; then restrict it again: till host setup ${name} --restrict`,
        )
      : pass('auth', `logged in as ${entry.user} with till's key`);
  const checks: DoctorCheck[] = [hostKey, auth];
  if (failure || !probe.marker) {
    const how = failure ? failure.message : 'the probe printed nothing recognisable';
    const fix = `the login shell of ${entry.user} does not run commands normally (nologin? a noisy or restricted .bashrc?): try till host ssh ${name} -- echo ok`;
    return [
      ...checks,
      fail('till', `the remote shell did not run the probe: ${how}`, fix),
      skip('disk', 'needs a working remote shell'),
    ];
  }
  checks.push(
    probe.gate
      ? checkGateTill(name, probe.tillVersion, p.version ?? TILL_VERSION)
      : probe.tillVersion !== null
        ? pass('till', `till ${probe.tillVersion} is installed (~/${REMOTE_TILL})`)
        : warn(
            'till',
            `till is not installed on the host (~/${REMOTE_TILL} is missing)`,
            `run: till host setup ${name}`,
          ),
  );
  if (probe.availableKiB === null) {
    checks.push(
      warn(
        'disk',
        `could not read free space at ${entry.tekton_path} (df said: ${probe.dfLine ?? 'nothing'})`,
        `check by hand: till host ssh ${name} -- df -Pk ${probe.path ?? '~'}`,
      ),
    );
  } else {
    const bytes = probe.availableKiB * 1024;
    const where =
      probe.path !== null
        ? `${probe.path}${probe.path !== entry.tekton_path ? ` (nearest existing folder of ${entry.tekton_path})` : ''}`
        : entry.tekton_path;
    checks.push(
      bytes < LOW_DISK_BYTES
        ? warn(
            'disk',
            `only ${formatBytes(bytes)} free at ${where}`,
            `free space on that file system, or move the deploy folder (--tekton-path)`,
          )
        : pass('disk', `${formatBytes(bytes)} free at ${where}`),
    );
  }
  return checks;
}

/** Fills in `skip` for checks a failure left unrun and says whether the host is fine. */
export function finishReport(host: string, checks: DoctorCheck[], restricted: boolean | null = null): DoctorReport {
  const byName = new Map(checks.map((c) => [c.name, c]));
  const failedAt = checks.find((c) => c.status === 'fail');
  const all = CHECK_ORDER.map(
    (n) => byName.get(n) ?? skip(n, failedAt ? `skipped: the ${failedAt.name} check failed` : 'not run'),
  );
  return { host, ok: !all.some((c) => c.status === 'fail'), restricted, checks: all };
}

/** Whether the probe's result shows till gate in front of the key (null: no login, so unknown). */
export function restrictedFrom(result: ProcessResult): boolean | null {
  const failure = classifySsh(result);
  if (failure !== undefined && failure.kind !== 'remote') return null;
  if (result.exitCode === 1 && gateRefusal(result.stderr) !== undefined) return true;
  const probe = parseProbe(result.stdout);
  return probe.marker ? probe.gate : null;
}

/* ------------------------------------------------------------------ runner */

async function keyFacts(paths: TillPaths): Promise<KeyFacts> {
  const mode = await stat(paths.privateKey).then(
    (s) => s.mode & 0o777,
    () => null,
  );
  const publicPresent = await stat(paths.publicKey).then(
    () => true,
    () => false,
  );
  return { privateKey: paths.privateKey, publicKey: paths.publicKey, privateMode: mode, publicPresent };
}

async function resolveName(host: string): Promise<{ address: string } | { error: string } | 'literal'> {
  if (isIP(host) !== 0) return 'literal';
  try {
    const r = await lookup(host);
    return { address: r.address };
  } catch (err) {
    return { error: (err as NodeJS.ErrnoException).code ?? errorMessage(err) };
  }
}

function tcpConnect(address: string, port: number, timeoutMs: number): Promise<TcpFact> {
  const started = performance.now();
  return new Promise((resolve) => {
    const socket = connect({ host: address, port });
    const done = (fact: TcpFact) => {
      socket.destroy();
      resolve(fact);
    };
    socket.setTimeout(timeoutMs, () => done({ ok: false, code: 'ETIMEDOUT' }));
    socket.once('connect', () => done({ ok: true, ms: Math.round(performance.now() - started) }));
    socket.once('error', (err: NodeJS.ErrnoException) => done({ ok: false, code: err.code ?? err.message }));
  });
}

export interface DoctorOptions {
  connectTimeout?: number;
}

/** Runs the checks in order, stopping (as `skip`) where a failure makes the rest meaningless. */
export async function runDoctor(
  paths: TillPaths,
  name: string,
  entry: HostEntry,
  opts: DoctorOptions = {},
): Promise<DoctorReport> {
  const connectTimeout = opts.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT;
  const checks: DoctorCheck[] = [];
  const key = checkKey(await keyFacts(paths));
  checks.push(key);
  if (key.status === 'fail') return finishReport(name, checks);

  let address = entry.host;
  if (entry.jump !== undefined) {
    const why = `reached through jump host ${entry.jump}: run till host doctor ${entry.jump} for the network path`;
    checks.push(skip('dns', why), skip('tcp', why));
  } else {
    const resolved = await resolveName(entry.host);
    const dns = checkDns(entry.host, resolved);
    checks.push(dns);
    if (dns.status === 'fail') return finishReport(name, checks);
    if (resolved !== 'literal' && 'address' in resolved) address = resolved.address;
    const tcp = checkTcp(
      address,
      entry.port,
      await tcpConnect(address, entry.port, connectTimeout * 1000),
      connectTimeout,
    );
    checks.push(tcp);
    if (tcp.status === 'fail') return finishReport(name, checks);
  }

  const publicKey = await readFile(paths.publicKey, 'utf8').then(
    (s) => s.trim(),
    () => null,
  );
  // A fresh connection, never a live master: a master opened before the key was
  // removed would hide exactly the refusal doctor is asked to find.
  const { result } = await runScript(
    paths,
    name,
    doctor,
    { tektonPath: entry.tekton_path },
    {
      send: (line) =>
        runProcess(
          'ssh',
          buildSshArgs(paths, name, line, { connectTimeout, options: { ControlMaster: 'no', ControlPath: 'none' } }),
          { timeoutMs: (connectTimeout + 20) * 1000 },
        ),
    },
  );
  checks.push(...checkSshProbe({ name, entry, publicKey, result, connectTimeout }));
  return finishReport(name, checks, restrictedFrom(result));
}

/** `user@host:port` for the report heading. */
export function doctorHeading(name: string, entry: HostEntry): string {
  return `${name} (${formatHostSpec(entry)}${entry.jump !== undefined ? ` via ${entry.jump}` : ''})`;
}
