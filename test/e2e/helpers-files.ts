/** Local trees for the operations tests, and snapshots of a folder for "nothing changed". */
import { lstatSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function makeTree(dir: string, files: Record<string, string>): void {
  mkdirSync(dir, { recursive: true });
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), content);
  }
}

/**
 * Every entry under `dir` (not following links): inode, mode, size, mtime and ctime to the
 * nanosecond, and a file's atime (reading a folder or a symlink, as ls does, updates its own).
 */
export function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    const path = rel === '' ? dir : join(dir, rel);
    const st = lstatSync(path, { bigint: true });
    const atime = st.isFile() ? ` a${st.atimeNs}` : '';
    out.set(rel, `${st.ino} ${st.mode} ${st.size} m${st.mtimeNs} c${st.ctimeNs}${atime}`);
    if (st.isDirectory()) for (const n of readdirSync(path)) walk(rel === '' ? n : `${rel}/${n}`);
  };
  walk('');
  return out;
}
