/**
 * The adversarial input suite: hostile values pushed through every command that takes
 * input, and through every field of a hand-edited hosts-local.json. Every one must be
 * refused (or, where the value is data, handled exactly): no file created outside
 * TILL_HOME (every injection tries to `touch` a canary), no command run, and the
 * database, ssh config and known_hosts byte-identical after every refused input.
 *
 * By default each command slot (and each database field) gets a random sample of the
 * corpus, dealt from shuffled decks so every value goes through several slots; the sample
 * changes every run and its seed is printed (and in the test titles): TILL_HOSTILE_SEED=<n>
 * replays a run, TILL_HOSTILE_FULL=1 runs the full cross product.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, createHmac, randomBytes, randomInt } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startLab, type Lab } from '../lab/lab.js';
import { closeMasters, TILL_BIN, tempHome, tillOk, type TillRun } from '../lab/till.js';
import { sealContext } from '../../src/core/state/hosts.js';

const FULL = process.env.TILL_HOSTILE_FULL === '1';
const SEED = seedFrom(process.env.TILL_HOSTILE_SEED);
const SAMPLE = FULL ? 'the full cross product' : `seed ${SEED}, replay with TILL_HOSTILE_SEED=${SEED}`;
console.info(`hostile.test.ts: ${SAMPLE}`);

function seedFrom(text: string | undefined): number {
  if (text === undefined || text === '') return randomInt(2 ** 31);
  if (!/^\d{1,10}$/.test(text))
    throw new Error(`TILL_HOSTILE_SEED must be a whole number, got ${JSON.stringify(text)}`);
  return Number(text);
}

/** mulberry32: a small seeded generator, so one seed gives one sample. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
const random = seeded(SEED);
const CANARY = `/tmp/till-canary-${randomBytes(6).toString('hex')}`;
const touch = `touch ${CANARY}`;

/** [label, value]: each injection tries to create the canary. */
const CORPUS: Array<[string, string]> = [
  ['command substitution', `$(${touch})`],
  ['backticks', `\`${touch}\``],
  ['semicolon', `x;${touch}`],
  ['pipe', `x|${touch}`],
  ['ampersand', `x&${touch}`],
  ['and-list', `x&&${touch}`],
  ['newline', `x\n${touch}`],
  ['carriage return', `x\r${touch}`],
  ['ssh_config injection', `x\n    ProxyCommand ${touch}`],
  ['single quotes', `x'; ${touch}; '`],
  ['double quotes', `x"; ${touch}; "`],
  ['ssh option', `-oProxyCommand=${touch}`],
  ['ssh option, separate', `-o ProxyCommand=${touch}`],
  ['rsync option', `--rsh=${touch}`],
  ['rsync -e', `-e${touch}`],
  ['lone dash', '-'],
  ['cyrillic look-alike', 'wеb1'],
  ['fullwidth', 'ｗｅｂ１'],
  ['RTL override', 'web\u202E1bew'],
  ['zero-width space', 'web\u200B1'],
  ['terminal escape', '\x1b[31mred\x1b[0m'],
  ['ssh tokens', 'h%C%d%n'],
  ['10k characters', 'a'.repeat(10_000)],
  ['10k then injection', `${'a'.repeat(9_990)}$(${touch})`],
  ['traversal', '../../etc'],
  ['home traversal', '~/../x'],
  ['tmp traversal', '/tmp/x/../../'],
  ['dot-dot', '..'],
  ['empty', ''],
  ['space', 'a b'],
  ['tab', 'a\tb'],
  ['bad glob class', '[z-a]'],
  ['glob with injection', `h*;${touch}`],
];
/** Hostile only where it becomes an object key (a host or group name); a valid user name otherwise. */
const KEY_ONLY: Array<[string, string]> = [['__proto__', '__proto__']];
const FP = `SHA256:${'A'.repeat(43)}`;
/** Inside brackets, where an IPv6 literal goes: zone ids (isIP accepts them; `%` is an ssh_config token) and injections. */
const V6_ONLY: Array<[string, string]> = [
  ['zone id', 'fe80::1%eth0'],
  ['zone id, ssh token', '::1%C'],
  ['zone id with injection', `fe80::1%$(${touch})`],
  ['zone id with newline', `fe80::1%eth0\n    ProxyCommand ${touch}`],
  ['v6 then newline', `::1\n    ProxyCommand ${touch}`],
  ['v6 then space', '::1 x'],
];

