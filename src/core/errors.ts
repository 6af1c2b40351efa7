/**
 * The small error family. Errors a user can cause carry an exit code and a hint;
 * anything else reaching the entry point is a bug and is shown with its stack.
 */
import { dirname } from 'node:path';
export const ExitCode = {
  ok: 0,
  hostFailed: 1,
  usage: 2,
  notRunning: 3,
  state: 4,
  interrupted: 130,
  internal: 70,
} as const;

export class TillError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly hint?: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad input: an invalid name, host, port, path, option or target. Exit 2. */
export class UsageError extends TillError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.usage, hint);
  }
}

/** A state file that does not parse or match its schema, or a lock that cannot be had. */
export class StateError extends TillError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.state, hint);
  }
}

/** A precondition on this machine that is not met (no key yet, missing binary). */
export class SetupError extends TillError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.usage, hint);
  }
}

/** A command that ran and reports failure (some host failed). Exit 1, message optional. */
export class FailedError extends TillError {
  constructor(message = '') {
    super(message, ExitCode.hostFailed);
  }
}

const PERMISSION_CODES: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
};

/**
 * A file system refusal (EACCES, EPERM, EROFS) is a fact of this machine, not a bug: a
 * clear error (exit 4) naming the path, with a hint about TILL_HOME when the path is in it.
 */
export function permissionError(err: unknown, tillHome?: string): StateError | undefined {
  if (!(err instanceof Error)) return undefined;
  const { code, path, syscall } = err as NodeJS.ErrnoException;
  const what = code === undefined ? undefined : PERMISSION_CODES[code];
  if (what === undefined) return undefined;
  const where = path === undefined ? '' : ` ${path}`;
  const inHome = tillHome !== undefined && path !== undefined && (path === tillHome || path.startsWith(`${tillHome}/`));
  return new StateError(
    `${what}: cannot ${syscall ?? 'use'}${where}`,
    inHome
      ? `everything under TILL_HOME (${tillHome}) must belong to the user till runs as: see ls -la ${tillHome}; a till once run as another user (sudo) may have left files there`
      : `check the permissions of${where === '' ? ' that path' : where}`,
  );
}

/** What a local file error means, in words: the path is said by the caller. */
const FILE_CODES: Record<string, string> = {
  ...PERMISSION_CODES,
  ENOENT: 'no such file or folder',
  ENOTDIR: 'a part of that path is a file, not a folder',
  EISDIR: 'it is a folder, not a file',
  EEXIST: 'a file of that name is in the way',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'the name is too long',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
};

/**
 * A local file system error as a person reads it ("no such file or folder"), not as
 * Node words it ("ENOENT: no such file or directory, open '/x'", or the bare code);
 * the message itself for one not listed.
 */
export function fileErrorText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return (code !== undefined ? FILE_CODES[code] : undefined) ?? errorMessage(err);
}

/**
 * A local file error with the path Node put in it, in words: `/x/watch.log: permission
 * denied`, not `EACCES: permission denied, open '/x/watch.log'`.
 */
export function pathErrorText(err: unknown): string {
  const path = (err as NodeJS.ErrnoException | undefined)?.path;
  return path === undefined ? fileErrorText(err) : `${path}: ${fileErrorText(err)}`;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Errors that mean the file system has no room left (for this user): nothing is wrong with till's files. */
const DISK_FULL_CODES = new Set(['ENOSPC', 'EDQUOT']);

export function isDiskFull(err: unknown): boolean {
  return DISK_FULL_CODES.has((err as NodeJS.ErrnoException | undefined)?.code ?? '');
}

/** A remote tool's error text (rsync, sh, cp) that says the file system is full: strerror of ENOSPC or EDQUOT. */
export function saysDiskFull(text: string): boolean {
  return /No space left on device|Disk quota exceeded/.test(text);
}

/**
 * A local file that could not be written because its file system is full: exit 4, like
 * any state file till cannot use. `detail` says what became of the file and the command
 * (the state writers write a temp file and rename it: the file keeps what it held).
 */
export class DiskFullError extends StateError {
  constructor(file: string, detail = '') {
    super(
      `disk full: could not write ${file}${detail}`,
      'free space on the file system that holds TILL_HOME (df -h), then run the command again',
    );
  }
}

/** What a state writer says when its atomic write failed: the file is as it was. */
export const LEFT_AS_IT_WAS = '; it was left as it was';

/**
 * What a file system says, errno by errno, when something is in a state file's way or its
 * device fails: a fact of this machine, as a full disk is, never till's bug. (EACCES,
 * EPERM and EROFS: permissionError.)
 */
const FILE_SYSTEM_CODES: Readonly<Record<string, string>> = {
  EISDIR: 'a directory is in the way',
  ENOTDIR: 'a file is in the way of a directory',
  ENOTEMPTY: 'a directory is in the way',
  EEXIST: 'something is in the way',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'the path is too long',
  EIO: 'input/output error (a failing disk?)',
  EMLINK: 'too many links',
  EXDEV: 'crosses file systems',
  EBUSY: 'busy',
};

/**
 * A state file till could not read or write because of the file system (exit 4, like a
 * full disk): names the file, what the system said and (`detail`) what became of the
 * change. Keeps the errno error, so a caller can say it again with another detail.
 */
export class FileSystemError extends StateError {
  constructor(
    readonly file: string,
    override readonly cause: NodeJS.ErrnoException,
    readonly verb: 'read' | 'write',
    detail = '',
  ) {
    super(
      `could not ${verb} ${file}: ${FILE_SYSTEM_CODES[cause.code ?? ''] ?? cause.code} (${cause.code} on ${cause.syscall ?? 'use'}${cause.path !== undefined && cause.path !== file ? ` ${cause.path}` : ''})${detail}`,
      `see ls -la ${dirname(file)}: move what is in the way (or check the disk: dmesg), then run the command again`,
    );
  }

  /** The same failure, saying `detail` of the change instead. */
  withDetail(detail: string): FileSystemError {
    return new FileSystemError(this.file, this.cause, this.verb, detail);
  }
}

/** `err` as a FileSystemError naming `file` when it is a file system's refusal (FILE_SYSTEM_CODES). */
export function fileSystemError(
  file: string,
  err: unknown,
  verb: 'read' | 'write',
  detail = '',
): FileSystemError | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (!(err instanceof Error) || code === undefined || FILE_SYSTEM_CODES[code] === undefined) return undefined;
  return new FileSystemError(file, err, verb, detail);
}

/**
 * `err` as a DiskFullError naming `file` when it is one (ENOSPC, EDQUOT), as a
 * FileSystemError when something else of the file system's stopped the write; otherwise
 * `err` itself (a bug).
 */
export function asWriteError(file: string, err: unknown, detail = LEFT_AS_IT_WAS): unknown {
  if (isDiskFull(err)) return new DiskFullError(file, detail);
  return fileSystemError(file, err, 'write', detail) ?? err;
}
