/**
 * How the local `till` starts (bin/till.cjs → dist/cli/boot.cjs): the CLI is split into
 * chunks (dist/cli/*.cjs, one per command group and what only it uses), each loaded when
 * a command needs it, and compiled by V8 from a code cache kept under
 * `$TILL_HOME/cache/`, so a start reads bytecode instead of parsing JavaScript.
 *
 * Node 20 has no compile cache for modules (`module.enableCompileCache` is Node 22.1+),
 * so the chunks are CommonJS-shaped scripts run through `vm.Script` with `cachedData`.
 * V8 checks a cache only against the source's *length*: a rebuilt chunk of the same
 * length would run the old code. So every cache file holds a copy of the exact source it
 * was made from, and is used only when that copy equals the file's bytes now. Nor does
 * V8 verify the data's checksum (a damaged cache crashes the process): the file holds
 * V8's data twice, and it is used only when both copies are the same, byte for byte.
 * Damage (a cut, a flipped bit, garbage written over part of the file) lands on one copy
 * and not at the same place in the other; comparing them is a memcmp, where a SHA-256
 * of the data cost a start ~1.5 ms and loading node:crypto (which nothing else before a
 * command may need) ~3 ms more.
 *
 * The cache is code: it is used only inside a TILL_HOME that belongs to this user and
 * that no one else can write, and only when the cache folder is the same. Any problem
 * with it (missing, unwritable, damaged, another user's) means compiling as usual:
 * never a failed command. Nothing here is imported by the rest of till.
 */
import { mkdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync, type Stats } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Script } from 'node:vm';

/** Changes whenever the wrapper or the file format below changes: older caches are then ignored. */
const FORMAT = 'till-code-cache-3';
const HEAD = '(function (exports, require, module, __filename, __dirname, __tillMeta) {';
const TAIL = '\n})';
/** A cache file: MAGIC, the source's length and the data's (u32 LE), the source, V8's data, V8's data again. */
const MAGIC = Buffer.from(`${FORMAT}\n`);
const START = MAGIC.length + 8;

interface Module {
  exports: unknown;
}

interface Compiled {
  file: string;
  cacheFile: string;
  source: Buffer;
  script: Script;
}

/** Owned by this user and writable by no one else: a folder whose files may be run as code. */
function private_(st: Stats): boolean {
  return st.isDirectory() && st.uid === process.getuid?.() && (st.mode & 0o022) === 0;
}

