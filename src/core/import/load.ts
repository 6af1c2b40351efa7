import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { globSync } from 'tinyglobby';
import { fileErrorText, UsageError } from '../errors.js';
import type { TillPaths } from '../paths.js';
import { parseAnsible } from './ansible.js';
import { detectFormat } from './detect.js';
import { parsePssh } from './pssh.js';
import type { FoundInventory, ImportFormat, SourceFile } from './source.js';
import { parseSshConfig } from './ssh-config.js';

/** `~/x` and `~` as ssh and Ansible read them. */
function expandHome(path: string): string {
  return path === '~' ? homedir() : path.startsWith('~/') ? join(homedir(), path.slice(2)) : path;
}

/** ssh's Include: globs, `~`, and a relative path taken in ~/.ssh (as for a user's config); sorted. */
export function loadIncludes(pattern: string): SourceFile[] {
  const expanded = expandHome(pattern);
  const absolute = isAbsolute(expanded) ? expanded : join(homedir(), '.ssh', expanded);
  return globSync(absolute, { absolute: true, onlyFiles: true, expandDirectories: false, dot: true })
    .sort()
    .map((path) => {
      try {
        return { path, text: readFileSync(path, 'utf8') };
      } catch (err) {
        throw new UsageError(`cannot read ${path} (included): ${fileErrorText(err)}`);
      }
    });
}

/** Values that say what till does anyway: an exported file's settings, not reported as lost. */
export function tillsOwnSettings(paths: TillPaths) {
  const same = (value: string, path: string) => expandHome(value.replace(/%%/g, '%')) === path;
  const ssh = (keyword: string, args: string[]): boolean => {
    const value = args.join(' ');
    switch (keyword) {
      case 'identityfile':
        return value.startsWith(`${paths.sshDir}/`) || same(value, paths.privateKey);
      case 'userknownhostsfile':
        return same(value, paths.knownHosts);
      case 'controlpath':
        return same(value, `${paths.controlDir}/%C`);
      case 'identitiesonly':
        return value === 'yes';
      case 'controlmaster':
        return value === 'auto';
      case 'controlpersist':
        return true;
      default:
        return false;
    }
  };
  const ansible = (name: string, value: string): boolean =>
    (name === 'ansible_ssh_args' || name === 'ansible_ssh_common_args') &&
    value.replace(/"/g, '').trim() === `-F ${paths.sshConfig}`;
  return { ssh, ansible };
}

/** Parses an inventory file in the given format, or the one its content shows. */
export function readInventory(file: SourceFile, format: ImportFormat | undefined, paths: TillPaths): FoundInventory {
  const kind = format ?? detectFormat(file.text);
  if (kind === undefined)
    throw new UsageError(
      `cannot tell the format of ${file.path}`,
      'give it: --format ssh-config, --format ansible (INI or YAML) or --format pssh',
    );
  const own = tillsOwnSettings(paths);
  if (kind === 'ssh-config') return parseSshConfig(file, loadIncludes, own.ssh);
  if (kind === 'ansible') return parseAnsible(file, own.ansible);
  return parsePssh(file);
}
