import { expandHome } from './wire.js';

/**
 * The closed set of argument types a registered script may declare. The gate checks
 * every positional argument of every script by its type before it runs anything;
 * there is no "any string". A type that depends on the host's policy (a deploy root,
 * a --check, a new gate.json) is checked against gate.json when a policy is given
 * (the gate), and only for its shape otherwise (the controller, before sending).
 */

/** What a gate knows of the host owner's policy (~/.till/gate.json, `~/` expanded). */
export interface Policy {
  home: string;
  /** Absolute, without a trailing slash. */
  deployRoots: readonly string[];
  checks: readonly string[];
  upgrade: boolean;
  /** Release hooks (`.till/hooks/*`) may run: gate.json `"hooks": true`. Absent: they may not. */
  hooks?: boolean;
}

export interface ArgType {
  /** The type's name, as docs/gate.md lists it. */
  readonly name: string;
  /** Why `value` is not of this type, or undefined when it is. */
  problem(value: string, policy?: Policy): string | undefined;
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f-\x9f]/;
// eslint-disable-next-line no-control-regex
const CONTROL_BUT_LINES = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/;

const show = (v: string) => JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}…` : v);

function type(name: string, problem: ArgType['problem']): ArgType {
  return { name, problem };
}

/** A pattern, and what to call a value that misses it. */
function matching(name: string, re: RegExp, what: string): ArgType {
  return type(name, (v) => (re.test(v) ? undefined : `${show(v)} is not ${what}`));
}

/** `inner`, or the empty string (an argument left out). */
function orEmpty(inner: ArgType): ArgType {
  return type(`${inner.name} or empty`, (v, policy) => (v === '' ? undefined : inner.problem(v, policy)));
}

/** A space-separated list of `inner` values (possibly empty), at most `max` of them. */
function listOf(inner: ArgType, max: number): ArgType {
  return type(`list of ${inner.name}`, (v, policy) => {
    if (v === '') return undefined;
    const items = v.split(' ');
    if (items.length > max) return `more than ${max} items`;
    for (const item of items) {
      const why = inner.problem(item, policy);
      if (why !== undefined) return why;
    }
    return undefined;
  });
}

/** Free text for a log or a label: at most `max` characters, no control characters (no tab, newline or escape). */
function boundedText(name: string, max: number): ArgType {
  return type(name, (v) => {
    if (v.length > max) return `${name} longer than ${max} characters`;
    if (CONTROL.test(v)) return `${name} ${show(v)} contains a control character`;
    return undefined;
  });
}

/** Why a remote path is unsafe, or undefined when it is fine (absolute or `~/…`, plain characters, no `..`). */
export function remotePathProblem(value: string): string | undefined {
  if (value.length === 0) return 'it is empty';
  if (value.length > 1024) return 'it is longer than 1024 characters';
  if (!(value.startsWith('/') || value.startsWith('~/'))) return 'it must be absolute or start with ~/';
  if (!/^[~A-Za-z0-9/._+@,=-]+$/.test(value)) return 'it contains whitespace, quotes, control or shell characters';
  if (value.indexOf('~', 1) !== -1) return '~ may only start the path';
  if (value.split('/').some((seg) => seg === '..')) return 'it contains a .. segment';
  // A leading - is ruled out above (a path is absolute or ~/): only a later segment can start with one.
  if (value.includes('/-')) return 'a path segment starts with -';
  return undefined;
}

/**
 * Why a path cannot be a deploy root (a host's tekton_path, a deploy-root argument), or
 * undefined: a safe remote path (remotePathProblem), written plainly (no trailing `/`, no
 * `//`, no `.` segment: the scripts build `<path>.till` from the text as given, so
 * `~/app/` would put till's folder inside the live release as `~/app/.till`), and not a
 * folder whose replacement by a symlink locks the owner out or hands over the gate: the
 * root, the home, `~/.ssh`, `~/.till` or anything inside those two, and any `.ssh` or
 * `.till` folder however spelled. With `home`, the absolute spelling of the home is
 * caught exactly; without it, `/root` and `/home/<user>` are.
 */
