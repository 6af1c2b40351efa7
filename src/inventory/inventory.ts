/**
 * The host database as commands use it: hosts-local.json (core/state/hosts.ts) with the
 * ssh/config derived from it kept in step. Above core and ssh: it renders the config.
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { asWriteError, DiskFullError, FileSystemError, SetupError } from '../core/errors.js';
import { finishedKeySwitch, missingKeyError } from '../ssh/keys.js';
import type { HostResult } from '../core/fanout.js';
import { pathExists, writeFileAtomic } from '../core/fs.js';
import type { TillPaths } from '../core/paths.js';
import { hostsStore, lifecycleOf, type HostEntry, type HostsFile } from '../core/state/hosts.js';
import { sha256, UNCHANGED, type Committed } from '../core/state/store.js';
import { renderedFrom, renderSshConfig, sourceLine, SOURCE_LINE_RE } from '../ssh/config.js';
import { otherTillKeys } from '../ssh/key-set.js';

/** Consecutive failed operations after which a host is marked unreachable. */
export const UNREACHABLE_AFTER = 3;

const NO_CONTACT_EVIDENCE = new Set(['deadline', 'local', 'spawn']);

/**
 * The host database and the ssh config generated from it. Every change goes
 * through `update`, which rewrites ssh/config under the same lock once the database
 * holds its new text; the config records the hash of that text, and `read` rebuilds a
 * config rendered from any other text (a hand edit, an interrupted write) before use.
 */
export class Inventory {
  readonly store;
  /** The database text this inventory last read or committed (recordResults compares with it). */
  private known: string | undefined;

  constructor(readonly paths: TillPaths) {
    this.store = hostsStore(paths);
  }

  /** Commands that connect or change the database need `till host init` first. */
  async requireInit(): Promise<void> {
    const [key, db] = await Promise.all([pathExists(this.paths.privateKey), pathExists(this.paths.hostsDb)]);
    if (!key && db) {
      // A key rotation stopped between its renames (current → old, next → current): finish
      // that local switch, as rotate-key itself would first; only a key that is gone is lost.
      if (await finishedKeySwitch(this.paths)) return;
      throw missingKeyError(this.paths);
    }
    if (!key || !db) throw new SetupError(`till is not initialised in ${this.paths.home}`, 'run: till host init');
  }

  async read(): Promise<HostsFile> {
    await this.requireInit();
    const { data, text } = await this.store.readText();
    if ((await this.configSource()) === sha256(text)) {
      this.known = text;
      return data;
    }
    // Rendered from other text (or missing): rebuild it under the lock, from the database as it is then.
    let current: HostsFile = data;
    await this.store.update(
      (db) => {
        current = db;
        return UNCHANGED;
      },
      (db, committed) => this.afterCommit(db, committed, true),
    );
    return current;
  }

  /** `sshConfig: false` for changes that cannot touch it (statuses, counters, times). */
  async update<R>(
    change: (db: HostsFile) => R | Promise<R>,
    opts: { sshConfig?: boolean | (() => boolean) } = {},
  ): Promise<R> {
    await this.requireInit();
    return this.store.update(
      async (db) => {
        const result = await change(db);
        if (result === UNCHANGED) return result;
        db.updated = String(Math.floor(Date.now() / 1000));
        return result;
      },
      (db, committed) =>
        this.afterCommit(
          db,
          committed,
          typeof opts.sshConfig === 'function' ? opts.sshConfig() : opts.sshConfig !== false,
        ),
    );
  }

  /**
   * Brings ssh/config in step with the database text just committed (under its lock).
   * A change that cannot touch the config only re-stamps the hash line of a config that
   * matched the text before it: no re-render of 10,000 hosts after every run.
   */
  private async afterCommit(
    db: HostsFile,
    { before, after, written }: Committed,
    configMayChange: boolean,
  ): Promise<void> {
    this.known = after;
    const source = await this.configSource();
    const wasCurrent = source === sha256(before);
    if (!written) {
      if (!wasCurrent) await this.writeSshConfig(db, after);
      return;
    }
    // The database already holds the change: say so, and that the config follows it later.
    const committed = `; it was left as it was (hosts-local.json holds the change, and the next till command rebuilds ssh/config from it)`;
    try {
      if (!configMayChange && wasCurrent && (await this.restampSshConfig(after))) return;
      await this.writeSshConfig(db, after);
    } catch (err) {
      if (err instanceof DiskFullError) throw new DiskFullError(this.paths.sshConfig, committed);
      throw err instanceof FileSystemError ? err.withDetail(committed) : err;
    }
  }

  /** The hash of the database text ssh/config was rendered from (undefined: missing or unstamped). */
  private async configSource(): Promise<string | undefined> {
    // Synchronous, as the database's own read (store.ts): every command that reads the database asks this.
    let fd;
    try {
      fd = openSync(this.paths.sshConfig, 'r');
    } catch {
      return undefined;
    }
    try {
      const buf = Buffer.alloc(4096);
      const bytesRead = readSync(fd, buf, 0, buf.length, 0);
      return renderedFrom(buf.subarray(0, bytesRead).toString('utf8'));
    } catch {
      // Unreadable (a directory in the way, EIO): a rebuild is due, and its write says what is wrong.
      return undefined;
    } finally {
      closeSync(fd);
    }
  }

