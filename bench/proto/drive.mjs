import { build } from 'esbuild';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
const ROOT = '/work/wt/p19f';
const TILL = join(ROOT, 'bin/till.cjs');
await build({ entryPoints: [join(ROOT, 'test/lab/lab.ts')], bundle: true, platform: 'node', format: 'esm', outfile: '/tmp/p19f-proto/lab.mjs', logLevel: 'warning' });
const { startLab } = await import('/tmp/p19f-proto/lab.mjs');
const K = Number(process.env.K ?? 50), ROUNDS = Number(process.env.ROUNDS ?? 7);
function timed(cmd, args, env = {}) {
  return new Promise((res) => {
    const t = performance.now();
    const ch = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    ch.stdout.on('data', (d) => (out += d)); ch.stderr.on('data', (d) => (err += d));
    ch.on('close', (code) => res({ ms: performance.now() - t, code, out, err }));
  });
}
const home = mkdtempSync('/tmp/t-');
const env = { TILL_HOME: home };
await timed(process.execPath, [TILL, 'host', 'init'], env);
const pub = readFileSync(join(home, 'ssh/till_federation_ed25519.pub'), 'utf8').trim();
const lab = await startLab(K, { authorizedKey: pub });
let holder;
try {
  const db = { hosts: {}, groups: {}, updated: String(Math.floor(Date.now() / 1000)) };
  lab.hosts.forEach((h, i) => (db.hosts[`h${i}`] = { user: h.user, host: h.address, port: h.port, status: 'untested', added: new Date().toISOString(), last_sync: null, tekton_path: '~/x', installations: [] }));
  writeFileSync(join(home, 'hosts-local.json'), JSON.stringify(db));
  console.log((await timed(process.execPath, [TILL, 'host', 'group', 'create', 'b'], env)).code);
  console.log((await timed(process.execPath, [TILL, 'host', 'test', '--all'], env)).code);
  const cfg = join(home, 'ssh/config');
  const names = lab.hosts.map((_, i) => `till-h${i}`);
  const hostsFile = join(home, 'h.txt'); writeFileSync(hostsFile, names.join('\n') + '\n');
  const sock = join(home, 'w.sock');
  holder = spawn(process.execPath, ['/work/wt/p19f/bench/proto/holder.mjs', cfg, sock, ...names], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((r) => holder.stdout.once('data', r));
  await new Promise((r) => setTimeout(r, 3000));
  const m = { pssh: [], proto: [], till: [] };
  const fns = {
    pssh: () => timed('parallel-ssh', ['-p', '32', '-h', hostsFile, '-x', `-F ${cfg}`, 'true']),
    proto: () => timed(process.execPath, ['/work/wt/p19f/bench/proto/client.mjs', sock, 'true', ...names]),
    till: () => timed(process.execPath, [TILL, 'host', 'exec', '--all', '--', 'true'], env),
  };
  // correctness check
  const c = await timed(process.execPath, ['/work/wt/p19f/bench/proto/client.mjs', sock, "printf 'a\\nb'; echo \"$0 $HOME\"; pwd", names[0]]);
  console.log(JSON.stringify(c.out));
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 ? ['proto', 'pssh', 'till'] : ['pssh', 'till', 'proto'];
    for (const k of order) { const x = await fns[k](); if (x.code) console.log(k, x.code, x.err.slice(-300)); m[k].push(x.ms); }
  }
  const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  for (const k of Object.keys(m)) console.log(k, Math.round(med(m[k])), 'ms', `${(med(m[k]) / med(m.pssh)).toFixed(2)}x pssh`, m[k].map(Math.round).join(' '));
} finally {
  holder?.kill();
  for (const f of readFileSync('/dev/null', 'utf8') ? [] : []) void f;
  try { execFileSync('sh', ['-c', `for s in ${home}/ssh/control/*; do ssh -o ControlPath=$s -O exit x; done`], { stdio: 'ignore' }); } catch {}
  lab.stop();
}
