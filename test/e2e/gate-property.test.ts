import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decide, realpathDeepest, type GatePolicy } from '../../src/gate/decide.js';
import { GATE_LINES, GATE_SCRIPTS, type AnyVersion } from '../../src/protocol/registry.js';
import { remoteScript } from '../../src/protocol/wire.js';
import { closeMasters } from '../lab/till.js';
import { changes, outside, restrictedHost, TIGHTEST, type RestrictedHost } from './helpers-gate.js';

/**
 * Issue 14 item 5: every registered script, with random and adversarial values for each
 * argument, decided by the gate (fast-check, seeded; the seed is printed: rerun one with
 * TILL_GATE_SEED=<seed>). A bounded sample of what the gate accepts is then run, through
 * the gate, on a real host restricted with the tightest policy (on which some release
 * names are symlinks to ~/.ssh and ~, planted by earlier uploads): nothing outside the
 * deploy root and ~/.till may change, and authorized_keys only in lines of till's own
 * restricted form (key-add, key-remove and restrict exist to write those).
 */
const SEED = Number(process.env.TILL_GATE_SEED ?? Date.now() % 2 ** 31);
const RUNS_PER_SCRIPT = 150;
/** Accepted vectors of each script run on the host. */
const PER_SCRIPT = 2;

describe(
  'hostile arguments for every registered script: the gate decides, a restricted host runs what it accepts',
  { timeout: 300_000 },
  () => {
    let r: RestrictedHost;
    let work: string;
    const ids = [
      '20260101T000000Z-aaaaaa',
      '20260102T000000Z-bbbbbb',
      '20260103T000000Z-cccccc',
      '20260104T000000Z-dddddd',
    ];
    let policy: GatePolicy;
    let blobs: string[];

    beforeAll(async () => {
      r = await restrictedHost();
      work = mkdtempSync('/tmp/t-prop-');
      policy = {
        home: r.host.home,
        deployRoots: [join(r.host.home, 'app')],
        checks: TIGHTEST.checks,
        upgrade: TIGHTEST.upgrade,
        realpath: realpathDeepest,
      };
      // An operator's own key next to till's, and release names an earlier upload made
      // symlinks: ids[1] -> ~/.ssh, ids[2].partial -> ~, ids[3].partial/.env.local -> authorized_keys.
      const key = join(work, 'op');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'operator@laptop', '-f', key]);
      const op = readFileSync(`${key}.pub`, 'utf8');
      writeFileSync(
        join(r.host.home, '.ssh/authorized_keys'),
        readFileSync(join(r.host.home, '.ssh/authorized_keys'), 'utf8') + op,
      );
      const till = / ssh-ed25519 (\S+)/.exec(readFileSync(join(r.host.home, '.ssh/authorized_keys'), 'utf8'))![1]!;
      blobs = [till, op.split(' ')[1]!];
      const plant = join(work, 'plant');
      mkdirSync(join(plant, 'partial'), { recursive: true });
      symlinkSync(join(r.host.home, '.ssh'), join(plant, 'ssh'));
      symlinkSync(r.host.home, join(plant, 'home'));
      symlinkSync(join(r.host.home, '.ssh/authorized_keys'), join(plant, 'partial/.env.local'));
      writeFileSync(join(plant, 'partial/index.html'), 'x\n');
      const up = (args: string[]) => expect(r.key.rsync(['-rl', '--mkpath', ...args]).status).toBe(0);
      up([join(plant, 'partial') + '/', `HOST:app.till/releases/${ids[0]}/`]);
      up([join(plant, 'ssh'), `HOST:app.till/releases/${ids[1]}`]);
      up([join(plant, 'home'), `HOST:app.till/releases/${ids[2]}.partial`]);
      up([join(plant, 'partial') + '/', `HOST:app.till/releases/${ids[3]}.partial/`]);
    }, 240_000);

    afterAll(async () => {
      r?.lab.stop();
      if (r) await closeMasters(r.home);
      rmSync(work, { recursive: true, force: true });
    });

    /** What an attacker would try in any argument. */
    const hostile = fc.constantFrom(
      '',
      '..',
      '../../.ssh',
      '~/.ssh',
      '~',
      '/',
      '/etc/passwd',
      `${'x'.repeat(5000)}`,
      'a\nb',
      'ssh-ed25519\nssh-ed25519 AAAA attacker',
      '2026-01-01T00:00:00.000Z\tgood\tx\n20990101T000000Z-evil00\tgood\tx',
      '--help',
      '-rf',
      '$(touch /tmp/x)',
      '`id`',
      'a;b',
      '\u001b[31mred',
      'web\u202E1',
      'TILL_DONE',
      '*',
      '~/app/../.ssh',
      '20260101T000000Z-aaaaaa/../../..',
      '{"deployRoots":["~/.ssh"],"upgrade":true}',
      'who=x\nrun=TILL_LOCKED\n',
    );
    const lock = (run: string) => `who=attacker\nwhen=now\nwhat=x\npid=1\nrun=${run}\n`;
    /** Values of each argument type, many of them valid (so the gate accepts some vectors). */
    const valid = (name: string): fc.Arbitrary<string> => {
      const id = fc.constantFrom(...ids);
      switch (name) {
        case 'deploy root':
          return fc.constantFrom('~/app', join(r.host.home, 'app'), '~/app/');
        case 'remote path':
          return fc.constantFrom('~/app', '~/.ssh', '/etc', '~/app.till/releases', '/tmp');
        case 'release id':
          return id;
        case 'release id or empty':
          return fc.oneof(id, fc.constant(''));
        case 'list of release id':
          return fc.array(id, { maxLength: 3 }).map((a) => a.join(' '));
        case 'list of shared path':
          return fc
            .array(fc.constantFrom('logs', 'data/cache', '.ssh', 'a/b'), { maxLength: 2 })
            .map((a) => a.join(' '));
        case 'content hash':
          return fc.constantFrom('', 'aaaaaa', 'bbbbbb');
        case 'flag':
          return fc.constantFrom('0', '1');
        case 'time':
          return fc.constant('2026-01-01T00:00:00.000Z');
        case 'run id':
          return fc.constantFrom('atk', 'r1');
        case 'lock info':
          return fc.constantFrom('atk', 'r1').map(lock);
        case 'label':
          return fc.string({ maxLength: 20 });
        case 'installation name or empty':
          return fc.constantFrom('', 'evil', 'app');
        case 'check':
          return fc.constant('');
        case 'env file':
          return fc.constantFrom('A=1\n', `ssh-ed25519 ${blobs[1]} attacker\n`);
        case 'key type':
          return fc.constantFrom('ssh-ed25519', 'ssh-rsa');
        case 'ssh-ed25519':
          return fc.constant('ssh-ed25519');
        case 'key blob':
        case 'ssh-ed25519 blob':
          return fc.constantFrom(...blobs);
        case 'key comment':
          return fc.constantFrom('', 'till@x', 'attacker');
        case 'gate.json':
          return fc.constantFrom(
            JSON.stringify(TIGHTEST),
            JSON.stringify({ ...TIGHTEST, deployRoots: [join(r.host.home, 'app')] }),
          );
        default:
          return fc.string({ maxLength: 20 });
      }
    };
    const argsFor = (v: AnyVersion) =>
      fc.tuple(
        ...v.args.map((t) => fc.oneof({ weight: 4, arbitrary: valid(t.name) }, { weight: 1, arbitrary: hostile })),
      );

    it(`decides ${RUNS_PER_SCRIPT} random vectors per script; runs a sample of the accepted ones on the host (seed printed)`, () => {
      console.log(`gate property test: seed ${SEED} (rerun with TILL_GATE_SEED=${SEED})`);
      const accepted: { name: string; line: string; keys: boolean }[] = [];
      for (const version of GATE_SCRIPTS.values()) {
        fc.assert(
          fc.property(argsFor(version), (args) => {
            const line = remoteScript(version.text, args);
            const d = decide(line, policy);
            if (version.retired !== undefined || version.upgrade) expect(d.kind).toBe('refuse');
            if (d.kind === 'refuse') return;
            expect(d).toMatchObject({ kind: 'script', name: version.name, args });
            // what the gate accepted is of the declared types, and passes no ~ unexpanded to a shell
            version.args.forEach((t, i) => expect(t.problem(args[i]!, policy)).toBeUndefined());
            accepted.push({
              name: version.name,
              line,
              keys: ['key-add', 'key-remove', 'restrict'].includes(version.name),
            });
          }),
          { seed: SEED, numRuns: RUNS_PER_SCRIPT },
        );
      }
      for (const line of GATE_LINES.keys()) {
        expect(decide(line, policy).kind).toBe('exact');
        expect(decide(`${line} x`, policy).kind).toBe('refuse');
      }
      // every script with arguments had some vectors accepted and some refused
      const names = new Set(accepted.map((a) => a.name));
      for (const v of GATE_SCRIPTS.values())
        if (v.retired === undefined && !v.upgrade && v.args.length > 0) expect(names, v.name).toContain(v.name);

      // A bounded sample, chosen by the seed, PER_SCRIPT of each script, run through the gate:
      // deploy and probe scripts first, key edits after (restrict last: it rewrites gate.json).
      const byName = new Map<string, typeof accepted>();
      for (const a of accepted) byName.set(a.name, [...(byName.get(a.name) ?? []), a]);
      const picked = [...byName.values()].flatMap(
        (list) =>
          fc.sample(
            fc.shuffledSubarray(list, {
              minLength: Math.min(PER_SCRIPT, list.length),
              maxLength: Math.min(PER_SCRIPT, list.length),
            }),
            {
              seed: SEED,
              numRuns: 1,
            },
          )[0]!,
      );
      const order = (a: (typeof picked)[number]) => (a.name.startsWith('restrict') ? 2 : a.keys ? 1 : 0);
      const sample = [...picked].sort((a, b) => order(a) - order(b));
      const keysFile = join(r.host.home, '.ssh/authorized_keys');
      const tillForm = (l: string) =>
        l.startsWith(`restrict,command="${r.host.home}/.till/bin/till gate" ssh-ed25519 `);
      let before = outside(r.host);
      for (const run of sample) {
        const keysBefore = readFileSync(keysFile, 'utf8').split('\n');
        const res = r.key.ssh(run.line);
        expect(res.stderr, `${run.name}: ${res.stderr}`).not.toMatch(/till gate: refused/);
        const after = outside(r.host, { homeOnly: true });
        const changed = changes(before, after).filter((c) => !(run.keys && c.startsWith(`${keysFile}:`)));
        expect(changed, `${run.name} (seed ${SEED}) wrote outside the deploy root and ~/.till`).toEqual([]);
        const keysAfter = readFileSync(keysFile, 'utf8').split('\n');
        const gone = keysBefore.filter((l) => !keysAfter.includes(l));
        const added = keysAfter.filter((l) => !keysBefore.includes(l));
        expect(
          [...gone, ...added].filter((l) => l !== '' && !tillForm(l)),
          `${run.name} (seed ${SEED}) changed an authorized_keys line that is not till's`,
        ).toEqual([]);
        before = after;
      }
      console.log(
        `gate property test: ${accepted.length} vectors accepted; ran ${sample.length} on the host: ${[...new Set(sample.map((s) => s.name))].join(', ')}`,
      );
    });
  },
);
