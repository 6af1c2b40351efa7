import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import {
  appendHistory,
  emptyHealthHistory,
  healthHistorySchema,
  type HealthSnapshot,
} from '../../src/core/state/health.js';
import { hostEntrySchema } from '../../src/core/state/hosts-schema.js';
import { formatBytes, parseSizeThreshold } from '../../src/core/units.js';
import {
  DEFAULT_THRESHOLDS,
  PingTimer,
  applyHealth,
  downSnapshot,
  evaluateHealth,
  snapshotOf,
} from '../../src/ops/health.js';
import {
  health,
  HEALTH_BEGIN,
  HEALTH_END,
  HEALTH_PING,
  HEALTH_PONG,
  parseHealthOutput,
} from '../../src/protocol/probes.js';
import { commandLine } from '../../src/protocol/wire.js';

const HEALTH_SCRIPT_V2 = health.versions[0]!.text;
const HEALTH_SCRIPT = health.versions[1]!.text;
const healthCommand = (tektonPath: string, at = 0) => commandLine(health.versions[at]!, { tektonPath });
/** The quoted program after `what` in the probe's text (the text is frozen: its pieces are tested where they are). */
const programAfter = (what: string) => new RegExp(`${what} '([^']*)'`).exec(HEALTH_SCRIPT)![1]!;
const VM_STAT_AWK = programAfter('vm_stat 2>/dev/null \\| awk');
const BOOTTIME_SED = programAfter('sed -n');
const DF_AWK = programAfter('df -Pk "\\$d" 2>/dev/null \\| awk');
import { historyLimits, thresholdsFrom } from '../../src/cli/commands/health.js';

const tmp = mkdtempSync('/tmp/t-hu-');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function sh(script: string, input?: string): string {
  return execFileSync('sh', ['-c', script], { encoding: 'utf8', input, env: { PATH: '/usr/bin:/bin', HOME: tmp } });
}

describe('the health script', () => {
  it('runs under a plain POSIX sh and reports this machine', () => {
    const out = sh(healthCommand(join(tmp, 'missing/deeper/Tekton')));
    const p = parseHealthOutput(out);
    expect(p.complete).toBe(true);
    expect(p.os).toBe('Linux');
    expect(p.arch).toMatch(/\S+/);
    expect(p.cpus).toBeGreaterThan(0);
    expect(p.load1).not.toBeNull();
    expect(p.load15).not.toBeNull();
    expect(p.uptimeSec).toBeGreaterThan(0);
    expect(p.memTotalBytes).toBeGreaterThan(p.memAvailableBytes!);
    expect(p.memAvailableBytes).toBeGreaterThan(0);
    expect(p.diskTotalBytes).toBeGreaterThan(p.diskFreeBytes!);
    expect(p.diskFreeBytes).toBeGreaterThan(0);
    // tekton_path does not exist yet: the disk is measured at its nearest existing parent.
    expect(p.diskPath).toBe(tmp);
    expect(p.release).toBeNull();
    expect(p.tillVersion).toBeNull();
  });

  it('reads the release from the tekton_path symlink and the version from ~/.till/bin/till', () => {
    mkdirSync(join(tmp, 'releases/20261126-0301-ab12'), { recursive: true });
    symlinkSync('releases/20261126-0301-ab12/', join(tmp, 'Tekton'));
    mkdirSync(join(tmp, '.till/bin'), { recursive: true });
    sh(`printf '#!/bin/sh\\necho 1.2.3\\n' > "$HOME/.till/bin/till" && chmod +x "$HOME/.till/bin/till"`);
    const p = parseHealthOutput(sh(healthCommand('~/Tekton')));
    expect(p.release).toBe('20261126-0301-ab12');
    expect(p.tillVersion).toBe('1.2.3');
    expect(p.diskPath).toBe(join(tmp, 'Tekton'));
  });

  it('quotes the path: a hostile tekton_path stays a literal word', () => {
    const marker = join(tmp, 'pwned');
    const script = healthCommand(`/tmp/x'; touch ${marker}; echo '`);
    expect(parseHealthOutput(sh(script)).complete).toBe(true);
    expect(() => execFileSync('test', ['-e', marker])).toThrow();
    expect(healthCommand('~/T').startsWith("sh -c '")).toBe(true);
    expect(healthCommand('~/T')).not.toContain('\n');
  });

  it('reads macOS vm_stat, kern.boottime and a df line with spaces the way the script does', () => {
    const vmStat = [
      'Mach Virtual Memory Statistics: (page size of 16384 bytes)',
      'Pages free:                               10000.',
      'Pages active:                            200000.',
      'Pages inactive:                           20000.',
      'Pages speculative:                         3000.',
      'Pages throttled:                              0.',
    ].join('\n');
    expect(execFileSync('awk', [VM_STAT_AWK], { input: vmStat, encoding: 'utf8' })).toBe(
      `mem_available_bytes=${33000 * 16384}\n`,
    );
    expect(
      execFileSync('sed', ['-n', BOOTTIME_SED], {
        input: '{ sec = 1700000000, usec = 123456 } Tue Nov 14 22:13:20 2023\n',
        encoding: 'utf8',
      }),
    ).toBe('1700000000\n');
    const df =
      'Filesystem 1024-blocks Used Available Capacity Mounted on\nmap auto home 1000 400 600 40% /System/Volumes/Data/home\n';
    expect(execFileSync('awk', [DF_AWK], { input: df, encoding: 'utf8' })).toBe(
      'disk_total_kb=1000\ndisk_free_kb=600\n',
    );
  });
});

