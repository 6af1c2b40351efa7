/** `host remove` takes the host's per-name state with it: a new host of that name starts fresh. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempHome, tillOk } from '../lab/till.js';

let home: string;
let cleanup: () => void;
const history = () => JSON.parse(readFileSync(join(home, 'state', 'health-history.json'), 'utf8'));

beforeAll(async () => {
  ({ home, cleanup } = tempHome());
  await tillOk(home, ['host', 'init']);
  await tillOk(home, ['host', 'add', 'h2', 'u@127.0.0.20']);
  await tillOk(home, ['host', 'add', 'h3', 'u@127.0.0.21']);
});

afterAll(() => cleanup());

describe('host remove', () => {
  it("removes the host's health history, and only its", async () => {
    const point = (at: string, latencyMs: number) => ({ at, up: true, latencyMs, load1: 0.5, cpus: 2 });
    mkdirSync(join(home, 'state'), { recursive: true });
    writeFileSync(
      join(home, 'state', 'health-history.json'),
      JSON.stringify({
        version: 1,
        hosts: {
          h2: [point('2026-12-07T10:00:00.000Z', 40), point('2026-12-07T11:00:00.000Z', 900)],
          h3: [point('2026-12-07T10:00:00.000Z', 10)],
        },
      }),
    );
    await tillOk(home, ['host', 'remove', 'h2']);
    expect(Object.keys(history().hosts)).toEqual(['h3']);
    await tillOk(home, ['host', 'add', 'h2', 'other@127.0.0.250']);
    const status = JSON.parse((await tillOk(home, ['status', '--json'])).stdout);
    const h2 = status.hosts.find((h: { name: string }) => h.name === 'h2');
    expect(JSON.stringify(h2)).not.toMatch(/900/);
    expect(Object.keys(history().hosts)).toEqual(['h3']);
  });
});