  /** Rewrites only the hash line; false when the config has none (it is then rendered in full). */
  private async restampSshConfig(sourceText: string): Promise<boolean> {
    const text = await readFile(this.paths.sshConfig, 'utf8').catch(() => '');
    if (renderedFrom(text) === undefined) return false;
    // Derived data: a crash that loses this write leaves a stale hash, which only means a rebuild.
    await writeFileAtomic(this.paths.sshConfig, text.replace(SOURCE_LINE_RE, sourceLine(sha256(sourceText))), {
      mode: 0o600,
      fsync: false,
    }).catch((err: unknown) => {
      throw asWriteError(this.paths.sshConfig, err);
    });
    return true;
  }

  /** Renders the config for `db`, stamped with the hash of `sourceText`, the database text `db` was read from or written as. */
  async writeSshConfig(db: HostsFile, sourceText: string): Promise<void> {
    const text = renderSshConfig(db, this.paths, await otherTillKeys(this.paths), sha256(sourceText));
    await writeFileAtomic(this.paths.sshConfig, text, { mode: 0o600 }).catch((err: unknown) => {
      throw asWriteError(this.paths.sshConfig, err);
    });
  }

  /**
   * Records what a fleet run learned about each host: connection failures count
   * towards `unreachable`; any contact resets them and restores the lifecycle stage.
   * `onSuccess` applies the operation's own promotion (e.g. test → connected).
   */
  async recordResults<T>(
    results: readonly HostResult<T>[],
    onSuccess?: (entry: HostEntry, result: HostResult<T>) => void,
    onAttempt?: (entry: HostEntry, result: HostResult<T>) => void,
  ): Promise<void> {
    const relevant = results.filter((r) => r.status !== 'skipped' && r.failureKind !== 'cancelled');
    if (relevant.length === 0) return;
    if (this.changesNothing(relevant, onSuccess, onAttempt)) return;
    let keyChanged = false;
    await this.update(
      (db) => {
        const applied = applyResults(db, relevant, onSuccess, onAttempt);
        keyChanged = applied.keyChanged;
        // A run that changed no entry (all answered, as before) leaves the database untouched.
        return applied.changed ? undefined : UNCHANGED;
      },
      // Results change statuses: no need to re-render (and fsync) a config of 10,000 hosts every
      // run, unless a host's key changed (authorize, rotate-key), which picks its IdentityFile.
      { sshConfig: () => keyChanged },
    );
  }

  /**
   * Whether these results would leave the database as it is: it still holds the text
   * this inventory read or wrote last, and applying them to that text's entries changes
   * none. A run whose hosts all answered as before (`host exec` on a healthy fleet) then
   * takes no lock and reads nothing more: what update would do, with UNCHANGED, minus
   * the lock, the seal check and the config's stamp check. Anything else (a change,
   * another till's write since, an unreadable file) goes through update as before.
   */
  private changesNothing<T>(
    relevant: readonly HostResult<T>[],
    onSuccess?: (entry: HostEntry, result: HostResult<T>) => void,
    onAttempt?: (entry: HostEntry, result: HostResult<T>) => void,
  ): boolean {
    if (this.known === undefined) return false;
    try {
      if (readFileSync(this.paths.hostsDb, 'utf8') !== this.known) return false;
    } catch {
      return false;
    }
    return !applyResults(this.store.reread(this.known), relevant, onSuccess, onAttempt).changed;
  }
}

/** Applies each result to its host's entry in `db` (a host removed meanwhile by another till is skipped). */
function applyResults<T>(
  db: HostsFile,
  relevant: readonly HostResult<T>[],
  onSuccess?: (entry: HostEntry, result: HostResult<T>) => void,
  onAttempt?: (entry: HostEntry, result: HostResult<T>) => void,
): { changed: boolean; keyChanged: boolean } {
  let changed = false;
  let keyChanged = false;
  for (const r of relevant) {
    const entry = Object.hasOwn(db.hosts, r.host) ? db.hosts[r.host] : undefined;
    if (!entry) continue;
    const before = JSON.stringify(entry);
    const key = entry.key_fingerprint;
    applyResult(entry, r, onSuccess, onAttempt);
    changed ||= JSON.stringify(entry) !== before;
    keyChanged ||= entry.key_fingerprint !== key;
  }
  return { changed, keyChanged };
}

/** What one host's result says about it: failures, last error, lifecycle status. */
function applyResult<T>(
  entry: HostEntry,
  r: HostResult<T>,
  onSuccess?: (entry: HostEntry, result: HostResult<T>) => void,
  onAttempt?: (entry: HostEntry, result: HostResult<T>) => void,
): void {
  onAttempt?.(entry, r);
  if (r.status === 'unreachable') {
    entry.failures = (entry.failures ?? 0) + 1;
    entry.last_error = r.error;
    if (entry.failures >= UNREACHABLE_AFTER && entry.status !== 'unreachable') {
      entry.previous_status = lifecycleOf(entry);
      entry.status = 'unreachable';
    }
    return;
  }
  // A deadline kill or a local ssh problem proves no contact: neither count nor reset.
  if (!r.ok && r.failureKind !== null && NO_CONTACT_EVIDENCE.has(r.failureKind)) return;
  // The host answered: whatever the command did, the connection works.
  entry.failures = 0;
  if (entry.status === 'unreachable') {
    entry.status = lifecycleOf(entry);
    delete entry.previous_status;
  }
  if (entry.status === 'untested') entry.status = 'connected';
  entry.last_error = r.ok ? null : r.error;
  if (r.ok) onSuccess?.(entry, r);
}
