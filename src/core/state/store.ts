import { createHash, createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { LOCK_FS, removeStaleTemps, writeFileAtomic } from '../fs.js';
import { LOCK_NOTICE_MS, noticeLockWait, tellLockWait } from '../lock-notice.js';
import type * as z from 'zod';
import { asWriteError, DiskFullError, isDiskFull, StateError, errorMessage } from '../errors.js';

/** What an `update` change returns when it changed nothing: the file is not rewritten. */
export const UNCHANGED: unique symbol = Symbol('unchanged');

/**
 * One JSON state file: schema-checked reads, and updates made under a lock with an
 * atomic write (temp file + fsync + rename). A file that does not parse or match the
 * schema is never overwritten: every read and update stops with a StateError naming
 * the file and the problem, and leaves its bytes as they were.
 */
export interface StoreOptions<S extends z.ZodType = z.ZodType> {
  /**
   * Skip the schema check of a file that still holds exactly the text this store last
   * validated and wrote. Validating 10,000 hosts costs 0.2–0.3 s per read. The proof is a
   * seal in `<file>.sha256`: an HMAC-SHA256 of that text keyed with a secret of this
   * TILL_HOME (`keyFile`, 0600, made on the first sealed write). Only `write` makes one,
   * and only after the schema check; whoever lacks the key cannot seal other text, so a
   * hand edit, another program's write or a database copied with its seal is validated
   * as usual. What is written is the schema's output; a schema whose transforms make
   * more than JSON can hold (prototype-less maps) gives `revive` to redo them on a
   * sealed read.
   */
  seal?: {
    keyFile: string;
    /**
     * What else the seal vouches for, beside the text: the hosts database seals with the
     * till version that checked it, so another version (an upgrade, a downgrade, whose
     * schema may differ) checks the file in full once instead of trusting it.
     */
    context?: string;
  };
  revive?: (data: unknown) => unknown;
  /**
   * Each write removes the temp files of this file (and its seal) that killed tills left
   * (removeStaleTemps): the host database's are full copies of it.
   */
  sweepStaleTemps?: boolean;
  /**
   * A check of an update's result that costs what the change touched, not the whole
   * file (10,000 hosts: ~30 ms instead of ~250), loaded with the schema. Given the data
   * of the sealed text the update read (JSON.parse of it: the schema's own output, as
   * till wrote it) and the data after the change (made in place), it gives the output
   * the full check would give, with the same JSON text, or undefined when it cannot
   * vouch for that; the full check then runs, and words any refusal.
   */
  changes?: () => Promise<(prior: unknown, data: unknown) => z.output<S> | undefined>;
}

/**
 * A state file's text, or null when it cannot be read. Reads are synchronous: state
 * files are small and local, and a command that only reads (host list) would otherwise
 * pay at start for loading node:fs/promises and starting libuv's threads.
 */
function readTextOrNull(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** How long a lock may sit untouched before another till takes it over (a killed till left it). */
const STALE_MS = 15_000;

type LockfileModule = typeof import('proper-lockfile');
let syncLockfile: LockfileModule | undefined;

/**
 * Loads proper-lockfile for lockFileSync, which cannot load it itself: it may run in
 * an 'exit' handler, where nothing asynchronous happens. The library is loaded only by
 * the commands that need it (start-up by command group).
 */
export async function prepareLockFileSync(): Promise<void> {
  syncLockfile ??= (await import('proper-lockfile')).default;
}

/**
 * Takes `<file>.lock` synchronously, as the async stores do (proper-lockfile, the same
 * lock folder and staleness), for a writer that must finish inside a process 'exit'
 * handler (the operations journal). Waits up to `waitMs`; throws when it cannot (and
 * when prepareLockFileSync has not run). Returns the release.
 */
export function lockFileSync(file: string, waitMs = 20_000): () => void {
  const lockfile = syncLockfile;
  if (lockfile === undefined) throw new Error('lockFileSync before prepareLockFileSync');
  const started = Date.now();
  const deadline = started + waitMs;
  let told = false;
  const nap = new Int32Array(new SharedArrayBuffer(4));
  // Stryker disable next-line MethodExpression,ArithmeticOperator: the backoff's shape only spreads the retries out
  for (let delay = 2; ; delay = Math.min(delay * 2, 100)) {
    try {
      const release = lockfile.lockSync(file, {
        realpath: false,
        stale: STALE_MS,
        onCompromised: () => undefined,
        fs: LOCK_FS,
      });
      return () => {
        try {
          release();
        } catch {
          // already released (taken over as stale): nothing of ours to remove
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ELOCKED' || Date.now() >= deadline) throw err;
      // Said once, as the async locks say it: a wait is never silent.
      if (!told && Date.now() - started >= LOCK_NOTICE_MS) {
        told = true;
        tellLockWait(`${file}.lock`);
      }
      // A sleep without the event loop: this may run in an 'exit' handler.
      // Stryker disable next-line ArithmeticOperator: the jitter only spreads the retries out
      Atomics.wait(nap, 0, 0, delay + Math.floor(Math.random() * delay));
    }
  }
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The seal of `text`, vouching also for `context` when there is one (a NUL ends it: no text can move the boundary). */
function sealOf(key: Buffer, text: string, context: string | undefined): string {
  const hmac = createHmac('sha256', key);
  if (context !== undefined) hmac.update(`${context}\0`);
  return hmac.update(text).digest('hex');
}

/** What `update` did, for work that must follow the write under the same lock. */
export interface Committed {
  /** The file's text before the change ('' when it did not exist). */
  before: string;
  /** Its text now: `before` when the change returned UNCHANGED. */
  after: string;
  /** False when the change returned UNCHANGED (nothing was written). */
  written: boolean;
}

/**
 * A schema, or how to load it: a store whose schema module is loaded only when a file
 * must be checked keeps zod (slow to load) out of commands that only read sealed files.
 */
export type SchemaSource<S extends z.ZodType> = S | (() => Promise<S>);

export class JsonFileStore<S extends z.ZodType> {
  private loaded: S | undefined;

  constructor(
    readonly file: string,
    private readonly schema: SchemaSource<S>,
    private readonly empty: () => z.output<S>,
    private readonly opts: StoreOptions<S> = {},
  ) {}

  private async checker(): Promise<S> {
    if (typeof this.schema !== 'function') return this.schema;
    return (this.loaded ??= await this.schema());
  }

  private get sealFile(): string {
    return `${this.file}.sha256`;
  }

  private async isSealed(text: string): Promise<boolean> {
    if (!this.opts.seal) return false;
    const seal = readTextOrNull(this.sealFile);
    if (seal === null) return false;
    const key = await this.sealKey(false);
    return key !== undefined && seal.trim() === sealOf(key, text, this.opts.seal.context);
  }

  /** The seal key; with `create`, a new one when there is none (only under the lock, from `write`). */
  private async sealKey(create: boolean): Promise<Buffer | undefined> {
    const file = this.opts.seal!.keyFile;
    // Stryker disable next-line StringLiteral: a missing key reads as text that is no key, whatever the text
    const hex = (readTextOrNull(file) ?? '').trim();
    if (/^[0-9a-f]{64}$/.test(hex)) return Buffer.from(hex, 'hex');
    if (!create) return undefined;
    // Missing or damaged: a new key only invalidates old seals, which means one full check.
    const key = randomBytes(32);
    await writeFileAtomic(file, `${key.toString('hex')}\n`, { mode: 0o600 });
    return key;
  }

  async exists(): Promise<boolean> {
    try {
      readFileSync(this.file);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  async read(): Promise<z.output<S>> {
    return (await this.readText()).data;
  }

  /** The data and the exact text it came from ('' for a missing file, read as empty). */
  async readText(): Promise<{ data: z.output<S>; text: string }> {
    const { data, text } = await this.readSealed();
    return { data, text };
  }

  /** readText, and whether the text was sealed (read without the schema check). */
  private async readSealed(): Promise<{ data: z.output<S>; text: string; sealed: boolean }> {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { data: this.empty(), text: '', sealed: false };
      const denied = (err as NodeJS.ErrnoException).code === 'EACCES';
      throw new StateError(
        `cannot read ${this.file}: ${denied ? 'permission denied' : errorMessage(err)}`,
        denied
          ? `it must belong to the user till runs as (a till once run through sudo may have left it so): ls -l ${this.file}`
          : undefined,
      );
    }
    if (await this.isSealed(text)) return { data: this.reread(text), text, sealed: true };
    return { data: await this.parse(text), text, sealed: false };
  }

  /**
   * The data of a text this store returned or wrote before (checked then), without a
   * second check: JSON.parse, and `revive`. For a text that is not such a one, use parse.
   */
  reread(text: string): z.output<S> {
    const data: unknown = JSON.parse(text);
    return (this.opts.revive ? this.opts.revive(data) : data) as z.output<S>;
  }

  async parse(text: string): Promise<z.output<S>> {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new StateError(
        `${this.file} is not valid JSON (${errorMessage(err)}); till left it unchanged`,
        'fix the file by hand or restore it from a backup; till never overwrites a file it cannot read',
      );
    }
    const result = (await this.checker()).safeParse(raw);
    if (!result.success) {
      // A failed parse has at least one issue.
      const issue = result.error.issues[0]!;
      const where = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
      throw new StateError(
        `${this.file} does not match its schema at ${where}: ${issue.message}; till left it unchanged`,
        'fix that field by hand; till never overwrites a file it cannot read',
      );
    }
    return result.data;
  }

  /**
   * Reads, applies `change`, and writes back atomically, all under the file's lock. A
   * change that returns UNCHANGED leaves the file as it was: no rewrite, no fsync.
   * `afterWrite` runs once the file holds its new text (or was left unchanged), still
   * under the lock: files derived from this one are written there, never ahead of it.
   */
  async update<R>(
    change: (data: z.output<S>) => R | Promise<R>,
    afterWrite?: (data: z.output<S>, committed: Committed) => Promise<void>,
  ): Promise<R> {
    return this.withLock(async (lock) => {
      const { data, text: before, sealed } = await this.readSealed();
      const result = await change(data);
      let after = before;
      const written = result !== UNCHANGED;
      if (written) {
        // Another process took the lock as stale while we held it: writing now could lose its change.
        if (lock.compromised)
          throw new StateError(
            `lost the lock on ${this.file} while updating it; nothing was written`,
            'run the command again',
          );
        after = await this.write(data, sealed ? before : undefined);
      }
      await afterWrite?.(data, { before, after, written });
      return result;
    });
  }

  /** Runs `work` holding this file's lock (the lock `update` takes; not re-entrant). */
  async withLock<R>(work: (lock: { compromised: boolean }) => Promise<R>): Promise<R> {
    await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
    // Stryker disable next-line ObjectLiteral: `{}` reads as compromised: false too
    const lock = { compromised: false };
    const release = await this.lock(lock);
    try {
      return await work(lock);
    } finally {
      await release().catch(() => undefined);
    }
  }

  /**
   * Writes a value that must already be valid (used by init and by update); returns the
   * text written. `sealedText`: the sealed text `data` was read from before a change,
   * so that only the change is checked (`changes`).
   */
  async write(data: z.output<S>, sealedText?: string): Promise<string> {
    const output = await this.checked(data, sealedText);
    if (this.opts.sweepStaleTemps) await removeStaleTemps([this.file, this.sealFile]);
    const text = `${JSON.stringify(this.opts.seal ? output : data, null, 2)}\n`;
    // A write that cannot complete (disk full) leaves the file as it was and no temp file
    // (writeFileAtomic removes its own): the command stops with a DiskFullError.
    // Stryker disable next-line BooleanLiteral: whether fsync ran cannot be seen from a test
    await writeFileAtomic(this.file, text, { mode: 0o600, fsync: true }).catch((err: unknown) => {
      throw asWriteError(this.file, err);
    });
    // After the data: a crash in between, or a disk that filled up, leaves a stale seal, which only means a full check.
    if (this.opts.seal) {
      // The change is in: say so when something else than a full disk (a directory in the way, EIO) stops the seal.
      const kept = `; ${basename(this.file)} holds the change (it is checked in full until this file can be written)`;
      const key = await this.sealKey(true).catch((err: unknown) => {
        if (isDiskFull(err)) return undefined;
        throw asWriteError(this.opts.seal!.keyFile, err, kept);
      });
      if (key !== undefined)
        // Stryker disable next-line BooleanLiteral: whether fsync ran cannot be seen from a test
        await writeFileAtomic(this.sealFile, `${sealOf(key, text, this.opts.seal.context)}\n`, {
          mode: 0o600,
          fsync: false,
        }).catch((err: unknown) => {
          if (!isDiskFull(err)) throw asWriteError(this.sealFile, err, kept);
        });
    }
    return text;
  }

  /** The schema's output for `data`; throws when it does not match (a bug: never write what the next read would refuse). */
  private async checked(data: z.output<S>, sealedText: string | undefined): Promise<z.output<S>> {
    if (sealedText !== undefined && this.opts.changes) {
      const output = (await this.opts.changes())(JSON.parse(sealedText), data);
      if (output !== undefined) return output;
    }
    const checked = (await this.checker()).safeParse(data);
    if (!checked.success)
      throw new Error(`refusing to write invalid ${this.file}: ${checked.error.issues[0]!.message}`);
    return checked.data;
  }

  private lock(state: { compromised: boolean }): Promise<() => Promise<void>> {
    return lockFile(this.file, state);
  }
}

/**
 * Takes `<file>.lock` (proper-lockfile: the lock folder, its staleness and retries every
 * till uses); `state.compromised` turns true when another process took it over as stale.
 */
async function lockFile(file: string, state: { compromised: boolean }): Promise<() => Promise<void>> {
  const waited = noticeLockWait(`${file}.lock`);
  try {
    // Loaded here: proper-lockfile brings graceful-fs, which patches fs as it loads.
    const { default: lockfile } = await import('proper-lockfile');
    return await lockfile.lock(file, {
      realpath: false,
      fs: LOCK_FS,
      stale: STALE_MS,
      update: 5_000,
      // Stryker disable next-line BooleanLiteral: jitter only spreads the retries out
      retries: { retries: 200, factor: 1.3, minTimeout: 5, maxTimeout: 150, randomize: true },
      onCompromised: () => {
        state.compromised = true;
      },
    });
  } catch (err) {
    if (isDiskFull(err)) throw new DiskFullError(`${file}.lock`, `; ${file} was left as it was`);
    throw new StateError(
      `could not lock ${file}: ${errorMessage(err)}`,
      `another till may be running; if none is, remove ${file}.lock`,
    );
  } finally {
    waited();
  }
}

/** Runs `work` holding `<file>.lock`, the lock a state file that is not a JsonFileStore's shares among tills. */
export async function withFileLock<R>(file: string, work: () => Promise<R>): Promise<R> {
  const release = await lockFile(file, { compromised: false });
  try {
    return await work();
  } finally {
    await release().catch(() => undefined);
  }
}
