/**
 * The operations journal when the kernel takes only part of a record's write(2): a full
 * disk can, and so does the file-size limit (RLIMIT_FSIZE, `prlimit --fsize`), which is how
 * this test makes a real short write without filling a disk: the journal is grown to just
 * under the limit, so the next record's write stops at the limit. The record must be taken
 * back off the end (the file stays whole records, byte for byte what it was), the command
 * still does its work and keeps its exit code, and it says the record was not kept.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempHome, TILL_BIN, tillOk } from '../lab/till.js';

let home: string;
let cleanup: () => void;
const journal = () => join(home, 'logs', 'operations.jsonl');

beforeAll(async () => {
  ({ home, cleanup } = tempHome());
  await tillOk(home, ['host', 'init']);
  await tillOk(home, ['host', 'add', 'h1', 'u@127.0.0.9']);
  // Grow the journal past every other file till writes here (the database, ssh/config),
  // with copies of a real record, so the limit below stops only the journal's write.
  const first = readFileSync(journal(), 'utf8').split('\n')[0]!;
  for (let i = 0; i < 16; i += 1) appendFileSync(journal(), `${first}\n`);
}, 60_000);

afterAll(() => cleanup());

describe('a record the kernel wrote only part of', () => {
  it('is cut back off the journal: whole records only, the command done, a warning, exit 0', () => {
    const before = readFileSync(journal());
    const r = spawnSync(
      'prlimit',
      [`--fsize=${before.length + 100}`, '--', process.execPath, TILL_BIN, 'host', 'add', 'h2', 'u@127.0.0.10'],
      {
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          TILL_HOME: home,
          NO_COLOR: '1',
          TILL_NO_CODE_CACHE: '1',
        },
        encoding: 'utf8',
      },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('added h2');
    expect(r.stderr).toMatch(
      /warning: could not record this command in the operations journal: wrote 100 of \d+ bytes to .*operations\.jsonl \(disk full\?\); the record was not kept/,
    );
    // the 100 bytes the kernel took are gone again: the file is what it was
    expect(readFileSync(journal()).equals(before)).toBe(true);
    // the command's own work was kept
    expect(JSON.parse(readFileSync(join(home, 'hosts-local.json'), 'utf8')).hosts.h2).toBeDefined();
  });

  it('leaves a journal `till log` reads whole, and the next record lands after it', async () => {
    const log = await tillOk(home, ['log', '--json']);
    const doc = JSON.parse(log.stdout) as { operations: { command: string }[]; corrupt: unknown[] };
    expect(doc.corrupt).toEqual([]);
    // host init (17 copies of it) and h1's host add; h2's was not kept
    expect(doc.operations.map((x) => x.command)).toEqual([...Array(17).fill('host init'), 'host add']);
    await tillOk(home, ['host', 'add', 'h3', 'u@127.0.0.11']);
    const lines = readFileSync(journal(), 'utf8').split('\n');
    expect(lines.pop()).toBe('');
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
    expect(JSON.parse(lines.at(-1)!).argv).toEqual(['host', 'add', 'h3', 'u@127.0.0.11']);
  });

  it('a torn last line (a till killed mid-write) does not swallow the next record', async () => {
    appendFileSync(journal(), '{"time":"2026-12-07T00:00:00.000Z","durationMs":1,"op');
    await tillOk(home, ['host', 'add', 'w2', 'u@127.0.0.12']);
    const lines = readFileSync(journal(), 'utf8').split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.at(-2)).toBe('{"time":"2026-12-07T00:00:00.000Z","durationMs":1,"op');
    expect(JSON.parse(lines.at(-1)!).argv).toEqual(['host', 'add', 'w2', 'u@127.0.0.12']);
    const doc = JSON.parse((await tillOk(home, ['log', '--json'])).stdout) as {
      operations: { argv: string[] }[];
      corrupt: unknown[];
    };
    expect(doc.operations.at(-1)!.argv).toEqual(['host', 'add', 'w2', 'u@127.0.0.12']);
    expect(doc.corrupt).toHaveLength(1);
  });
});