/** Every command that takes input, with the hostile value in one place. */
const SLOTS: Array<[string, (p: string) => string[]]> = [
  ['add <name>', (p) => ['host', 'add', p, 'u@127.0.0.1']],
  ['add <spec>', (p) => ['host', 'add', 'n1', p]],
  ['add user@', (p) => ['host', 'add', 'n1', `${p}@127.0.0.1`]],
  ['add @host', (p) => ['host', 'add', 'n1', `u@${p}`]],
  ['add @[host]', (p) => ['host', 'add', 'n1', `u@[${p}]`]],
  ['add :port', (p) => ['host', 'add', 'n1', `u@127.0.0.1:${p}`]],
  ['add --port', (p) => ['host', 'add', 'n1', 'u@127.0.0.1', '--port', p]],
  ['add --tekton-path', (p) => ['host', 'add', 'n1', 'u@127.0.0.1', '--tekton-path', p]],
  ['add --group', (p) => ['host', 'add', 'n1', 'u@127.0.0.1', '--group', p]],
  ['add --jump', (p) => ['host', 'add', 'n1', 'u@127.0.0.1', '--jump', p]],
  ['remove', (p) => ['host', 'remove', p]],
  ['show', (p) => ['host', 'show', p]],
  ['test <target>', (p) => ['host', 'test', p]],
  ['test --group', (p) => ['host', 'test', '--group', p]],
  ['test --parallel', (p) => ['host', 'test', 'h0', '--parallel', p]],
  ['test --retries', (p) => ['host', 'test', 'h0', '--retries', p]],
  ['test --timeout', (p) => ['host', 'test', 'h0', '--timeout', p]],
  ['test --connect-timeout', (p) => ['host', 'test', 'h0', '--connect-timeout', p]],
  ['exec <target>', (p) => ['host', 'exec', p, '--', 'true']],
  ['ssh <name>', (p) => ['host', 'ssh', p, '--', 'true']],
  ['group create', (p) => ['host', 'group', 'create', p]],
  ['group create <host>', (p) => ['host', 'group', 'create', 'g2', p]],
  ['group add <group>', (p) => ['host', 'group', 'add', p, 'h0']],
  ['group add <host>', (p) => ['host', 'group', 'add', 'g', p]],
  ['group remove <host>', (p) => ['host', 'group', 'remove', 'g', p]],
  ['group delete', (p) => ['host', 'group', 'delete', p]],
  ['authorize', (p) => ['host', 'authorize', p]],
  ['forget', (p) => ['host', 'forget', p]],
  ['trust <name>', (p) => ['host', 'trust', p, '--fingerprint', FP]],
  ['trust --fingerprint', (p) => ['host', 'trust', 'h0', '--fingerprint', p]],
  ['rotate-key <target>', (p) => ['host', 'rotate-key', p]],
  ['rotate-key --group', (p) => ['host', 'rotate-key', '--group', p]],
];

/**
 * `count` values for each of `slots` slots, dealt from decks shuffled with the seed: a
 * value is dealt again only once the whole corpus has been, so every value reaches
 * several slots, and which value meets which slot changes from run to run.
 */
function deal<T>(items: readonly T[], slots: number, count: number): T[][] {
  if (FULL) return Array.from({ length: slots }, () => [...items]);
  let deck: T[] = [];
  return Array.from({ length: slots }, () => {
    const hand: T[] = [];
    while (hand.length < Math.min(count, items.length)) {
      if (deck.length === 0) {
        deck = [...items];
        for (let i = deck.length - 1; i > 0; i--) {
          const j = Math.floor(random() * (i + 1));
          [deck[i], deck[j]] = [deck[j]!, deck[i]!];
        }
      }
      const value = deck.pop()!;
      if (!hand.includes(value)) hand.push(value);
    }
    return hand;
  });
}

