/** Temp copies of the host database left by killed tills are removed by the next write. */
import { spawnSync } from 'node:child_process';
import { existsSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempHome, tillOk } from '../lab/till.js';

let home: string;
let cleanup: () => void;

beforeAll(async () => {
  ({ home, cleanup } = tempHome());
  await tillOk(home, ['host', 'init']);
});

afterAll(() => cleanup());

describe('stale temp files beside the host database', () => {
  it("the next write removes a dead till's that are over a minute old, and no other", async () => {
    const dead = spawnSync('true').pid;
    const old = new Date(Date.now() - 120_000);
    const temp = (name: string, age: Date | null) => {
      const p = join(home, name);
      writeFileSync(p, '{}');
      if (age !== null) utimesSync(p, age, age);
      return p;
    };
    const gone = [
      temp(`.hosts-local.json.${dead}.0a1b2c3d.tmp`, old),
      temp(`.hosts-local.json.sha256.${dead}.0a1b2c3d.tmp`, old),
    ];
    const kept = [
      temp(`.hosts-local.json.${process.pid}.0a1b2c3d.tmp`, old), // its till is alive
      temp(`.hosts-local.json.${dead}.11111111.tmp`, null), // under a minute old
      temp(`.schedule.json.${dead}.0a1b2c3d.tmp`, old), // not the database's
    ];
    await tillOk(home, ['host', 'add', 'w1', 'u@127.0.0.10']);
    for (const p of gone) expect(existsSync(p), p).toBe(false);
    for (const p of kept) expect(existsSync(p), p).toBe(true);
  });
});
