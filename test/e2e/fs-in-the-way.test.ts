/**
 * A state file till cannot write or read because the file system is in the way (a
 * directory where a file goes, a file where a directory goes): exit 4 naming the file and
 * saying whether the change was kept, never an internal error.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempHome, till, tillOk } from '../lab/till.js';

let home: string;
let cleanup: () => void;
const hosts = () => Object.keys(JSON.parse(readFileSync(join(home, 'hosts-local.json'), 'utf8')).hosts);

beforeAll(async () => {
  ({ home, cleanup } = tempHome());
  await tillOk(home, ['host', 'init']);
});

afterAll(() => cleanup());

/** `file` replaced by an empty directory while `run` runs. */
async function withDirectoryAt(file: string, run: () => Promise<void>): Promise<void> {
  rmSync(join(home, file), { force: true });
  mkdirSync(join(home, file));
  try {
    await run();
  } finally {
    rmSync(join(home, file), { recursive: true, force: true });
  }
}

describe('a directory in the way of a state file', () => {
  for (const file of ['hosts-local.json.sha256', 'seal.key']) {
    it(`${file}: exit 4 naming it, and the change is kept`, async () => {
      await withDirectoryAt(file, async () => {
        const r = await till(home, ['host', 'add', `s-${file.length}`, 'u@127.0.0.61']);
        expect(r.code, r.stderr).toBe(4);
        expect(r.stderr).toContain(`could not write ${join(home, file)}: a directory is in the way`);
        expect(r.stderr).toContain('hosts-local.json holds the change');
        expect(r.stderr).not.toContain('internal error');
        expect(hosts()).toContain(`s-${file.length}`);
      });
      await tillOk(home, ['host', 'list']);
    });
  }

  it('ssh/config: every command exits 4 naming it; a change says it was kept', async () => {
    await withDirectoryAt('ssh/config', async () => {
      const list = await till(home, ['host', 'list']);
      expect(list.code, list.stderr).toBe(4);
      expect(list.stderr).toContain(`could not write ${join(home, 'ssh/config')}: a directory is in the way`);
      const add = await till(home, ['host', 'add', 's3', 'u@127.0.0.63']);
      expect(add.code, add.stderr).toBe(4);
      expect(add.stderr).toContain('hosts-local.json holds the change');
      expect(hosts()).toContain('s3');
    });
    expect((await tillOk(home, ['host', 'list'])).stdout).toContain('s3');
  });
});

describe('a file in the way of the state folder', () => {
  it('metrics exits 4 naming the folder, as status does', async () => {
    rmSync(join(home, 'state'), { recursive: true, force: true });
    writeFileSync(join(home, 'state'), '');
    try {
      const r = await till(home, ['metrics']);
      expect(r.code, r.stderr).toBe(4);
      expect(r.stderr).toContain(join(home, 'state'));
      expect(r.stderr).not.toContain('internal error');
    } finally {
      rmSync(join(home, 'state'), { force: true });
    }
  });
});