/** The scratch places till runs in: none of them may gain a file. */
const scratch = { cwd: '', home: '', tmp: '' };

function runTill(home: string, args: string[]): Promise<TillRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [TILL_BIN, ...args], {
      env: { PATH: process.env.PATH, HOME: scratch.home, TMPDIR: scratch.tmp, TILL_HOME: home, NO_COLOR: '1' },
      cwd: scratch.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Hash of every file under TILL_HOME except sockets and lock directories. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = statSync(p);
      // not state: lock folders, master sockets, V8's code cache of till's own bundle, and the
      // operations journal, which records refused commands too (journalIsWhole checks it)
      if (name.endsWith('.lock') || name === 'control' || (d === dir && (name === 'cache' || name === 'logs')))
        continue;
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) out[p.slice(dir.length)] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

/** Every line of the operations journal is one whole JSON record: a hostile argv never breaks a line. */
function journalLines(dir: string): string[] {
  const file = join(dir, 'logs', 'operations.jsonl');
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

/** The records after the first `skip` (those of the set-up) are whole JSON, each of a refused command. */
function journalIsWhole(dir: string, skip: number): void {
  for (const line of journalLines(dir).slice(skip)) {
    const record = JSON.parse(line) as { exitCode?: unknown };
    expect(record.exitCode, line).toBe(2);
  }
}

async function pool<T>(items: T[], n: number, f: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: n }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) await f(item);
    }),
  );
}

const tmpBefore = readdirSync('/tmp');

beforeAll(() => {
  scratch.cwd = mkdtempSync('/tmp/t-cwd-');
  scratch.home = mkdtempSync('/tmp/t-home-');
  scratch.tmp = mkdtempSync('/tmp/t-tmp-');
});

afterAll(() => {
  // Nothing was created outside TILL_HOME: not the canary, nothing in cwd, HOME or TMPDIR.
  expect(existsSync(CANARY)).toBe(false);
  for (const d of Object.values(scratch)) {
    expect(readdirSync(d)).toEqual([]);
    rmSync(d, { recursive: true, force: true });
  }
  const created = readdirSync('/tmp').filter((n) => !tmpBefore.includes(n));
  expect(created.filter((n) => /canary|^x$|^etc$|^a b$|touch/.test(n))).toEqual([]);
});

describe('hostile command-line values are refused and change nothing', () => {
  let home: string;
  let before: Record<string, string>;
  let setUp: number;
  beforeAll(async () => {
    ({ home } = tempHome());
    await tillOk(home, ['host', 'init']);
    await tillOk(home, ['host', 'add', 'h0', 'u@127.0.0.1:1', '--group', 'g']);
    before = snapshot(home);
    setUp = journalLines(home).length;
  });
  afterAll(async () => closeMasters(home));

  const NAME_SLOTS = /<name>|<target>|--group|--jump|group (create|add|delete)|<host>|^remove|^show|^forget|^authorize/;
  const hands = deal(CORPUS, SLOTS.length, 4);
  const cases = SLOTS.flatMap(([slot, build], i) =>
    [...hands[i]!, ...(NAME_SLOTS.test(slot) ? KEY_ONLY : []), ...(slot === 'add @[host]' ? V6_ONLY : [])].map(
      ([label, value]) => ({ slot, label, args: build(value) }),
    ),
  );

  test(
    `${cases.length} hostile invocations (${SLOTS.length} slots × ${FULL ? CORPUS.length : 4} values; ${SAMPLE})`,
    { timeout: 1_800_000 },
    async () => {
      const problems: string[] = [];
      await pool(cases, 3, async ({ slot, label, args }) => {
        const r = await runTill(home, args);
        const where = `${slot} ← ${label}`;
        if (r.code !== 2) problems.push(`${where}: exit ${r.code} (expected 2)\n${r.stderr.slice(0, 300)}`);
        if (/internal error/.test(r.stderr)) problems.push(`${where}: internal error\n${r.stderr.slice(0, 500)}`);
        if (r.stdout !== '') problems.push(`${where}: printed to stdout: ${r.stdout.slice(0, 200)}`);
        if (existsSync(CANARY)) problems.push(`${where}: CANARY CREATED`);
      });
      expect(problems).toEqual([]);
      expect(snapshot(home)).toEqual(before);
      journalIsWhole(home, setUp);
    },
  );

  test('names that are Object properties are just unknown names', async () => {
    for (const name of ['constructor', 'toString', 'hasOwnProperty', '__proto__']) {
      for (const args of [
        ['host', 'show', name],
        ['host', 'remove', name],
        ['host', 'test', name],
        ['host', 'group', 'delete', name],
        ['host', 'group', 'add', 'g', name],
      ]) {
        const r = await runTill(home, args);
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
        expect(r.stderr).not.toContain('internal error');
      }
    }
    expect(snapshot(home)).toEqual(before);
    journalIsWhole(home, setUp);
  });
});

