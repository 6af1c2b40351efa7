/**
 * `npm run demo`: the whole life of a small fleet against real hosts, for a person
 * without hosts at hand. Starts three throwaway sshd hosts on loopback (each with its
 * own Unix user), then runs what a new user would, each step printed with the command
 * to type: init, add, test, setup, deploy a sample tree, health, status, change a file
 * and deploy again, rollback, releases. Cleans up (hosts, their users, the sample tree,
 * TILL_HOME), also when interrupted (Ctrl-C, SIGTERM); a demo killed outright is
 * cleaned up by the next lab that starts (see removeStaleLabUsers).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { resolve } from 'node:path';
import { startLab, type Lab } from '../test/lab/lab.js';

const TILL = resolve('bin/till.mjs');
const home = mkdtempSync('/tmp/t-');
const site = mkdtempSync('/tmp/t-');
const env = { ...process.env, TILL_HOME: home };
const useColor = process.stderr.isTTY === true && !('NO_COLOR' in process.env);
const bold = (text: string) => (useColor ? `\x1b[1m${text}\x1b[0m` : text);
/** Where the hosts get the sample tree: a symlink to the current release. */
const DEPLOY_PATH = '~/demo-site';

let lab: Lab | undefined;
let labStarting: Promise<Lab> | undefined;
let current: ChildProcess | undefined;
let interrupted = false;
let cleaned = false;

/** A word as a person would type it in a shell. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Runs one till command as a person would, its output on the terminal; resolves to its exit code. */
function step(args: string[], note: string): Promise<number> {
  if (interrupted) return Promise.resolve(1);
  process.stderr.write(`\n${bold(`# ${note}`)}\n$ till ${args.map(shellWord).join(' ')}\n`);
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

/** The sample tree: an index page that says which version it is, and a log folder kept across releases. */
function writeSample(version: number): void {
  mkdirSync(`${site}/logs`, { recursive: true });
  writeFileSync(`${site}/index.html`, `<h1>demo site, version ${version}</h1>\n`);
  writeFileSync(`${site}/README`, 'A sample tree deployed by `npm run demo`.\n');
}

/** Ends till's master connections, the hosts and their users, the sample tree and TILL_HOME. Runs once. */
function cleanup(): void {
  if (cleaned) return;
  cleaned = true;
  spawnSync('sh', [
    '-c',
    `for s in "${home}"/ssh/control/*; do [ -S "$s" ] && ssh -o ControlPath="$s" -O exit x 2>/dev/null; done; true`,
  ]);
  lab?.stop();
  rmSync(home, { recursive: true, force: true });
  rmSync(site, { recursive: true, force: true });
}

function onSignal(signal: NodeJS.Signals): void {
  if (interrupted) return;
  interrupted = true;
  process.stderr.write(
    `\ndemo interrupted (${signal}): removing the test hosts, their users, the sample tree and TILL_HOME…\n`,
  );
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

const NEXT_STEPS = `
What to try next, on your own hosts:
  till host init                               # once: till's key and config under ~/.till
  till host add web1 deploy@web1.example.com   # then: till host authorize web1
  till host test --all && till host setup --all
  till host deploy --all --source ./my-site    # releases, --check, rollback: docs/deploy.md
  till schedule set --daily-at 03:30 && till schedule enable
  source <(till completion bash)               # TAB completes commands, hosts, groups (put it in ~/.bashrc)
  man till                                     # every command, with examples
`;

async function main(): Promise<number> {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);
  process.stderr.write(`till demo: TILL_HOME=${home}, sample tree ${site}\n`);
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
  writeSample(1);
  const steps: Array<[string[], string]> = [
    ...lab.hosts.map((h): [string[], string] => [
      ['host', 'add', `demo-${h.index}`, h.spec, '--group', 'demo', '--tekton-path', DEPLOY_PATH],
      `add host demo-${h.index} to group demo (no network contact yet)`,
    ]),
    [['host', 'test', '--group', 'demo'], 'test every host of the group (status → connected)'],
    [['host', 'setup', '--group', 'demo'], 'install this till on the hosts (status → till-ready)'],
    [
      ['host', 'deploy', '--group', 'demo', '--source', site],
      `deploy the sample tree in ${site} as a release; ${DEPLOY_PATH} on each host links to it`,
    ],
    [['host', 'exec', 'demo-*', '--', `cat ${DEPLOY_PATH}/index.html`], 'what the hosts serve now'],
    [
      // The three hosts are this one machine, which may be busy running more than the demo.
      ['host', 'health', '--group', 'demo', '--load-max', '50'],
      'one round trip per host: up, latency, load, memory, disk, release (--load-max 50: the hosts share this machine)',
    ],
    [['status'], 'the fleet at a glance, from what till recorded (no network)'],
  ];
  const after: Array<[string[], string]> = [
    [
      ['host', 'deploy', '--group', 'demo', '--source', site],
      'deploy again: a new release; unchanged files are hard links to the last one',
    ],
    [['host', 'exec', 'demo-*', '--', `cat ${DEPLOY_PATH}/index.html`], 'version 2 everywhere'],
    [['host', 'rollback', '--group', 'demo'], 'switch back to the previous release: one symlink switch, nothing sent'],
    [['host', 'exec', 'demo-*', '--', `cat ${DEPLOY_PATH}/index.html`], 'version 1 again'],
    [['host', 'releases', 'demo-0'], "demo-0's releases, the current one marked"],
  ];
  let failed: string | undefined;
  try {
    for (const [args, note] of steps) {
      if ((await step(args, note)) !== 0) {
        failed = `till ${args.join(' ')}`;
        break;
      }
    }
    if (failed === undefined && !interrupted) {
      writeSample(2);
      process.stderr.write(
        `\n${bold('# change a file of the sample tree')}\n$ echo '<h1>demo site, version 2</h1>' > ${site}/index.html\n`,
      );
      for (const [args, note] of after) {
        if ((await step(args, note)) !== 0) {
          failed = `till ${args.join(' ')}`;
          break;
        }
      }
    }
  } finally {
    if (!interrupted) cleanup();
  }
  if (interrupted) return 130; // the signal handler reports and exits
  if (failed !== undefined) {
    process.stderr.write(`\ndemo stopped: ${failed} failed (see above); hosts, sample tree and TILL_HOME removed.\n`);
    return 1;
  }
  process.stderr.write(
    `\ndemo finished: every step succeeded; hosts, sample tree and TILL_HOME removed.\n${NEXT_STEPS}`,
  );
  return 0;
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
