/**
 * `--list-hosts` on every fleet command, through the built CLI: it prints the resolved
 * targets and contacts nothing, changes nothing. The hosts point at closed loopback
 * ports, and ssh, rsync and git on PATH are tripwires that record any call.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCli } from '../../src/cli/context.js';
import { createProgram } from '../../src/cli/program.js';
import { tempHome, till, tillOk } from '../lab/till.js';

const tree = await createProgram(createCli([]));

/** Every command that takes fleet targets (a variadic [targets...] argument), by its words. */
function fleetCommands(): string[][] {
  const found: string[][] = [];
  const walk = (cmd: Command, path: string[]) => {
    for (const c of cmd.commands) {
      const words = [...path, c.name()];
      if (c.registeredArguments.some((a) => a.name() === 'targets' && a.variadic)) found.push(words);
      walk(c, words);
    }
  };
  walk(tree, []);
  return found;
}

let home: string;
let bin: string;
let tripped: string;
let env: NodeJS.ProcessEnv;
const snapshot = () => ({
  db: readFileSync(`${home}/hosts-local.json`, 'utf8'),
  files: readdirSync(home).sort(),
  control: readdirSync(`${home}/ssh/control`),
  knownHosts: readFileSync(`${home}/ssh/known_hosts`, 'utf8'),
  schedule: readFileSync(`${home}/schedule.json`, 'utf8'),
});

beforeAll(async () => {
  home = tempHome().home;
  await tillOk(home, ['host', 'init']);
  // Nothing listens on 127.77.0.x port 1: anything that tried to connect would fail, not hang.
  for (const [i, name] of ['web-1', 'web-2', 'web-3', 'web-4', 'db-1'].entries()) {
    await tillOk(home, ['host', 'add', name, `u@127.77.0.${i + 1}:1`, ...(name.endsWith('1') ? ['-g', 'prod'] : [])]);
  }
  // Set-up hosts, so that sync and host sync (which take only those) list them too.
  const db = JSON.parse(readFileSync(`${home}/hosts-local.json`, 'utf8')) as {
    hosts: Record<string, { status: string }>;
  };
  for (const h of Object.values(db.hosts)) h.status = 'till-ready';
  writeFileSync(`${home}/hosts-local.json`, JSON.stringify(db, null, 2));
  await tillOk(home, ['host', 'list']); // brings ssh/config in step with the edit
  bin = `${home}/bin`;
  tripped = `${home}/tripped`;
  mkdirSync(bin);
  for (const tool of ['ssh', 'rsync', 'git', 'ssh-keygen', 'ssh-keyscan']) {
    writeFileSync(`${bin}/${tool}`, `#!/bin/sh\necho "${tool} $*" >> '${tripped}'\nexit 255\n`);
    chmodSync(`${bin}/${tool}`, 0o755);
  }
  env = { PATH: `${bin}:${process.env.PATH}` };
});

afterAll(() => rmSync(home, { recursive: true, force: true }));