describe('a hand-edited hosts-local.json with a hostile value in any field is refused, byte-identical', () => {
  let home: string;
  let db: string;
  let config: string;
  beforeAll(async () => {
    ({ home } = tempHome());
    await tillOk(home, ['host', 'init']);
    db = join(home, 'hosts-local.json');
    config = readFileSync(join(home, 'ssh', 'config'), 'utf8');
  });
  afterAll(async () => closeMasters(home));

  type Db = { hosts: Record<string, Record<string, unknown>>; groups: Record<string, string[]>; updated: string };
  const valid = (): Db => ({
    hosts: {
      h0: {
        user: 'deploy',
        host: '127.0.20.1',
        port: 22,
        status: 'connected',
        added: '2025-01-05T10:00:00Z',
        last_sync: null,
        last_test: '2025-01-05T10:00:00Z',
        tekton_path: '~/T',
        installations: ['primary.tekton.us'],
        failures: 0,
        latency_ms: 3,
        key_fingerprint: FP,
      },
      h1: {
        user: 'deploy',
        host: '127.0.0.2',
        port: 2222,
        status: 'unreachable',
        previous_status: 'connected',
        added: '2025-01-05T10:00:00Z',
        tekton_path: '/srv/T',
        installations: [],
        jump: 'h0',
      },
    },
    groups: { g: ['h0', 'h1'] },
    updated: '1736071200',
  });
  // Free-text fields that are only ever displayed (last_error, till_version, updated) are not in this list.
  const FIELDS: Array<[string, (d: Db, p: string) => void]> = [
    [
      'host name',
      (d, p) => {
        ownKey(d.hosts, p, d.hosts.h1!);
        delete d.hosts.h1;
        d.groups.g = ['h0', p];
      },
    ],
    ...(
      [
        'user',
        'host',
        'port',
        'status',
        'added',
        'last_sync',
        'last_test',
        'tekton_path',
        'failures',
        'latency_ms',
        'previous_status',
        'jump',
        'key_fingerprint',
      ] as const
    ).map((f): [string, (d: Db, p: string) => void] => [
      f,
      (d, p) => {
        d.hosts.h1![f] = p;
      },
    ]),
    [
      'installations[0]',
      (d, p) => {
        d.hosts.h0!.installations = [p];
      },
    ],
    [
      'group name',
      (d, p) => {
        ownKey(d.groups, p, ['h0']);
      },
    ],
    [
      'group member',
      (d, p) => {
        d.groups.g = [p];
      },
    ],
  ];
  // `obj[key] = v` with key "__proto__" would set the prototype instead of writing a key.
  const ownKey = (obj: object, key: string, value: unknown) =>
    Object.defineProperty(obj, key, { value, enumerable: true, configurable: true, writable: true });
  // NUL cannot be passed in argv, but a file can hold it: every field gets it.
  const NULS: Array<[string, string]> = [
    ['NUL', 'h\u0000x'],
    ['NUL injection', `x\u0000$(${touch})`],
  ];
  const KEY_FIELDS = /name|member|jump/;
  const hands = deal(CORPUS, FIELDS.length, 3);
  const cases = FIELDS.flatMap(([field, set], i) =>
    [...hands[i]!, NULS[i % 2]!, ...(KEY_FIELDS.test(field) ? KEY_ONLY : [])].map(([label, value]) => ({
      field,
      label,
      set,
      value,
    })),
  );

  test('the valid base loads (so each refusal is the hostile value)', async () => {
    writeFileSync(db, `${JSON.stringify(valid(), null, 2)}\n`);
    await tillOk(home, ['host', 'list']);
    // Reading a hand-edited database rebuilds the config from it: that is the config no refusal may change.
    config = readFileSync(join(home, 'ssh', 'config'), 'utf8');
    expect(config).toContain('Host till-h1\n    HostName 127.0.0.2\n');
  });

  test(
    `${cases.length} hostile files (half of them with a forged seal): exit 4 naming the file; file and ssh/config unchanged (${SAMPLE})`,
    { timeout: 1_800_000 },
    async () => {
      const problems: string[] = [];
      // One home, so one file at a time.
      for (const [n, { field, label, set, value }] of cases.entries()) {
        const d = valid();
        set(d, value);
        const text = `${JSON.stringify(d, null, 2)}\n`;
        writeFileSync(db, text);
        // Every other file also carries a seal anyone can compute (the plain sha256 older tills wrote): no help.
        if (n % 2 === 1) writeFileSync(`${db}.sha256`, `${createHash('sha256').update(text).digest('hex')}\n`);
        const cfg = readFileSync(join(home, 'ssh', 'config'), 'utf8');
        // every file is refused on read; every 4th also on an update (which must not overwrite it)
        for (const args of n % 4 === 0
          ? [
              ['host', 'list'],
              ['host', 'add', 'n9', 'u@127.0.0.9'],
            ]
          : [['host', 'list']]) {
          const r = await runTill(home, args);
          const where = `${field} ← ${label} (${args.slice(0, 2).join(' ')})`;
          if (r.code !== 4) problems.push(`${where}: exit ${r.code} (expected 4) ${r.stderr.slice(0, 200)}`);
          if (!r.stderr.includes(db)) problems.push(`${where}: message does not name ${db}`);
          if (readFileSync(db, 'utf8') !== text) problems.push(`${where}: file changed`);
          if (readFileSync(join(home, 'ssh', 'config'), 'utf8') !== cfg) problems.push(`${where}: ssh/config changed`);
          if (existsSync(CANARY)) problems.push(`${where}: CANARY CREATED`);
        }
      }
      expect(problems).toEqual([]);
      expect(readFileSync(join(home, 'ssh', 'config'), 'utf8')).toBe(config);
    },
  );
});