describe('the health script on a macOS host (fake uname, sysctl, vm_stat on PATH; /proc masked)', () => {
  it('runs the whole Darwin branch and reports what the tools said', () => {
    const bin = join(tmp, 'darwin-bin');
    mkdirSync(bin, { recursive: true });
    const tool = (name: string, body: string) => {
      writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
      chmodSync(join(bin, name), 0o755);
    };
    tool('uname', 'case $1 in -s) echo Darwin ;; -m) echo arm64 ;; *) echo Darwin ;; esac');
    const boot = Math.floor(Date.now() / 1000) - 7200;
    tool(
      'sysctl',
      [
        'case "$2" in',
        `kern.boottime) echo "{ sec = ${boot}, usec = 5 } Thu Nov 26 08:00:00 2026" ;;`,
        'vm.loadavg) echo "{ 1.25 1.50 1.75 }" ;;',
        'hw.memsize) echo 17179869184 ;;',
        'hw.ncpu) echo 8 ;;',
        '*) exit 1 ;;',
        'esac',
      ].join('\n'),
    );
    // macOS has getconf, and no nproc: the CPU count then comes from sysctl hw.ncpu.
    tool('getconf', 'exit 1');
    tool('nproc', 'exit 1');
    tool(
      'vm_stat',
      [
        'echo "Mach Virtual Memory Statistics: (page size of 16384 bytes)"',
        'echo "Pages free:                               10000."',
        'echo "Pages active:                            200000."',
        'echo "Pages inactive:                           20000."',
        'echo "Pages speculative:                         3000."',
      ].join('\n'),
    );
    // A private mount namespace with an empty /proc: the script cannot take the Linux branch.
    const out = execFileSync(
      'unshare',
      ['-m', 'sh', '-c', `mount -t tmpfs none /proc && ${healthCommand(join(tmp, 'mac/Tekton'))}`],
      {
        encoding: 'utf8',
        env: { PATH: `${bin}:/usr/bin:/bin`, HOME: tmp },
      },
    );
    const p = parseHealthOutput(out);
    expect(p.complete).toBe(true);
    expect(p).toMatchObject({
      os: 'Darwin',
      arch: 'arm64',
      load1: 1.25,
      load5: 1.5,
      load15: 1.75,
      cpus: 8,
      memTotalBytes: 17179869184,
      memAvailableBytes: 33000 * 16384,
    });
    expect(p.uptimeSec).toBeGreaterThanOrEqual(7200);
    expect(p.uptimeSec).toBeLessThan(7200 + 600);
    expect(p.diskFreeBytes).toBeGreaterThan(0);
    expect(p.diskPath).toBe(tmp);
  });
});

