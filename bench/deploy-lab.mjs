// What the deploy benchmarks (deploy.mjs, deploy-steps.mjs) share: the TypeScript lab
// helpers bundled once, a generated tree of the real Tekton's size, a quiet spawn, and a
// lab whose hosts are added to a fresh TILL_HOME with live masters.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

/** Bundles TypeScript entry points into a temp folder (paths kept: test/lab/lab.ts -> <dir>/test/lab/lab.mjs). */
export async function bundle(entryPoints) {
  const dir = mkdtempSync('/tmp/tb-');
  await build({
    entryPoints,
    outdir: dir,
    outbase: '.',
    bundle: true,
    platform: 'node',
    format: 'esm',
    outExtension: { '.js': '.mjs' },
    logLevel: 'warning',
  });
  return dir;
}

/** Runs a command, output discarded; rejects with its stderr when it fails. */
export function run(cmd, args, env = process.env) {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
    let err = '';
    c.stderr.on('data', (d) => (err += d));
    c.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}: ${err}`))));
  });
}

/** `files` files in 40 folders, `sizeMb` MB in all: base64 text (compressible, as source trees are). */
export function writeTree(dir, files, sizeMb) {
  const per = Math.floor((sizeMb * 1024 * 1024) / files);
  for (let i = 0; i < files; i++) {
    const sub = join(dir, `d${i % 40}`);
    mkdirSync(sub, { recursive: true });
    writeFileSync(
      join(sub, `f${i}.txt`),
      randomBytes(Math.ceil((per * 3) / 4))
        .toString('base64')
        .slice(0, per),
    );
  }
}

/** `host init`, a lab of `hosts` hosts added as b<index>, masters opened by `host test --all`. */
export async function deployLab({ startLab, tillOk }, home, hosts) {
  await tillOk(home, ['host', 'init']);
  const key = readFileSync(join(home, 'ssh', 'till_federation_ed25519.pub'), 'utf8');
  const lab = await startLab(hosts, { authorizedKey: key });
  for (const h of lab.hosts) await tillOk(home, ['host', 'add', `b${h.index}`, h.spec]);
  await tillOk(home, ['host', 'test', '--all'], { timeoutMs: 120_000 });
  return lab;
}
