import { mkdtempSync, rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { HostFailure } from '../../src/core/failure.js';
import { tillPaths } from '../../src/core/paths.js';
import {
  deployCompareRsync,
  deployPrepareFused,
  type CompareParams,
  type PrepareParams,
} from '../../src/protocol/deploy.js';
import { sendScriptLine } from '../../src/ssh/run-script.js';
import { syntheticResult } from '../../src/ssh/process.js';

const homes: string[] = [];
afterEach(() => {
  for (const h of homes.splice(0)) rmSync(h, { recursive: true, force: true });
});
const paths = () => {
  const home = mkdtempSync('/tmp/t-ssl-');
  homes.push(home);
  return tillPaths(home);
};

const prepare = (path: string): PrepareParams => ({
  path,
  id: '20261208T010000Z-abc123',
  lockInfo: 'who=u@m\nwhen=2026-12-08T01:00:00.000Z\nwhat=deploy\npid=1\nrun=r1\n',
  run: 'r1',
  forceUnlock: false,
  shared: [],
  adoptId: '20261208T010000Z-adopted',
  now: '2026-12-08T01:00:00.000Z',
  contentHash: 'abc123',
});

const compare = (path: string): CompareParams => ({
  path,
  contentHash: 'abc123',
  shared: [],
  installation: '',
  envBefore: '',
  envAfter: '',
});

/**
 * The fused prepare and the look sent as rsync's --rsync-path pass no gate and do not go
 * through runScript: sendScriptLine checks each argument itself, before any line leaves.
 */
describe('sendScriptLine checks the arguments where the line leaves', () => {
  it.each(['/', '~/', '~/app/', '~/.ssh', '/home/u/.till/x', "~/a'b", '~/a\nb'])(
    'refuses the deploy root %j before sending anything',
    async (root) => {
      const sent: string[] = [];
      const send = async (line: string) => (sent.push(line), syntheticResult({ exitCode: 0 }));
      const p = paths();
      const calls = [
        ['deploy-prepare-rsync-v3', sendScriptLine(p, 'h1', deployPrepareFused.versions[0]!, prepare(root), send)],
        [
          deployCompareRsync.versions[0]!.name,
          sendScriptLine(p, 'h1', deployCompareRsync.versions[0]!, compare(root), send),
        ],
      ] as const;
      for (const [name, call] of calls) {
        await expect(call).rejects.toBeInstanceOf(HostFailure);
        await expect(call).rejects.toMatchObject({
          failure: { kind: 'local', connection: false, retryable: false },
          message: expect.stringMatching(new RegExp(`^cannot send ${name}: deploy path `)),
        });
      }
      expect(sent).toEqual([]);
    },
  );

  it('sends a plain deploy root as one line', async () => {
    const sent: string[] = [];
    const send = async (line: string) => (sent.push(line), syntheticResult({ exitCode: 0 }));
    await sendScriptLine(paths(), 'h1', deployPrepareFused.versions[0]!, prepare('~/app'), send);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toContain("'~/app'");
  });
});