export function deployPathProblem(value: string, home?: string): string | undefined {
  const problem = remotePathProblem(value);
  if (problem !== undefined) return problem;
  if (value === '/') return 'it is the root folder';
  if (value === '~/') return 'it is the home folder itself';
  if (value.endsWith('/') || value.includes('//') || value.split('/').includes('.'))
    return 'write it without a trailing /, // or . segment';
  const inHome = value.startsWith('~/')
    ? value.slice(2)
    : home !== undefined && value.startsWith(`${home.replace(/\/+$/, '')}/`)
      ? value.slice(home.replace(/\/+$/, '').length + 1)
      : undefined;
  if (home !== undefined && value === home.replace(/\/+$/, '')) return 'it is the home folder itself';
  // Without the home (the controller), its usual absolute spellings: /root, /home/<user>.
  if (home === undefined && /^\/(root|home\/[^/]+)$/.test(value)) return 'it is a home folder';
  const top = inHome?.split('/')[0];
  if (top === '.ssh' || top === '.till')
    return `it is ~/${top} or lies inside it (a deploy replaces the folder with a symlink)`;
  // However spelled (an absolute path to a home the controller does not know).
  const secret = value.split('/').find((seg) => seg === '.ssh' || seg === '.till');
  if (secret !== undefined)
    return `it is a ${secret} folder or lies inside one (a deploy replaces the folder with a symlink)`;
  return undefined;
}

/** A deploy path as a person may write it, without its trailing slashes (`~/app/` is `~/app`; `/` and `~/` stay, to be refused by name). */
export function plainDeployPath(value: string): string {
  return /^~\/+$/.test(value) ? '~/' : value.replace(/(.)\/+$/, '$1');
}

/** A shared path of a deploy: relative, safe characters, no `.`/`..`/empty segment, no trailing slash. */
export function sharedPathProblem(p: string): string | undefined {
  if (p === '' || p.startsWith('/')) return 'it must be a relative path inside the installation';
  if (p.length > 256) return 'it is longer than 256 characters';
  if (!/^[A-Za-z0-9._+@,=/-]+$/.test(p)) return 'it contains whitespace, quotes or shell characters';
  if (p.split('/').some((s) => s === '..' || s === '.' || s === '')) return 'it contains an empty, . or .. segment';
  if (p.startsWith('-')) return 'it starts with -';
  return undefined;
}

/** `20261126T031500Z-3fa9c2` (or `…Zadopted`): UTC time, then a content hash. */
export const RELEASE_ID_RE = /^\d{8}T\d{6}Z-[a-z0-9]+$/;
/** Installation (and host, group) names. */
export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
/** Version strings become file names on the host. */
export const VERSION_RE = /^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$/;
/** A deploy's run id (`20261126T031500Z-1a2b3c4d`, `rollback-<pid>-<ms>`). */
export const RUN_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
/** An ISO-8601 UTC time as till writes it (Date.toISOString). */
export const TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;

/** OpenSSH public key types (`ssh-keygen -t …`). */
export const KEY_TYPES = [
  'ssh-ed25519',
  'ssh-rsa',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
] as const;
export const ED25519_TYPE = 'ssh-ed25519';
export const MAX_KEY_COMMENT = 200;
const KEY_COMMENT_RE = /^[A-Za-z0-9@._+:-]*$/;

/** The key type a public key blob names in its wire format (its first string), if it is one. */
export function blobKeyType(blob: string): string | undefined {
  if (blob.length > 16_384) return undefined;
  // Node decodes leniently (skipping spaces, newlines, base64url): only the canonical encoding is a blob.
  const bytes = Buffer.from(blob, 'base64');
  // Stryker disable next-line EqualityOperator: 4 bytes are a length and no name, refused below either way
  if (bytes.toString('base64') !== blob || bytes.length < 4) return undefined;
  const n = bytes.readUInt32BE(0);
  if (n < 1 || n > 64 || bytes.length < 4 + n) return undefined;
  return bytes.subarray(4, 4 + n).toString('latin1');
}

/**
 * An ssh-ed25519 public key blob: 68 base64 characters that decode to the key's wire
 * format. 68 characters without padding are exactly 51 bytes, and always the canonical
 * encoding of them; the fixed prefix is the first 18¾ bytes (length 11, `ssh-ed25519`,
 * the key length's top 30 bits), so only the key length's last two bits are left to read.
 */
