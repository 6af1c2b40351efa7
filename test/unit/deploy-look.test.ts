import { describe, expect, it } from 'vitest';
import { DEFAULT_PER_ENDPOINT, type Target } from '../../src/core/fanout.js';
import type { TillPaths } from '../../src/core/paths.js';
import type { HostEntry } from '../../src/core/state/hosts.js';
import { lookParams, sendEarlyLooks, type LookSender, type LookSetup } from '../../src/ops/deploy-look.js';
import type { CompareParams, DeployReport } from '../../src/protocol/deploy.js';
import { syntheticResult } from '../../src/ssh/process.js';
import type { ScriptRun } from '../../src/ssh/run-script.js';

/**
 * Which hosts get a look before the walk, and how a look is handed to its job or ended.
 * The sender here records and waits to be ended (its signal); what a look does on a real
 * host is in test/e2e/deploy-unchanged.test.ts.
 */
const setup: LookSetup = { shared: ['logs'], installation: 'tekton', envLocal: 'A=1\n' };
const paths = {} as TillPaths;

function entry(port: number, current?: string | null): HostEntry {
  return {
    user: 'u',
    host: '127.0.0.1',
    port,
    status: 'deployed',
    added: '2024-01-01T00:00:00.000Z',
    tekton_path: '~/t',
    installations: [],
    ...(current !== undefined ? { deploy: { current, previous: null, at: '2024-01-01T00:00:00.000Z' } } : {}),
  };
}
const target = (name: string, port: number, current?: string | null): Target => ({
  name,
  entry: entry(port, current),
});

/** A sender that notes each look (host, params, signal) and never answers on its own. */
function recorder() {
  const sent: { name: string; params: CompareParams; signal: AbortSignal }[] = [];
  const send: LookSender = (name, params, signal) => {
    sent.push({ name, params, signal });
    return new Promise<ScriptRun<DeployReport>>((resolve) =>
      signal.addEventListener('abort', () => resolve({ version: 'x', result: syntheticResult({ cancelled: true }) })),
    );
  };
  return { sent, send };
}

const live = (hash: string) => `20240101T000000Z-${hash}`;