/** `$TILL_HOME/cache`, made if TILL_HOME exists and is this user's; undefined when it cannot be trusted or made. */
export function cacheDirFor(env: NodeJS.ProcessEnv = process.env): string | undefined {
  try {
    const home = env.TILL_HOME ? resolve(env.TILL_HOME) : join(homedir(), '.till');
    if (!private_(statSync(home))) return undefined;
    const dir = join(home, 'cache');
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch {
      // exists already (checked next), or cannot be made
    }
    return private_(statSync(dir)) ? dir : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Node modules that chunks import as they load but may never call, and that are not in
 * Node's startup snapshot: a chunk gets a stand-in that loads the real module when it
 * is first used. node:fs/promises is imported by most of till's core (the writes), but
 * a command that only reads (host list, and host exec up to its first ssh) reads
 * synchronously and never pays for loading it.
 */
const LAZY_BUILTINS = new Set(['node:fs/promises']);

function lazyBuiltin(spec: string): object {
  let real: object | undefined;
  const load = (): object => (real ??= process.getBuiltinModule(spec) as object);
  return new Proxy(
    {},
    {
      get: (_, key) => Reflect.get(load(), key),
      has: (_, key) => Reflect.has(load(), key),
      ownKeys: () => Reflect.ownKeys(load()),
      getOwnPropertyDescriptor: (_, key) => {
        const d = Reflect.getOwnPropertyDescriptor(load(), key);
        // The stand-in's own (empty) target holds none of them: they must be configurable to be reported.
        return d === undefined ? undefined : { ...d, configurable: true };
      },
    },
  );
}

/** A short name for a folder (two tills installed in two places keep apart caches). */
function folderKey(path: string): string {
  let h = 5381;
  for (let i = 0; i < path.length; i++) h = ((h * 33) ^ path.charCodeAt(i)) >>> 0;
  return h.toString(36);
}

/** A chunk's `import.meta` (the build turns import.meta.url into __tillMeta.url): made only when read. */
function metaOf(file: string): { readonly url: string } {
  return {
    get url() {
      return pathToFileURL(file).href;
    },
  };
}

/** Loads the chunks of one folder: the build puts them all side by side and names them `./<name>.cjs`. */
export class ChunkLoader {
  private readonly modules = new Map<string, Module>();
  private readonly folderKey: string;
  /** A chunk's require(): a sibling chunk, or one of Node's own modules (everything else is bundled). */
  private readonly requireChunk = (spec: string): unknown => {
    if (spec.startsWith('./')) return this.load(spec.slice(2));
    if (LAZY_BUILTINS.has(spec)) return lazyBuiltin(spec);
    const builtin: unknown = process.getBuiltinModule(spec);
    if (builtin === undefined) throw new Error(`till: ${spec} is not bundled and not a Node.js module`);
    return builtin;
  };
  /** Compiled without a usable cache: their cache is written when the process exits. */
  private readonly fresh: Compiled[] = [];

  constructor(
    private readonly dir: string,
    private readonly cacheDir: string | undefined,
  ) {
    this.folderKey = folderKey(dir);
    if (cacheDir !== undefined) process.once('exit', () => this.writeCaches());
  }

  /** Runs the chunk `name` of the folder (once) and returns its exports. */
  load(name: string): unknown {
    const known = this.modules.get(name);
    if (known) return known.exports;
    const file = `${this.dir}/${name}`;
    const source = readFileSync(file);
    const cacheFile =
      this.cacheDir === undefined ? undefined : `${this.cacheDir}/${name}-${this.folderKey}.${process.versions.v8}.bin`;
    const cachedData = cacheFile === undefined ? undefined : this.cached(cacheFile, source);
    const script = new Script(HEAD + source.toString('utf8') + TAIL, { filename: file, cachedData });
    if ((cachedData === undefined || script.cachedDataRejected === true) && cacheFile !== undefined)
      this.fresh.push({ file, cacheFile, source, script });
    const module: Module = { exports: {} };
    this.modules.set(name, module);
    (script.runInThisContext() as (...args: unknown[]) => void)(
      module.exports,
      this.requireChunk,
      module,
      file,
      this.dir,
      metaOf(file),
    );
    return module.exports;
  }

  /** The cache's code for exactly this source, or undefined. */
  private cached(cacheFile: string, source: Buffer): Buffer | undefined {
    let file: Buffer;
    try {
      file = readFileSync(cacheFile);
    } catch {
      return undefined;
    }
    if (file.length <= START || file.compare(MAGIC, 0, MAGIC.length, 0, MAGIC.length) !== 0) return undefined;
    const sourceLength = file.readUInt32LE(MAGIC.length);
    const dataLength = file.readUInt32LE(MAGIC.length + 4);
    const code = START + sourceLength;
    if (sourceLength !== source.length || dataLength === 0 || file.length !== code + 2 * dataLength) return undefined;
    if (file.compare(source, 0, sourceLength, START, code) !== 0) return undefined;
    const v8Data = file.subarray(code, code + dataLength);
    if (file.compare(v8Data, 0, dataLength, code + dataLength) !== 0) return undefined;
    return v8Data;
  }

  /** After the run: the code V8 compiled by now (what this command used), for the next start. */
  private writeCaches(): void {
    for (const c of this.fresh) {
      const tmp = `${c.cacheFile}.${process.pid}.tmp`;
      try {
        const v8Data = c.script.createCachedData();
        const lengths = Buffer.alloc(8);
        lengths.writeUInt32LE(c.source.length, 0);
        lengths.writeUInt32LE(v8Data.length, 4);
        writeFileSync(tmp, Buffer.concat([MAGIC, lengths, c.source, v8Data, v8Data]), { mode: 0o600 });
        // Whole or not at all: another till may be reading it right now.
        renameSync(tmp, c.cacheFile);
      } catch {
        try {
          unlinkSync(tmp);
        } catch {
          // nothing was written
        }
      }
    }
  }
}

/** Starts the CLI whose entry chunk is `entry` (dist/cli/till.cjs). */
export function start(entry: string): void {
  const loader = new ChunkLoader(dirname(entry), process.env.TILL_NO_CODE_CACHE ? undefined : cacheDirFor());
  loader.load(entry.slice(entry.lastIndexOf('/') + 1));
}