describe('a sealed hosts-local.json never lets an unvalidated value reach ssh/config, HTML or metrics', () => {
  let home: string;
  let db: string;
  let html: string;
  beforeAll(async () => {
    ({ home } = tempHome());
    await tillOk(home, ['host', 'init']);
    db = join(home, 'hosts-local.json');
    html = join(home, 'status.html');
  });
  afterAll(async () => closeMasters(home));

  const snapshot = (extra: Record<string, unknown> = {}) => ({
    at: '2025-01-05T10:00:00Z',
    up: true,
    latencyMs: 12,
    uptimeSec: 100,
    load1: 0.5,
    load5: 0.4,
    load15: 0.3,
    cpus: 2,
    memTotalBytes: 2e9,
    memAvailableBytes: 1e9,
    diskFreeBytes: 5e9,
    diskTotalBytes: 1e10,
    os: 'Linux',
    arch: 'x86_64',
    tillVersion: '0.1.0',
    release: 'r1',
    degraded: false,
    reasons: [],
    ...extra,
  });
  const base = () => ({
    hosts: {
      h0: {
        user: 'deploy',
        host: '127.0.0.20',
        port: 22,
        status: 'connected',
        added: '2025-01-05T10:00:00Z',
        tekton_path: '~/T',
        installations: [],
        health: snapshot(),
      },
    } as Record<string, Record<string, unknown>>,
    groups: {},
    updated: '1',
  });
  const injection = `x\n    ProxyCommand ${touch}`;
  const markup = '<img src=x onerror=alert(1)>';
  const metricLine = '5\ninjected_metric 1';
  /** A newline in a host field; a string (with a newline) in port; markup and a metric line in numeric fields. */
  const HOSTILE: Array<[string, (h: Record<string, unknown>) => void]> = [
    ['host', (h) => (h.host = injection)],
    ['port', (h) => (h.port = `22\n    ProxyCommand ${touch}`)],
    [
      'health numbers',
      (h) => (h.health = snapshot({ load1: markup, load5: metricLine, latencyMs: metricLine, cpus: markup })),
    ],
  ];
  const write = (set: (h: Record<string, unknown>) => void, seal: (text: string) => string) => {
    const d = base();
    set(d.hosts.h0!);
    const text = `${JSON.stringify(d, null, 2)}\n`;
    writeFileSync(db, text);
    writeFileSync(`${db}.sha256`, `${seal(text)}\n`);
    return text;
  };
  const configText = () => readFileSync(join(home, 'ssh', 'config'), 'utf8');

  test('sealed as anyone can (the sha256 of the text): refused with exit 4 by host list, status --html and metrics', async () => {
    writeFileSync(db, `${JSON.stringify(base(), null, 2)}\n`);
    await tillOk(home, ['host', 'list']);
    const config = configText();
    for (const [field, set] of HOSTILE) {
      const text = write(set, (t) => createHash('sha256').update(t).digest('hex'));
      for (const args of [['host', 'list'], ['status', '--html', html], ['metrics']]) {
        const r = await runTill(home, args);
        expect(r.code, `${field}: till ${args.join(' ')}: ${r.stderr}`).toBe(4);
        expect(r.stderr).toContain(`${db} does not match its schema at hosts.h0.`);
        expect(r.stdout).toBe('');
        expect(existsSync(html)).toBe(false);
        expect(readFileSync(db, 'utf8')).toBe(text);
        expect(configText()).toBe(config);
      }
    }
  });

  test("sealed with this TILL_HOME's own key (a stolen key, or a bug): ssh/config, the page and the metrics still refuse the values", async () => {
    const key = Buffer.from(readFileSync(join(home, 'seal.key'), 'utf8').trim(), 'hex');
    // As till seals: with the version of the till that checked the text (the one installed).
    const version = (await tillOk(home, ['--version'])).stdout.trim();
    const hmac = (t: string) =>
      createHmac('sha256', key)
        .update(`${sealContext(version)}\0`)
        .update(t)
        .digest('hex');
    writeFileSync(db, `${JSON.stringify(base(), null, 2)}\n`);
    await tillOk(home, ['host', 'list']);
    const config = configText();
    for (const [field, set] of HOSTILE.slice(0, 2)) {
      write(set, hmac);
      const r = await runTill(home, ['host', 'list']);
      expect(r.code, `${field}: ${r.stderr}`).toBe(4);
      expect(r.stderr).toContain(`host "h0" has an invalid ${field}`);
      expect(r.stderr).toContain('ssh/config was not written');
      expect(configText()).toBe(config);
      expect(configText()).not.toContain('ProxyCommand');
    }
    write(HOSTILE[2]![1], hmac);
    await tillOk(home, ['status', '--html', html]);
    const page = readFileSync(html, 'utf8');
    expect(page).not.toContain('<img');
    expect(page).not.toContain('injected_metric');
    expect(page).toContain('data-host="h0"');
    const metrics = (await tillOk(home, ['metrics'])).stdout;
    expect(metrics.split('\n').filter((l) => /^injected_metric|^<|onerror/.test(l))).toEqual([]);
    expect(metrics).not.toContain('till_host_load1{');
    expect(metrics).toContain('till_host_up{host="h0"} 1');
    const check = spawnSync('promtool', ['check', 'metrics'], { input: metrics, encoding: 'utf8' });
    expect(check.status, `${check.stdout}${check.stderr}`).toBe(0);
    expect(configText()).not.toContain('ProxyCommand');
    expect(existsSync(CANARY)).toBe(false);
  });

  test('what a host said (last_error, till_version, release, reasons) reaches the terminal escaped', async () => {
    const said = 'x\u001b]0;owned\u0007\u001b[2J\rover\u202e';
    const d = base();
    Object.assign(d.hosts.h0!, {
      status: 'unreachable',
      previous_status: 'connected',
      failures: 3,
      last_error: said,
      till_version: said,
      deploy: { current: said, previous: null, at: '2025-01-05T10:00:00Z' },
      health: snapshot({ up: false, reasons: [said] }),
    });
    writeFileSync(db, `${JSON.stringify(d, null, 2)}\n`);
    for (const args of [['host', 'show', 'h0'], ['host', 'list'], ['status']]) {
      const r = await runTill(home, args);
      expect(r.code, r.stderr).toBe(0);
      // eslint-disable-next-line no-control-regex -- no control character may reach the terminal
      expect(r.stdout + r.stderr).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/);
    }
    const shown = (await runTill(home, ['host', 'show', 'h0'])).stdout;
    expect(shown).toContain('last error     x\\x1b]0;owned\\x07\\x1b[2J\\rover\\u202e');
    expect((await runTill(home, ['status'])).stdout).toContain('x\\x1b]0;owned');
    // --json keeps the bytes exactly (JSON escapes them).
    expect(JSON.parse((await runTill(home, ['host', 'show', 'h0', '--json'])).stdout).last_error).toBe(said);
  });
});

