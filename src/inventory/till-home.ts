/**
 * `till host init`: creating TILL_HOME, apart from the host database it seeds. Above
 * core and ssh: it makes the key pair (ssh-keygen) and renders the first ssh/config.
 */
import { chmod, mkdir } from 'node:fs/promises';
import { asWriteError, permissionError, StateError } from '../core/errors.js';
import { pathExists, writeFileAtomic } from '../core/fs.js';
import { checkControlPath, type TillPaths } from '../core/paths.js';
import { emptyHostsFile, hostsStore } from '../core/state/hosts.js';
import { emptyScheduleFile, scheduleStore } from '../core/state/schedule.js';
import { ensureKeyPair } from '../ssh/keys.js';
import { Inventory } from './inventory.js';

export interface InitResult {
  keyCreated: boolean;
  databaseCreated: boolean;
  scheduleCreated: boolean;
}

/**
 * `till host init`: the TILL_HOME tree, key, config, empty database and schedule.
 * Idempotent, and safe to run many times at once: all of it happens under the
 * database's lock, so one run makes the key and the others keep it.
 */
export async function initTillHome(paths: TillPaths, opts: { newKey?: boolean } = {}): Promise<InitResult> {
  checkControlPath(paths);
  try {
    for (const dir of [paths.home, paths.sshDir, paths.controlDir]) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await chmod(dir, 0o700);
    }
    await mkdir(paths.logsDir, { recursive: true, mode: 0o700 });
  } catch (err) {
    const refused = permissionError(err, paths.home);
    if (!refused) throw err;
    const inside = ((err as NodeJS.ErrnoException).path ?? '').startsWith(`${paths.home}/`);
    throw new StateError(
      `cannot set up TILL_HOME ${paths.home}: ${refused.message}`,
      inside
        ? refused.hint
        : 'create that folder yourself, or set TILL_HOME to a folder you can write (the default is ~/.till)',
    );
  }
  const hosts = hostsStore(paths);
  return hosts.withLock(async () => {
    const { created } = await ensureKeyPair(paths, opts);
    const databaseCreated = !(await hosts.exists());
    if (databaseCreated) await hosts.write(emptyHostsFile());
    const schedule = scheduleStore(paths);
    const scheduleCreated = !(await schedule.exists());
    if (scheduleCreated) await schedule.write(emptyScheduleFile());
    else await schedule.read(); // a corrupt schedule.json stops init too (exit 4, file untouched)
    // Regenerate the config from whatever database is there (validating it, never rewriting it).
    const { data, text } = await hosts.readText();
    await new Inventory(paths).writeSshConfig(data, text);
    if (!(await pathExists(paths.knownHosts)))
      await writeFileAtomic(paths.knownHosts, '', { mode: 0o600 }).catch((err: unknown) => {
        throw asWriteError(paths.knownHosts, err, '');
      });
    return { keyCreated: created, databaseCreated, scheduleCreated };
  });
}