export function ed25519BlobProblem(blob: string): string | undefined {
  if (/^AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]{43}$/.test(blob) && Buffer.from(blob, 'base64').readUInt32BE(15) === 32)
    return undefined;
  return `${show(blob)} is not an ssh-ed25519 public key blob`;
}

export function keyCommentProblem(comment: string): string | undefined {
  if (comment.length > MAX_KEY_COMMENT) return `key comment longer than ${MAX_KEY_COMMENT} characters`;
  return KEY_COMMENT_RE.test(comment)
    ? undefined
    : `key comment ${show(comment)} has characters other than A-Z a-z 0-9 @ . _ + : -`;
}

// ---------------------------------------------------------------- gate.json

/** ~/.till/gate.json, read: the host owner's policy for till's key. */
export interface GateFile {
  /** Absolute, `~/` expanded against the home, no trailing slash. */
  deployRoots: string[];
  upgrade: boolean;
  checks: string[];
  /** Release hooks may run (default false: allowing them lets deployed code run). */
  hooks: boolean;
}

/** Parses gate.json (already JSON-decoded); throws with the reasons. Unknown fields are allowed. */
export function parseGateFile(raw: unknown, home: string): GateFile {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error('not a JSON object');
  const doc = raw as Record<string, unknown>;
  const problems: string[] = [];
  const strings = (key: string, each: (s: string) => string | undefined): string[] => {
    const v = doc[key];
    if (v === undefined) return [];
    if (!Array.isArray(v)) {
      problems.push(`${key}: not a list`);
      // Stryker disable next-line ArrayDeclaration: with a problem recorded the parse throws, the list unread
      return [];
    }
    v.forEach((s, i) => {
      const why = typeof s === 'string' ? each(s) : 'not a string';
      if (why !== undefined) problems.push(`${key}.${i}: ${why}`);
    });
    return v.filter((s): s is string => typeof s === 'string');
  };
  const roots = strings('deployRoots', (p) => {
    if (remotePathProblem(p) !== undefined) return 'not a safe remote path';
    // The owner's file may end a root with a slash; the root is the folder without it.
    const why = deployPathProblem(plainDeployPath(p), home);
    return why === undefined ? undefined : `${p}: ${why}`;
  });
  const checks = strings('checks', (c) => (c.length <= 4096 ? undefined : 'longer than 4096 characters'));
  if (doc.upgrade !== undefined && typeof doc.upgrade !== 'boolean') problems.push('upgrade: not true or false');
  if (doc.hooks !== undefined && typeof doc.hooks !== 'boolean') problems.push('hooks: not true or false');
  const deployRoots = roots.map((p) => expandHome(p, home).replace(/\/+$/, ''));
  // One lock per root (the gate's); roots inside one another would share a tree under two locks.
  for (const a of deployRoots)
    for (const b of deployRoots)
      if (b.startsWith(`${a}/`) || b.startsWith(`${a}.till/`)) problems.push(`deployRoots: ${b} lies inside ${a}`);
  if (problems.length > 0) throw new Error(problems.join('; '));
  return { deployRoots: [...new Set(deployRoots)], upgrade: doc.upgrade !== false, checks, hooks: doc.hooks === true };
}

/**
 * Why `next` would give till's key more than `current` allows (a new deploy root, a new
 * check, upgrades turned back on), or undefined when it is the same or narrower.
 */
export function wideningOf(
  current: Readonly<Pick<GateFile, 'upgrade'>> & {
    deployRoots: readonly string[];
    checks: readonly string[];
    hooks?: boolean;
  },
  next: GateFile,
): string | undefined {
  const root = next.deployRoots.find((r) => !current.deployRoots.includes(r));
  if (root !== undefined) return `it adds the deploy root ${root}`;
  const check = next.checks.find((c) => !current.checks.includes(c));
  if (check !== undefined) return `it adds the check ${JSON.stringify(check)}`;
  if (next.upgrade && !current.upgrade) return 'it turns "upgrade" back on';
  if (next.hooks && current.hooks !== true) return 'it turns "hooks" on';
  return undefined;
}