describe('hostile values as data reach the remote command exactly (a real lab host)', () => {
  let home: string;
  let lab: Lab;
  beforeAll(async () => {
    ({ home } = tempHome());
    await tillOk(home, ['host', 'init']);
    lab = await startLab(1, { authorizedKey: readFileSync(join(home, 'ssh', 'till_federation_ed25519.pub'), 'utf8') });
    await tillOk(home, ['host', 'add', 'h0', lab.hosts[0]!.spec]);
  });
  afterAll(async () => {
    lab?.stop();
    await closeMasters(home);
  });

  const execPrint = async (values: string[]): Promise<string[]> => {
    const r = await runTill(home, ['host', 'exec', 'h0', '--json', '--', 'printf', '%s\\0', ...values]);
    expect(r.code, r.stderr).toBe(0);
    return (JSON.parse(r.stdout).results[0].stdout as string).split('\0').slice(0, -1);
  };

  test('till host exec h0 -- printf … <every corpus value>: each printed exactly, nothing run', async () => {
    const values = CORPUS.map(([, v]) => v);
    expect(await execPrint(values)).toEqual(values);
    expect(existsSync(CANARY)).toBe(false);
  });

  test('property: 30 random Unicode strings through till host exec, each quoted once', async () => {
    const strings = fc.sample(
      fc.string({ unit: 'binary', minLength: 0, maxLength: 60 }).filter((s) => !s.includes('\0')),
      { numRuns: 30, seed: SEED },
    );
    for (let i = 0; i < strings.length; i += 5) {
      const batch = strings.slice(i, i + 5);
      expect(await execPrint(batch)).toEqual(batch);
    }
  });

  test('till host ssh h0 -- printf %s <value>: printed exactly', async () => {
    for (const [, v] of CORPUS.filter(([l]) => /substitution|quotes|newline|option/.test(l))) {
      const r = await runTill(home, ['host', 'ssh', 'h0', '--', 'printf', '%s', v]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(v);
    }
    expect(existsSync(CANARY)).toBe(false);
  });
});