describe('sendEarlyLooks', () => {
  it('sends each host with a live release of a known content hash one look, as if the new release had that hash', () => {
    const { sent, send } = recorder();
    sendEarlyLooks(
      { paths, send },
      [
        target('a', 2201, live('abc123')),
        target('none', 2202),
        target('nothing-live', 2203, null),
        target('adopted', 2204, '20240101T000000Zadopted'),
        target('b', 2205, live('def456')),
      ],
      setup,
    );
    expect(sent.map((s) => s.name)).toEqual(['a', 'b']);
    expect(sent[0]!.params).toEqual(lookParams(entry(2201), 'abc123', setup));
    expect(sent[0]!.params).toMatchObject({
      path: '~/t',
      contentHash: 'abc123',
      shared: ['logs'],
      installation: 'tekton',
    });
    expect(sent[1]!.params.contentHash).toBe('def456');
  });

  it("sends no look for a live release id that is not one of till's: the hash sent is only ever 6 hex digits cut from the end", () => {
    const { sent, send } = recorder();
    sendEarlyLooks(
      { paths, send },
      [
        target('a', 2201, '20240101T000000Z-abc123; touch /tmp/x'),
        target('b', 2202, '20240101T000000Z-abc123\n'),
        target('c', 2203, '20240101T000000Z-ABC123'),
        target('d', 2204, '../../x-abc12'),
        target('e', 2205, '$(id)-abc123'),
      ],
      setup,
    );
    expect(sent.map((s) => [s.name, s.params.contentHash])).toEqual([['e', 'abc123']]);
    // the rest of the id never goes on the wire: the look's arguments are what a look for abc123 sends
    expect(sent[0]!.params).toEqual(lookParams(entry(2205), 'abc123', setup));
  });

  it('sends nothing when the source .env.local cannot be compared (a switch would write it anew)', () => {
    const { sent, send } = recorder();
    const looks = sendEarlyLooks({ paths, send }, [target('a', 2201, live('abc123'))], {
      ...setup,
      envLocal: 'X=\u0001\n',
    });
    expect(sent).toEqual([]);
    expect(lookParams(entry(2201), 'abc123', { ...setup, envLocal: 'X=\u0001\n' })).toBeUndefined();
    expect(looks.take('a', lookParams(entry(2201), 'abc123', setup)!, new AbortController().signal)).toBeUndefined();
  });

  it('counts slots as the fan-out would start hosts: --parallel hosts at once, a host without a look takes its slot too', () => {
    const { sent, send } = recorder();
    const list = [
      target('h0', 2200),
      target('h1', 2201, live('aaaaaa')),
      target('h2', 2202, live('aaaaaa')),
      target('h3', 2203, live('aaaaaa')),
    ];
    sendEarlyLooks({ paths, send }, list, setup, { parallel: 2 });
    expect(sent.map((s) => s.name)).toEqual(['h1']);
    const serial = recorder();
    sendEarlyLooks({ paths, send: serial.send }, list.slice(1), setup, { parallel: 1 });
    expect(serial.sent.map((s) => s.name)).toEqual(['h1']);
  });

  it('counts at most perEndpoint hosts on one address (one sshd), as the engine does', () => {
    const { sent, send } = recorder();
    const same = Array.from({ length: DEFAULT_PER_ENDPOINT + 3 }, (_, i) => target(`s${i}`, 2200, live('aaaaaa')));
    sendEarlyLooks({ paths, send }, [...same, target('other', 2299, live('aaaaaa'))], setup);
    expect(sent.map((s) => s.name)).toEqual([...same.slice(0, DEFAULT_PER_ENDPOINT).map((t) => t.name), 'other']);
    const two = recorder();
    sendEarlyLooks({ paths, send: two.send }, same, setup, { perEndpoint: 2 });
    expect(two.sent.map((s) => s.name)).toEqual(['s0', 's1']);
  });

  it('hands a look to its job once, with the same params only; another params ends it', async () => {
    const { sent, send } = recorder();
    const looks = sendEarlyLooks(
      { paths, send },
      [target('a', 2201, live('abc123')), target('b', 2202, live('abc123'))],
      setup,
    );
    const params = lookParams(entry(2201), 'abc123', setup)!;
    const job = new AbortController();
    const taken = looks.take('a', params, job.signal);
    expect(taken).toBeDefined();
    expect(looks.take('a', params, job.signal)).toBeUndefined();
    expect(sent[0]!.signal.aborted).toBe(false);
    // b was sent for another installation than its job asks about: ended, the job sends its own.
    expect(looks.take('b', { ...params, installation: 'other' }, job.signal)).toBeUndefined();
    expect(sent[1]!.signal.aborted).toBe(true);
    // The job's signal (Ctrl-C, --timeout) ends the look it took, with the job's reason.
    const reason = new DOMException('no result within 1 s', 'TimeoutError');
    job.abort(reason);
    expect(sent[0]!.signal.aborted).toBe(true);
    expect(sent[0]!.signal.reason).toBe(reason);
    expect((await taken!).result.cancelled).toBe(true);
  });

  it('a job whose signal is already aborted ends the look it takes', () => {
    const { sent, send } = recorder();
    const looks = sendEarlyLooks({ paths, send }, [target('a', 2201, live('abc123'))], setup);
    const job = new AbortController();
    job.abort();
    expect(looks.take('a', lookParams(entry(2201), 'abc123', setup)!, job.signal)).toBeDefined();
    expect(sent[0]!.signal.aborted).toBe(true);
  });

  it("keepFor ends, unread, the looks made for another content hash than the release's; cancel ends the rest", () => {
    const { sent, send } = recorder();
    const looks = sendEarlyLooks(
      { paths, send },
      [target('a', 2201, live('abc123')), target('b', 2202, live('def456')), target('c', 2203, live('abc123'))],
      setup,
    );
    looks.keepFor('20261207T000000Z-abc123');
    expect(sent.map((s) => [s.name, s.signal.aborted])).toEqual([
      ['a', false],
      ['b', true],
      ['c', false],
    ]);
    expect(looks.take('b', lookParams(entry(2202), 'def456', setup)!, new AbortController().signal)).toBeUndefined();
    const job = new AbortController();
    expect(looks.take('a', lookParams(entry(2201), 'abc123', setup)!, job.signal)).toBeDefined();
    looks.cancel();
    // a taken look is its job's to end; c, never taken, is ended
    expect(sent.map((s) => [s.name, s.signal.aborted])).toEqual([
      ['a', false],
      ['b', true],
      ['c', true],
    ]);
    job.abort();
    expect(sent[0]!.signal.aborted).toBe(true);
  });
});