describe('--list-hosts', () => {
  const commands = fleetCommands();

  it('is on every fleet command, with --limit', () => {
    expect(commands.map((c) => c.join(' ')).sort()).toEqual(
      expect.arrayContaining([
        'host test',
        'host exec',
        'host setup',
        'host sync',
        'host health',
        'host audit',
        'host deploy',
        'host rollback',
        'host rotate-key',
        'sync',
        'host export',
      ]),
    );
    const program = tree;
    for (const words of commands) {
      let cmd: Command = program;
      for (const w of words) cmd = cmd.commands.find((c) => c.name() === w)!;
      const longs = cmd.options.map((o) => o.long);
      expect(longs, words.join(' ')).toContain('--list-hosts');
      expect(longs, words.join(' ')).toContain('--limit');
      expect(longs, words.join(' ')).toContain('--json');
    }
  });

  /** A value for each option the command requires (`host lock -m`): commander checks those first. */
  const required = (words: string[]): string[] => {
    let cmd: Command = tree;
    for (const w of words) cmd = cmd.commands.find((c) => c.name() === w)!;
    return cmd.options.filter((o) => o.mandatory).flatMap((o) => [o.long!, 'x']);
  };

  it.each(fleetCommands().map((c) => [c.join(' '), c]))(
    'till %s --list-hosts prints the targets, exit 0, and contacts and changes nothing',
    async (_name, words) => {
      const before = snapshot();
      const extra = required(words);
      const r = await till(home, [...words, 'web-[1-4],@prod,!web-2', '--limit', '!web-4', ...extra, '--list-hosts'], {
        env,
        timeoutMs: 20_000,
      });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('web-1\nweb-3\ndb-1\n');
      const json = await till(home, [...words, '@prod', ...extra, '--list-hosts', '--json'], {
        env,
        timeoutMs: 20_000,
      });
      expect(json.code, json.stderr).toBe(0);
      expect(JSON.parse(json.stdout)).toEqual({ hosts: ['web-1', 'db-1'] });
      expect(existsSync(tripped), existsSync(tripped) ? readFileSync(tripped, 'utf8') : '').toBe(false);
      expect(snapshot()).toEqual(before);
    },
  );

  it('a pattern error is still exit 2 with "did you mean", and an exclusion that matches nothing a warning', async () => {
    const typo = await till(home, ['host', 'test', 'web-1,wbe-3', '--list-hosts'], { env });
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('error: no such host: wbe-3\nhint: did you mean web-3?');
    expect(typo.stdout).toBe('');
    const warn = await till(home, ['host', 'exec', 'web-*,!web-9', '--list-hosts'], { env });
    expect(warn.code).toBe(0);
    expect(warn.stderr).toMatch(/warning: !web-9 excludes nothing: no such host: web-9 \(did you mean web-1, /);
    expect(warn.stdout).toBe('web-1\nweb-2\nweb-3\nweb-4\n');
    const none = await till(home, ['host', 'exec', 'web-*,&@prod', '--limit', 'db-*', '--list-hosts'], { env });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/web-\*,&@prod --limit db-\* selects no host/);
    expect(existsSync(tripped)).toBe(false);
  });

  it('commands that default to the whole fleet list it', async () => {
    for (const words of [['sync'], ['host', 'sync'], ['host', 'rotate-key']]) {
      const r = await till(home, [...words, '--list-hosts'], { env });
      expect(r.code, `${words.join(' ')}: ${r.stderr}`).toBe(0);
      expect(r.stdout).toBe('web-1\nweb-2\nweb-3\nweb-4\ndb-1\n');
    }
    expect(existsSync(tripped)).toBe(false);
  });

  it('sync and host sync list the set-up targets, leaving out (with a note) those without till, exit 0', async () => {
    await tillOk(home, ['host', 'add', 'new-1', 'u@127.77.0.9:1']);
    try {
      for (const words of [['sync'], ['host', 'sync']]) {
        const only = await till(home, [...words, 'new-1', '--list-hosts'], { env });
        expect(only.code, `${words.join(' ')}: ${only.stderr}`).toBe(0);
        expect(only.stdout).toBe('');
        expect(only.stderr).toContain('not set up, left out: new-1 (untested)');
        const mixed = await till(home, [...words, 'new-1,web-2', '--list-hosts', '--json'], { env });
        expect(mixed.code, mixed.stderr).toBe(0);
        expect(JSON.parse(mixed.stdout)).toEqual({ hosts: ['web-2'] });
      }
      // Without --list-hosts it is still refused.
      const run = await till(home, ['host', 'sync', 'new-1'], { env });
      expect(run.code).toBe(2);
      expect(run.stderr).toContain('none of the targets has till set up');
    } finally {
      await tillOk(home, ['host', 'remove', 'new-1']);
    }
    expect(existsSync(tripped)).toBe(false);
  });
});
