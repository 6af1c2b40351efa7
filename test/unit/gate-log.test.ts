import {
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { appendGateLog, GATE_LOG_MAX_BYTES, GATE_LOG_MAX_LINE, isDryRun, makeRelease } from '../../src/gate/main.js';

const home = mkdtempSync('/tmp/t-unit-glog-');
afterAll(() => rmSync(home, { recursive: true, force: true }));

describe("the gate's log writer", () => {
  it('appends timestamped lines to a 0600 file in a 0700 folder it makes', () => {
    const file = join(home, 'a', 'logs', 'gate.log');
    appendGateLog(file, 'allowed test from 127.0.0.1', new Date('2026-12-07T03:00:00.000Z'));
    appendGateLog(file, 'refused from 127.0.0.1: no', new Date('2026-12-07T03:00:01.000Z'));
    expect(readFileSync(file, 'utf8')).toBe(
      '2026-12-07T03:00:00.000Z allowed test from 127.0.0.1\n2026-12-07T03:00:01.000Z refused from 127.0.0.1: no\n',
    );
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(home, 'a', 'logs')).mode & 0o777).toBe(0o700);
  });

  it('writes one line a decision: a control character in it is escaped, never a line of its own', () => {
    const file = join(home, 'c', 'gate.log');
    const at = new Date('2026-12-07T03:00:00.000Z');
    appendGateLog(file, 'refused from 127.0.0.1: bad\n2026-12-07T03:00:00.000Z allowed test\r\x1b[2K\t', at);
    expect(readFileSync(file, 'utf8')).toBe(
      '2026-12-07T03:00:00.000Z refused from 127.0.0.1: bad\\n2026-12-07T03:00:00.000Z allowed test\\r\\u001b[2K\\t\n',
    );
    // DEL and the C1 controls too (a terminal obeys CSI U+009B and OSC U+009D as ESC [ and ESC ]);
    // JSON.stringify would leave them as they are, and U+00A0 on is text
    const c1 = join(home, 'c', 'c1.log');
    appendGateLog(c1, 'x\x7f\u0080\u0085\u009b2J\u009d0;forged\u009c\u00a0é', at);
    expect(readFileSync(c1, 'utf8')).toBe(
      '2026-12-07T03:00:00.000Z x\\u007f\\u0080\\u0085\\u009b2J\\u009d0;forged\\u009c\u00a0é\n',
    );
  });

  it('keeps at most GATE_LOG_MAX_LINE characters of a decision: ten long refusals cannot push the log out', () => {
    const file = join(home, 'd', 'gate.log');
    const at = new Date('2026-12-07T03:00:00.000Z');
    appendGateLog(file, 'allowed deploy-switch-v5 from 127.0.0.1', at);
    const long = `refused from 127.0.0.1: ${JSON.stringify('x' + 'A'.repeat(120_000))} is not one of till's operations`;
    for (let i = 0; i < 10; i += 1) appendGateLog(file, long, at);
    const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    expect(lines).toHaveLength(11);
    expect(lines[0]).toBe('2026-12-07T03:00:00.000Z allowed deploy-switch-v5 from 127.0.0.1');
    expect(lines[1]).toBe(`2026-12-07T03:00:00.000Z ${long.slice(0, GATE_LOG_MAX_LINE)}…`);
    // a line that escapes to more than the bound is cut after escaping
    appendGateLog(file, '\x1b'.repeat(2000), at);
    expect(readFileSync(file, 'utf8').split('\n').filter(Boolean).pop()).toBe(
      `2026-12-07T03:00:00.000Z ${'\\u001b'.repeat(GATE_LOG_MAX_LINE / 6 + 1).slice(0, GATE_LOG_MAX_LINE)}…`,
    );
  });

  it('renames a log the line would take past the limit to gate.log.1, replacing the older one', () => {
    const dir = join(home, 'b');
    const file = join(dir, 'gate.log');
    const at = new Date('2026-12-07T03:00:00.000Z');
    const line = (m: string) => `${at.toISOString()} ${m}\n`;
    // exactly at the limit after the line: kept
    appendGateLog(file, 'first', at);
    writeFileSync(file, 'x'.repeat(GATE_LOG_MAX_BYTES - Buffer.byteLength(line('fits'))));
    writeFileSync(`${file}.1`, 'older');
    appendGateLog(file, 'fits', at);
    expect(statSync(file).size).toBe(GATE_LOG_MAX_BYTES);
    expect(readFileSync(`${file}.1`, 'utf8')).toBe('older');
    // one byte more: rotated
    appendGateLog(file, 'next', at);
    expect(readFileSync(file, 'utf8')).toBe(line('next'));
    expect(statSync(`${file}.1`).size).toBe(GATE_LOG_MAX_BYTES);
    expect(readdirSync(dir).sort()).toEqual(['gate.log', 'gate.log.1']);
  });

  it('throws when the line cannot be written (the gate then decides all the same)', () => {
    // /dev/full refuses every write with ENOSPC, like a full disk
    expect(() => appendGateLog('/dev/full', 'allowed test from 127.0.0.1')).toThrow(/ENOSPC/);
  });
});

describe('the release folder the gate makes before an upload', () => {
  it('is made with the releases folder when none is there, and a release already there is left as it is', () => {
    const root = join(home, 'mk', 'app');
    expect(makeRelease(`${root}.till/releases/r1`)).toBe(true);
    expect(statSync(`${root}.till/releases/r1`).isDirectory()).toBe(true);
    // a link an older gate let an upload make: not followed, not replaced
    symlinkSync(join(home, 'elsewhere'), `${root}.till/releases/r2`);
    expect(makeRelease(`${root}.till/releases/r2`)).toBe(false);
    expect(lstatSync(`${root}.till/releases/r2`).isSymbolicLink()).toBe(true);
    expect(readlinkSync(`${root}.till/releases/r2`)).toBe(join(home, 'elsewhere'));
    expect(readdirSync(home)).not.toContain('elsewhere');
    writeFileSync(`${root}.till/releases/r1/f`, 'x');
    expect(makeRelease(`${root}.till/releases/r1`)).toBe(false);
    expect(readFileSync(`${root}.till/releases/r1/f`, 'utf8')).toBe('x');
  });

  it('is not made for a dry run (-n before the compatibility letters, or --dry-run)', () => {
    expect(isDryRun(['--server', '-nlogDtprze.iLsfxCIvu', '.', 'x'])).toBe(true);
    expect(isDryRun(['--server', '-logDtprze.iLsfxCIvu', '--dry-run', '.', 'x'])).toBe(true);
    expect(isDryRun(['--server', '-logDtprze.iLsfxCIvu', '.', 'x'])).toBe(false);
    // an n among the letters after e. is a compatibility flag, not a dry run
    expect(isDryRun(['--server', '-logDtprze.iLsnfxCIvu', '.', 'x'])).toBe(false);
    expect(isDryRun(['--server', '--delete', '.', 'x'])).toBe(false);
  });
});
