/**
 * `npm run demo`: till's main job against real hosts, for a person without hosts at
 * hand. Starts three throwaway sshd hosts on loopback (each with its own Unix user),
 * then runs the commands a new user would: init, add, test, exec, list. Cleans up,
 * also when interrupted (Ctrl-C, SIGTERM); a demo killed outright is cleaned up by
 * the next lab that starts (see removeStaleLabUsers).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { constants } from 'node:os';
import { resolve } from 'node:path';
import { startLab, type Lab } from '../test/lab/lab.js';

const TILL = resolve('bin/till.mjs');
const home = mkdtempSync('/tmp/t-');
const env = { ...process.env, TILL_HOME: home };
const useColor = process.stderr.isTTY === true && !('NO_COLOR' in process.env);
const bold = (text: string) => (useColor ? `\x1b[1m${text}\x1b[0m` : text);

let lab: Lab | undefined;
let labStarting: Promise<Lab> | undefined;
let current: ChildProcess | undefined;
let interrupted = false;
let cleaned = false;

/** Runs one till command as a person would, its output on the terminal; resolves to its exit code. */
function step(args: string[], note: string): Promise<number> {
  if (interrupted) return Promise.resolve(1);
  process.stderr.write(
    `\n${bold(`# ${note}`)}\n$ till ${args.map((a) => (/[\s'"$;*]/.test(a) ? `'${a}'` : a)).join(' ')}\n`,
  );
  return new Promise((done) => {
    const child = spawn(process.execPath, [TILL, ...args], { env, stdio: 'inherit' });
    current = child;
    child.on('error', () => done(1));
    child.on('close', (code) => {
      current = undefined;
      done(code ?? 1);
    });
  });
}

/** Ends till's master connections, the hosts and their users, and TILL_HOME. Runs once. */
function cleanup(): void {
  if (cleaned) return;
  cleaned = true;
  spawnSync('sh', [
    '-c',
    `for s in "${home}"/ssh/control/*; do [ -S "$s" ] && ssh -o ControlPath="$s" -O exit x 2>/dev/null; done; true`,
  ]);
  lab?.stop();
  rmSync(home, { recursive: true, force: true });
}

function onSignal(signal: NodeJS.Signals): void {
  if (interrupted) return;
  interrupted = true;
  process.stderr.write(`\ndemo interrupted (${signal}): removing the test hosts, their users and TILL_HOME…\n`);
  const exit = () => {
    cleanup();
    process.exit(128 + constants.signals[signal]);
  };
  // Let the running till finish its own interruption before its TILL_HOME goes.
  const child = current;
  const childDone = child
    ? new Promise<void>((r) => {
        child.once('close', () => r());
        child.kill(signal);
        setTimeout(() => {
          child.kill('SIGKILL');
          r();
        }, 5_000).unref();
      })
    : Promise.resolve();
  // A lab still starting is stopped once it is up (startLab removes what it made if it fails).
  const labDone =
    labStarting && !lab
      ? labStarting.then(
          (l) => void (lab = l),
          () => undefined,
        )
      : Promise.resolve();
  void Promise.all([childDone, labDone]).finally(exit);
}

async function main(): Promise<number> {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);
  process.stderr.write(`till demo: TILL_HOME=${home}\n`);
  if ((await step(['host', 'init'], "till's own key and ssh config (your ~/.ssh is never touched)")) !== 0) {
    cleanup();
    process.stderr.write('\ndemo stopped: till host init failed (see above).\n');
    return 1;
  }
  const key = readFileSync(`${home}/ssh/till_federation_ed25519.pub`, 'utf8');
  process.stderr.write("\nstarting 3 throwaway sshd hosts on loopback with till's key authorized…\n");
  labStarting = startLab(3, { authorizedKey: key });
  lab = await labStarting;
  process.stderr.write(`lab: ${lab.dir} (users ${lab.hosts.map((h) => h.user).join(' ')})\n`);
  let failures = 0;
  try {
    for (const h of lab.hosts)
      failures += (await step(
        ['host', 'add', `demo-${h.index}`, h.spec, '--group', 'demo'],
        `add host demo-${h.index}`,
      ))
        ? 1
        : 0;
    failures += (await step(['host', 'test', '--group', 'demo'], 'test every host of the group (status → connected)'))
      ? 1
      : 0;
    failures += (await step(
      ['host', 'exec', 'demo-*', '--', 'echo "hello from $(whoami) on $(hostname)"; uptime'],
      'run a command on every host, in parallel',
    ))
      ? 1
      : 0;
    failures += (await step(['host', 'list'], 'the inventory')) ? 1 : 0;
  } finally {
    if (!interrupted) cleanup();
  }
  if (interrupted) return 130; // the signal handler reports and exits
  process.stderr.write(
    failures === 0
      ? '\ndemo finished: every step succeeded; hosts and TILL_HOME removed.\n'
      : `\ndemo finished with ${failures} failed step(s).\n`,
  );
  return failures === 0 ? 0 : 1;
}

main().then(
  (code) => {
    if (!interrupted) process.exit(code);
  },
  (err) => {
    if (interrupted) return;
    cleanup();
    process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