// ---------------------------------------------------------------- the types

/** How a gate's refusal names a path that is not one of gate.json's deploy roots (health and doctor look for it). */
export const NOT_A_DEPLOY_ROOT = 'is not a deploy root of ~/.till/gate.json';

const deployRoot = type('deploy root', (v, policy) => {
  const problem = deployPathProblem(v, policy?.home);
  if (problem !== undefined) return `deploy path ${show(v)}: ${problem}`;
  if (policy === undefined) return undefined;
  // Compared as written (deployPathProblem refused a trailing slash): the script runs on this text.
  const abs = expandHome(v, policy.home);
  return policy.deployRoots.includes(abs) ? undefined : `${v} ${NOT_A_DEPLOY_ROOT} ("deployRoots")`;
});

const releaseId = matching('release id', RELEASE_ID_RE, 'a release id');
const sharedPath = type('shared path', (v) => {
  const why = sharedPathProblem(v);
  return why === undefined ? undefined : `shared path ${show(v)}: ${why}`;
});
const runId = matching('run id', RUN_ID_RE, 'a run id');

const lockInfo = type('lock info', (v) => {
  if (v.length > 4096) return 'lock info longer than 4096 characters';
  const m = /^who=([^\n]*)\nwhen=([^\n]*)\nwhat=([^\n]*)\npid=(\d{1,10})\nrun=([^\n]*)\n$/.exec(v);
  if (!m) return `lock info ${show(v)} is not who=/when=/what=/pid=/run= lines`;
  if (m.slice(1, 4).some((f) => CONTROL.test(f))) return 'lock info contains a control character';
  return runId.problem(m[5]!);
});

const check = type('check', (v, policy) => {
  if (v.length > 4096) return 'the check is longer than 4096 characters';
  if (policy === undefined || v === '' || policy.checks.includes(v)) return undefined;
  return `the check ${JSON.stringify(v)} is not listed in ~/.till/gate.json "checks"`;
});

const envFile = type('env file', (v) => {
  if (v.length > 128 * 1024) return '.env.local text longer than 128 KiB';
  if (CONTROL_BUT_LINES.test(v)) return '.env.local text contains a control character';
  return undefined;
});

const nodePath = type('node path', (v) => {
  if (!v.startsWith('/')) return `node path ${show(v)} is not absolute`;
  if (v.length > 1024) return 'node path longer than 1024 characters';
  return CONTROL.test(v) ? `node path ${show(v)} contains a control character` : undefined;
});

const keyType = type('key type', (v) =>
  (KEY_TYPES as readonly string[]).includes(v)
    ? undefined
    : `key type ${show(v)} is not one of ${KEY_TYPES.join(', ')}`,
);
const ed25519Type = type('ssh-ed25519', (v) =>
  v === ED25519_TYPE ? undefined : `key type ${show(v)}: only ${ED25519_TYPE} keys are added through the gate`,
);
const keyBlob = type('key blob', (v) =>
  blobKeyType(v) !== undefined ? undefined : `${show(v)} is not an OpenSSH public key blob`,
);
const ed25519Blob = type('ssh-ed25519 blob', ed25519BlobProblem);
/** A whole authorized_keys line (ungated scripts only: the gate never takes one). */
const keyLine = type('key line', (v) => {
  if (v.length > 16_384) return 'key line longer than 16 KiB';
  return CONTROL.test(v) ? `${show(v)} contains a control character` : undefined;
});
const keyComment = type('key comment', keyCommentProblem);

/** One line of JSON that parses as gate.json and, against a current policy, does not widen it. */
const gateJson = type('gate.json', (v, policy) => {
  if (v.length > 64 * 1024) return 'gate.json longer than 64 KiB';
  if (CONTROL.test(v)) return 'gate.json must be one line without control characters';
  let next: GateFile;
  try {
    // Stryker disable next-line StringLiteral: expandHome drops a home's trailing /, so / and '' expand alike
    next = parseGateFile(JSON.parse(v), policy?.home ?? '/');
  } catch (err) {
    return `gate.json: ${(err as Error).message}`;
  }
  if (policy === undefined) return undefined;
  const why = wideningOf(policy, next);
  return why === undefined
    ? undefined
    : `the new gate.json widens the host's policy (${why}); widen ~/.till/gate.json on the host with your own access, then run this again`;
});

