/**
 * `npm run demo`: till's main job against real hosts, for a person without hosts at
 * hand. Starts three throwaway sshd hosts on loopback (each with its own Unix user),
 * then runs the commands a new user would: init, add, test, exec, list. Cleans up.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { startLab } from '../test/lab/lab.js';

const TILL = resolve('bin/till.mjs');
const home = mkdtempSync('/tmp/t-');
const env = { ...process.env, TILL_HOME: home };

function step(args: string[], note: string): number {
  process.stderr.write(`\n\x1b[1m# ${note}\x1b[0m\n$ till ${args.map((a) => (/[\s'"$;*]/.test(a) ? `'${a}'` : a)).join(' ')}\n`);
  const r = spawnSync(process.execPath, [TILL, ...args], { env, stdio: 'inherit' });
  return r.status ?? 1;
}

async function main(): Promise<number> {
  process.stderr.write(`till demo: TILL_HOME=${home}\n`);
  step(['host', 'init'], "till's own key and ssh config (your ~/.ssh is never touched)");
  const key = readFileSync(`${home}/ssh/till_federation_ed25519.pub`, 'utf8');
  process.stderr.write('\nstarting 3 throwaway sshd hosts on loopback with till\'s key authorized…\n');
  const lab = await startLab(3, { authorizedKey: key });
  let failures = 0;
  try {
    for (const h of lab.hosts) failures += step(['host', 'add', `demo-${h.index}`, h.spec, '--group', 'demo'], `add host demo-${h.index}`) ? 1 : 0;
    failures += step(['host', 'test', '--group', 'demo'], 'test every host of the group (status → connected)') ? 1 : 0;
    failures += step(['host', 'exec', 'demo-*', '--', 'echo "hello from $(whoami) on $(hostname)"; uptime'], 'run a command on every host, in parallel') ? 1 : 0;
    failures += step(['host', 'list'], 'the inventory') ? 1 : 0;
  } finally {
    spawnSync('sh', ['-c', `for s in "${home}"/ssh/control/*; do [ -S "$s" ] && ssh -o ControlPath="$s" -O exit x 2>/dev/null; done; true`]);
    lab.stop();
    rmSync(home, { recursive: true, force: true });
  }
  process.stderr.write(failures === 0 ? '\ndemo finished: every step succeeded; hosts and TILL_HOME removed.\n' : `\ndemo finished with ${failures} failed step(s).\n`);
  return failures === 0 ? 0 : 1;
}

main().then((code) => process.exit(code), (err) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
