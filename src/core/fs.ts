import { access } from 'node:fs/promises';

/**
 * Whether a path exists: the file itself is read later, with its own errors. A path that
 * cannot be reached (EACCES on a folder above it) is an error, not "missing": taking it
 * for missing made till call an unreadable TILL_HOME "not initialised" and try to
 * create a key over one it cannot see.
 */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return false;
    throw err;
  }
}

/**
 * write-file-atomic (temp file, fsync, rename), loaded on the first write: it and the
 * signal-exit it brings cost the start of a command that only reads.
 */
export async function writeFileAtomically(
  file: string,
  data: string,
  opts: { mode?: number; fsync?: boolean } = {},
): Promise<void> {
  const { default: writeFileAtomic } = await import('write-file-atomic');
  await writeFileAtomic(file, data, opts);
}