/** `1`: run the release's hooks. Through a gate only when gate.json says `"hooks": true`. */
const hooksFlag = type('hooks flag', (v, policy) => {
  if (v !== '0' && v !== '1') return `${show(v)} is not 0 or 1`;
  if (v === '1' && policy !== undefined && policy.hooks !== true)
    return 'release hooks are not allowed on this host (~/.till/gate.json does not say "hooks": true; its owner allows them with till host setup --restrict --allow-hooks)';
  return undefined;
});

/** The longest a hook may run, in whole seconds. */
export const MAX_HOOK_TIMEOUT = 86_400;
const hookTimeout = type('hook timeout', (v) =>
  /^[1-9]\d{0,5}$/.test(v) && Number(v) <= MAX_HOOK_TIMEOUT
    ? undefined
    : `${show(v)} is not a whole number of seconds from 1 to ${MAX_HOOK_TIMEOUT}`,
);

/** Who did it (`user@machine`), a message (`-m`): one line of text a host records and shows. */
export const MAX_DEPLOYER = 256;
export const MAX_MESSAGE = 1024;

/** Every argument type there is. A script argument is one of these, or the script is not registered. */
export const ARG = {
  /** One of gate.json's deploy roots, as stored (`~/…` or absolute). */
  deployRoot,
  /**
   * The path a read-only probe (health, doctor) looks at: any safe remote path; through a
   * gate, one of gate.json's deploy roots (a trailing slash allowed). Any other path would
   * tell a restricted key whether it exists, and the last part of a link's target.
   */
  probePath: type('probe path', (v, policy) => {
    const why = remotePathProblem(v);
    if (why !== undefined) return `remote path ${show(v)}: ${why}`;
    if (policy === undefined) return undefined;
    const abs = expandHome(plainDeployPath(v), policy.home).replace(/\/+$/, '');
    return policy.deployRoots.includes(abs)
      ? undefined
      : `${v} ${NOT_A_DEPLOY_ROOT} ("deployRoots"); through the gate, health and doctor look only at those`;
  }),
  releaseId,
  releaseIdOrEmpty: orEmpty(releaseId),
  releaseIds: listOf(releaseId, 1000),
  sharedPaths: listOf(sharedPath, 100),
  /** The first 6 hex digits of a tree's content hash, or empty. */
  contentHash: matching('content hash', /^([0-9a-f]{6})?$/, 'a content hash (6 hex digits, or empty)'),
  flag: matching('flag', /^[01]$/, '0 or 1'),
  time: matching('time', TIME_RE, 'an ISO-8601 UTC time'),
  runId,
  lockInfo,
  /** A release's source, as releases.log records it. */
  label: boundedText('label', 1024),
  /** A host's name in till's inventory (a hook's TILL_HOST). */
  hostName: matching('host name', NAME_RE, 'a host name'),
  /** `user@machine` of the controller that did it (release records, the manual lock). */
  deployer: boundedText('deployer', MAX_DEPLOYER),
  /** Why (`-m`): the deploy's, rollback's or lock's message. */
  message: boundedText('message', MAX_MESSAGE),
  /** A git commit id (7 to 64 hex digits), or empty when the source is not a git checkout. */
  commitOrEmpty: matching('commit', /^([0-9a-f]{7,64})?$/, 'a git commit id (or empty)'),
  /** `1` the checkout had uncommitted changes, `0` it had none, empty: not a git checkout. */
  dirty: matching('dirty flag', /^[01]?$/, '0, 1 or empty'),
  hooks: hooksFlag,
  hookTimeout,
  installationOrEmpty: orEmpty(matching('installation name', NAME_RE, 'an installation name')),
  check,
  envFile,
  version: matching('version', VERSION_RE, 'a version'),
  nodePath,
  keyType,
  ed25519Type,
  keyBlob,
  ed25519Blob,
  keyComment,
  keyLine,
  gateJson,
} as const satisfies Record<string, ArgType>;