describe('the latency round trip (PingTimer)', () => {
  it('answers the ping on stdin at once and times the pong that follows it, ignoring a noisy shell', () => {
    const timer = new PingTimer();
    const written: string[] = [];
    let ended = false;
    timer.attach({
      end: (chunk?: unknown) => {
        written.push(String(chunk));
        ended = true;
      },
    } as unknown as NodeJS.WritableStream);
    timer.onStdout(Buffer.from(`motd says ${HEALTH_PONG}\n${HEALTH_PONG}x\n`));
    expect(ended).toBe(false);
    timer.onStdout(Buffer.from(`till_health_pi`));
    expect(ended).toBe(false);
    timer.onStdout(Buffer.from(`ng=1\n`));
    expect(written).toEqual(['\n']);
    // A pong printed before the ping (the motd above) does not count.
    expect(timer.latencyMs).toBeNull();
    timer.onStdout(Buffer.from(`${HEALTH_PONG}\n${HEALTH_BEGIN}\n`));
    expect(timer.latencyMs).toBeGreaterThanOrEqual(1);
  });

  it('finds a ping glued to a greeting printed without a newline', () => {
    const timer = new PingTimer();
    const written: string[] = [];
    timer.attach({ end: (chunk?: unknown) => void written.push(String(chunk)) } as unknown as NodeJS.WritableStream);
    timer.onStdout(Buffer.from(`welcome ${HEALTH_PING}\r\n`));
    expect(written).toEqual(['\n']);
    timer.onStdout(Buffer.from(`${HEALTH_PONG}\n`));
    expect(timer.latencyMs).toBeGreaterThanOrEqual(1);
  });

  it('closes stdin anyway when no ping comes in time, so the script never waits for ever', async () => {
    const timer = new PingTimer(50);
    const written: string[] = [];
    timer.attach({ end: (chunk?: unknown) => void written.push(String(chunk)) } as unknown as NodeJS.WritableStream);
    timer.onStdout(Buffer.from('a shell that hides the ping\n'));
    expect(written).toEqual([]);
    await vi.waitFor(() => expect(written).toEqual(['\n']));
    expect(timer.latencyMs).toBeNull();
  });

  it('the v2 script waits for the answer before its pong, and runs on when stdin is closed', () => {
    expect(HEALTH_SCRIPT_V2.startsWith(`echo ${HEALTH_PING}; read -r _l; echo ${HEALTH_PONG}; `)).toBe(true);
    expect(HEALTH_SCRIPT_V2.endsWith(HEALTH_SCRIPT)).toBe(true);
    const out = execFileSync('sh', ['-c', healthCommand(join(tmp, 'x'))], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: '/usr/bin:/bin', HOME: tmp },
    });
    expect(out.indexOf(HEALTH_PONG)).toBeGreaterThan(out.indexOf(HEALTH_PING));
    expect(parseHealthOutput(out).complete).toBe(true);
  });
});

