import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tillPaths } from '../../src/core/paths.js';
import { isCshHost, markCshHost } from '../../src/ssh/csh-hosts.js';

const homes: string[] = [];
const freshPaths = () => {
  const home = mkdtempSync('/tmp/t-cshh-');
  homes.push(home);
  return tillPaths(home);
};
const listed = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean).sort();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

afterEach(() => {
  for (const h of homes.splice(0)) rmSync(h, { recursive: true, force: true });
});

describe('state/csh-hosts', () => {
  it('a host marked as not csh, and never listed, writes nothing', async () => {
    const paths = freshPaths();
    await markCshHost(paths, 'web-1', false);
    expect(existsSync(join(paths.stateDir, 'csh-hosts'))).toBe(false);
    expect(isCshHost(paths, 'web-1')).toBe(false);
  });

  it('many hosts of one fan-out marked at staggered times: the file ends with every one of them', async () => {
    const paths = freshPaths();
    const file = join(paths.stateDir, 'csh-hosts');
    const names = Array.from({ length: 60 }, (_, i) => `h${i}`);
    // As host test --all's answers arrive: each mark starts while earlier writes are under way.
    await Promise.all(names.map(async (n, i) => (await sleep((i * 7) % 13), markCshHost(paths, n, true))));
    expect(listed(file)).toEqual([...names].sort());
    // Half of them leave the list (a login shell changed), again at staggered times.
    const leaving = names.filter((_, i) => i % 2 === 0);
    await Promise.all(leaving.map(async (n, i) => (await sleep((i * 5) % 11), markCshHost(paths, n, false))));
    expect(listed(file)).toEqual(names.filter((_, i) => i % 2 === 1).sort());
    for (const n of names) expect(isCshHost(paths, n)).toBe(leaving.includes(n) ? false : true);
  });
});
