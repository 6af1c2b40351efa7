import { access } from 'node:fs/promises';

/** Whether a path exists (and is reachable): the file itself is read later, with its own errors. */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