describe('parseHealthOutput', () => {
  it('ignores a noisy login shell and keeps only known numeric values', () => {
    const out = [
      'Welcome to the machine!',
      'load=9 9 9',
      HEALTH_BEGIN,
      'os=Darwin',
      'arch=arm64',
      'uptime=86400',
      'load= 1.50 2.00 2.50 ',
      'cpus=8',
      'mem_total_bytes=17179869184',
      'mem_available_bytes=4294967296',
      'disk_total_kb=1000',
      'disk_free_kb=250',
      'till_version=not a version',
      'release=r1',
      HEALTH_END,
      'bye',
    ].join('\n');
    const p = parseHealthOutput(out);
    expect(p).toMatchObject({
      complete: true,
      os: 'Darwin',
      arch: 'arm64',
      uptimeSec: 86400,
      load1: 1.5,
      load5: 2,
      load15: 2.5,
      cpus: 8,
    });
    expect(p.memTotalBytes).toBe(17179869184);
    expect(p.memAvailableBytes).toBe(4294967296);
    expect(p.diskFreeBytes).toBe(250 * 1024);
    expect(p.tillVersion).toBeNull();
    expect(p.release).toBe('r1');
  });

  it('drops control characters from remote text (no terminal escapes reach a screen)', () => {
    const p = parseHealthOutput(`${HEALTH_BEGIN}\nrelease=r\x1b[2J1\x07 é\nos=Lin\x9bux\n${HEALTH_END}\n`);
    expect(p.release).toBe('r[2J1 é');
    expect(p.os).toBe('Linux');
  });

  it('falls back to MemFree on an old kernel and marks a cut-short output incomplete', () => {
    const p = parseHealthOutput(`${HEALTH_BEGIN}\nmem_total_kb=100\nmem_free_kb=40\ncpus=\n`);
    expect(p.complete).toBe(false);
    expect(p.memAvailableBytes).toBe(40 * 1024);
    expect(p.cpus).toBeNull();
  });
});

describe('thresholds', () => {
  const probe = {
    uptimeSec: 1,
    load1: 1,
    load5: 1,
    load15: 1,
    cpus: 2,
    memTotalBytes: 8 * 1024 ** 3,
    memAvailableBytes: 4 * 1024 ** 3,
    diskFreeBytes: 50 * 1024 ** 3,
    diskTotalBytes: 100 * 1024 ** 3,
    diskPath: '/srv',
    os: 'Linux',
    arch: 'x86_64',
    tillVersion: null,
    release: null,
  };

  it('a busy but healthy host is not degraded by the defaults', () => {
    expect(evaluateHealth({ ...probe, load1: 7.9 }, DEFAULT_THRESHOLDS)).toEqual([]);
  });

  it('default disk: below 10 % or below 1 GiB', () => {
    expect(evaluateHealth({ ...probe, diskFreeBytes: 9 * 1024 ** 3 }, DEFAULT_THRESHOLDS)[0]).toMatch(
      /^disk: 9 GiB free \(9%\) at \/srv, below 10%$/,
    );
    expect(
      evaluateHealth(
        { ...probe, diskFreeBytes: 0.5 * 1024 ** 3, diskTotalBytes: 2 * 1024 ** 3 },
        DEFAULT_THRESHOLDS,
      )[0],
    ).toMatch(/below 1 GiB$/);
  });

  it('load above 4 × cores, memory when asked, and 0 turns the disk check off', () => {
    expect(evaluateHealth({ ...probe, load1: 8.5 }, DEFAULT_THRESHOLDS)).toEqual([
      'load: load1 8.5 above 8 (4 × 2 cores)',
    ]);
    const t = thresholdsFrom({
      diskMin: [parseSizeThreshold('--disk-min', '0')],
      memMin: [parseSizeThreshold('--mem-min', '60%')],
      loadMax: 0.25,
    });
    expect(t.diskMin).toEqual([]);
    const reasons = evaluateHealth({ ...probe, diskFreeBytes: 1 }, t);
    expect(reasons).toHaveLength(2);
    expect(reasons[0]).toMatch(/^load:/);
    expect(reasons[1]).toMatch(/^memory: 4 GiB available \(50%\), below 60%$/);
  });

  it('parses sizes and percentages, and refuses nonsense', () => {
    expect(parseSizeThreshold('--disk-min', '10%')).toEqual({ percent: 10 });
    expect(parseSizeThreshold('--disk-min', '1G')).toEqual({ bytes: 1024 ** 3 });
    expect(parseSizeThreshold('--disk-min', '512MiB')).toEqual({ bytes: 512 * 1024 ** 2 });
    expect(parseSizeThreshold('--disk-min', '1.5k')).toEqual({ bytes: 1536 });
    expect(parseSizeThreshold('--disk-min', '2048')).toEqual({ bytes: 2048 });
    expect(() => parseSizeThreshold('--disk-min', '120%')).toThrow(/0 to 100/);
    expect(() => parseSizeThreshold('--disk-min', 'lots')).toThrow(/--disk-min takes a size/);
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(null)).toBe('-');
  });
});

