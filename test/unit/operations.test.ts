/**
 * logs/operations.jsonl: appends that stay whole under concurrency (real processes, records
 * far above PIPE_BUF, while the file rotates), rotation bounded in size and in files, and
 * a reader that reports and skips what is not a record.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  appendOperation,
  prepareOperations,
  matchesCommand,
  OPERATIONS_FILE,
  readOperations,
  type OperationRecord,
} from '../../src/core/state/operations.js';

let dir: string;
beforeAll(async () => {
  dir = mkdtempSync('/tmp/t-ops-');
  await prepareOperations();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function record(over: Partial<OperationRecord> = {}): OperationRecord {
  return {
    time: '2026-01-05T10:00:00.000Z',
    durationMs: 12,
    operator: 'op@box',
    command: 'host exec',
    argv: ['host', 'exec', 'web1', '--', 'uptime'],
    targets: ['web1'],
    results: [{ host: 'web1', status: 'ok', exitCode: 0, durationMs: 10, error: null }],
    exitCode: 0,
    interrupted: null,
    error: null,
    version: '0.1.0',
    ...over,
  };
}

function freshDir(name: string): string {
  const d = join(dir, name);
  return d;
}

describe('appends from many processes at once', () => {
  it('lose no record and interleave none, 100 KB records, while the file rotates', async () => {
    // The module itself, bundled and run by 8 node processes (each appends 25 records).
    const bundle = join(dir, 'ops.mjs');
    await build({
      entryPoints: [resolve('src/core/state/operations.ts')],
      outfile: bundle,
      bundle: true,
      platform: 'node',
      format: 'esm',
      logLevel: 'warning',
      banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
    });
    const logs = freshDir('concurrent');
    const script = join(dir, 'writer.mjs');
    const fs = await import('node:fs');
    fs.writeFileSync(
      script,
      `import { appendOperation, prepareOperations } from ${JSON.stringify(bundle)};
await prepareOperations();
const [logs, w] = process.argv.slice(2);
for (let i = 0; i < 25; i++) {
  const pad = String(w).repeat(100_000);
  appendOperation(logs, { time: new Date().toISOString(), durationMs: 1, operator: 'w' + w, command: 'host exec',
    argv: ['host', 'exec', pad], targets: ['h' + i], results: [], exitCode: 0, interrupted: null, error: null,
    version: '0', seq: i }, { maxBytes: 3_000_000, keep: 20 });
}
`,
    );
    const writers = Array.from(
      { length: 8 },
      (_, w) =>
        new Promise<number | null>((res) => {
          const child = spawn(process.execPath, [script, logs, String(w)], { stdio: 'inherit' });
          child.on('close', res);
        }),
    );
    expect(await Promise.all(writers)).toEqual(Array(8).fill(0));
    // 200 records of ~100 KB: about 20 MB in files of at most 3 MB, all kept (20 old files).
    const files = readdirSync(logs).filter((f) => f.startsWith(OPERATIONS_FILE));
    expect(files.length).toBeGreaterThan(5);
    for (const f of files) expect(statSync(join(logs, f)).size).toBeLessThanOrEqual(3_000_000);
    const { records, corrupt } = await readOperations(logs, {}, { keep: 20 });
    expect(corrupt).toEqual([]);
    expect(records).toHaveLength(200);
    const seen = new Set<string>();
    for (const r of records) {
      const w = r.operator.slice(1);
      // Each record whole: its padding is its own writer's digit, all 100,000 of it.
      expect(r.argv[2]).toBe(w.repeat(100_000));
      seen.add(`${w}:${String(r.seq)}`);
    }
    expect(seen.size).toBe(200);
  }, 60_000);
});

describe('rotation', () => {
  it('keeps at most `keep` old files, each under the bound, dropping the oldest records', async () => {
    const logs = freshDir('rotate');
    const line = `${JSON.stringify(record())}\n`.length;
    // Room for 3 records per file, 2 old files: the newest 7–9 survive of 20.
    for (let i = 0; i < 20; i += 1)
      appendOperation(logs, record({ durationMs: i }), { maxBytes: line * 3 + 10, keep: 2 });
    expect(readdirSync(logs).sort()).toEqual([OPERATIONS_FILE, `${OPERATIONS_FILE}.1`, `${OPERATIONS_FILE}.2`]);
    for (const f of readdirSync(logs)) expect(statSync(join(logs, f)).size).toBeLessThanOrEqual(line * 3 + 10);
    const { records } = await readOperations(logs, {}, { keep: 2 });
    const kept = records.map((r) => r.durationMs);
    expect(kept.at(-1)).toBe(19);
    expect(kept).toEqual(Array.from({ length: kept.length }, (_, i) => 20 - kept.length + i));
    expect(kept.length).toBeGreaterThanOrEqual(7);
  });

  it('a record larger than the bound still gets written, alone in its file', async () => {
    const logs = freshDir('big');
    appendOperation(logs, record(), { maxBytes: 100, keep: 1 });
    appendOperation(logs, record({ argv: ['x'.repeat(500)] }), { maxBytes: 100, keep: 1 });
    const { records } = await readOperations(logs, {}, { keep: 1 });
    expect(records.map((r) => r.argv[0]!.length)).toEqual([4, 500]);
  });
});

describe('reading', () => {
  it('reports and skips a line that is not JSON or not a record, and reads on', async () => {
    const logs = freshDir('corrupt');
    appendOperation(logs, record({ durationMs: 1 }));
    appendFileSync(join(logs, OPERATIONS_FILE), '{"time": "2026-01-05T10:00:00.000Z", "trunc\n');
    appendFileSync(join(logs, OPERATIONS_FILE), '{"time": "yesterday"}\n');
    appendOperation(logs, record({ durationMs: 2 }));
    const { records, corrupt } = await readOperations(logs);
    expect(records.map((r) => r.durationMs)).toEqual([1, 2]);
    expect(corrupt).toEqual([
      { file: join(logs, OPERATIONS_FILE), line: 2, error: 'not valid JSON' },
      {
        file: join(logs, OPERATIONS_FILE),
        line: 3,
        error: expect.stringMatching(/^not an operation record at time: not an ISO-8601 time/),
      },
    ]);
  });

  it('filters by host, command, time and the newest N; oldest first', async () => {
    const logs = freshDir('filters');
    const at = (h: number) => `2026-01-05T${String(h).padStart(2, '0')}:00:00.000Z`;
    appendOperation(logs, record({ time: at(1), command: 'host deploy', targets: ['web1', 'web2'], results: [] }));
    appendOperation(logs, record({ time: at(3), command: 'host exec', targets: ['db1'], results: [] }));
    appendOperation(logs, record({ time: at(2), command: 'host deploy', targets: ['db1'], results: [] }));
    appendOperation(logs, record({ time: at(4), command: 'host deployx', targets: ['web1'], results: [] }));
    const times = async (f: Parameters<typeof readOperations>[1]) =>
      (await readOperations(logs, f)).records.map((r) => Number(r.time.slice(11, 13)));
    expect(await times({})).toEqual([1, 2, 3, 4]);
    expect(await times({ command: 'deploy' })).toEqual([1, 2]);
    expect(await times({ command: 'host deploy' })).toEqual([1, 2]);
    expect(await times({ host: 'db1' })).toEqual([2, 3]);
    expect(await times({ since: new Date(at(2)) })).toEqual([2, 3, 4]);
    expect(await times({ last: 2 })).toEqual([3, 4]);
    expect(await times({ host: 'web1', last: 1 })).toEqual([4]);
    expect(matchesCommand(record({ command: 'host group add' }), 'group add')).toBe(true);
    expect(matchesCommand(record({ command: 'host group add' }), 'host add')).toBe(false);
  });

  it('an empty or missing journal reads as no records', async () => {
    expect(await readOperations(join(dir, 'nothing-here'))).toEqual({ records: [], corrupt: [] });
    expect(existsSync(join(dir, 'nothing-here'))).toBe(false);
  });

  it('writes the file private (0600)', () => {
    const logs = freshDir('mode');
    appendOperation(logs, record());
    expect(statSync(join(logs, OPERATIONS_FILE)).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(logs, OPERATIONS_FILE), 'utf8').endsWith('\n')).toBe(true);
  });
});