describe('snapshots on the host entry', () => {
  const entry = () =>
    hostEntrySchema.parse({
      user: 'u',
      host: 'h.example',
      port: 22,
      status: 'untested',
      added: '2026-01-01T00:00:00Z',
      tekton_path: '~/T',
    });
  const probe = parseHealthOutput(
    `${HEALTH_BEGIN}\nos=Linux\narch=x86_64\ncpus=4\nmem_total_kb=1024\nmem_available_kb=512\ntill_version=0.1.0\n${HEALTH_END}\n`,
  );

  it('an up host raises the status and records metadata; the entry still validates', () => {
    const e = entry();
    applyHealth(e, snapshotOf(new Date('2026-01-02T00:00:00Z'), probe, 12, DEFAULT_THRESHOLDS));
    expect(e.status).toBe('till-ready');
    expect(e.metadata).toEqual({ os: 'Linux', arch: 'x86_64', cores: 4, memory: 1024 * 1024 });
    expect(e.health?.latencyMs).toBe(12);
    expect(hostEntrySchema.parse(JSON.parse(JSON.stringify(e))).health?.up).toBe(true);
  });

  it('a down host keeps its status and metadata and records up: false', () => {
    const e = entry();
    e.status = 'deployed';
    e.metadata = { os: 'Linux', arch: 'x86_64', cores: 2, memory: 1 };
    applyHealth(e, downSnapshot(new Date(), 'connection refused'));
    expect(e.status).toBe('deployed');
    expect(e.metadata.cores).toBe(2);
    expect(e.health).toMatchObject({
      up: false,
      latencyMs: null,
      degraded: false,
      reasons: ['down: connection refused'],
    });
  });
});

describe('the bounded history', () => {
  const snap = (minute: number, up = true): HealthSnapshot => ({
    ...downSnapshot(new Date(Date.UTC(2026, 0, 1, 0, minute)), 'x'),
    up,
    latencyMs: up ? minute : null,
  });

  it('keeps the newest points per host, then the newest over all hosts, and drops removed hosts', () => {
    const h = emptyHealthHistory();
    for (let m = 0; m < 10; m++)
      appendHistory(
        h,
        new Map([
          ['a', snap(m)],
          ['b', snap(m, m % 2 === 0)],
        ]),
        { perHost: 4, total: 100 },
      );
    expect(h.hosts.a!.map((p) => p.latencyMs)).toEqual([6, 7, 8, 9]);
    expect(h.hosts.b).toHaveLength(4);
    appendHistory(h, new Map([['a', snap(20)]]), { perHost: 4, total: 5 });
    const total = Object.values(h.hosts).reduce((n, l) => n + l.length, 0);
    expect(total).toBe(5);
    expect(h.hosts.a!.at(-1)!.latencyMs).toBe(20);
    appendHistory(h, new Map([['a', snap(21)]]), { perHost: 4, total: 100 }, new Set(['a']));
    expect(Object.keys(h.hosts)).toEqual(['a']);
    expect(healthHistorySchema.safeParse(h).success).toBe(true);
  });

  it('reads its bounds from the environment, refusing nonsense', () => {
    expect(historyLimits({})).toEqual({ perHost: 100, total: 20_000 });
    expect(historyLimits({ TILL_HEALTH_HISTORY_LIMIT: '3', TILL_HEALTH_HISTORY_TOTAL: '7' })).toEqual({
      perHost: 3,
      total: 7,
    });
    expect(() => historyLimits({ TILL_HEALTH_HISTORY_LIMIT: '0' })).toThrow(/TILL_HEALTH_HISTORY_LIMIT/);
  });
});
