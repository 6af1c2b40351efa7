import { looksLikeAnsibleYaml } from './ansible.js';
import { looksLikePssh } from './pssh.js';
import type { ImportFormat } from './source.js';

/**
 * The format of an inventory file, from its content: an Ansible YAML inventory (a
 * mapping of groups), an ssh config (Host or Match blocks, or Include lines), a pssh host file (one
 * `[user@]host[:port]` per line; a bare host list reads the same as Ansible INI), an
 * Ansible INI inventory (sections, key=value). Undefined when it is none of them.
 */
export function detectFormat(text: string): ImportFormat | undefined {
  if (looksLikeAnsibleYaml(text)) return 'ansible';
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith(';'));
  if (lines.length === 0) return undefined;
  const section = (l: string) => /^\[[^\]]+\]$/.test(l);
  // A config of Include lines only (a ~/.ssh/config that pulls in conf.d/*) is one too; an
  // INI host line named "include" carries key=value words instead of paths.
  const sshLine = (l: string) =>
    /^(Host|Match)(\s+|\s*=\s*)\S/i.test(l) || /^Include(\s+|\s*=\s*)[^\s=]+(\s+[^\s=]+)*$/i.test(l);
  if (!lines.some(section) && lines.some(sshLine)) return 'ssh-config';
  if (looksLikePssh(text)) return 'pssh';
  const ansibleLine = (l: string) => /^\S+(\s+[A-Za-z_][A-Za-z0-9_]*=\S*)+$/.test(l) || /\[[^\]:]+:[^\]]+\]/.test(l);
  if (lines.some(section) || lines.some(ansibleLine)) return 'ansible';
  return undefined;
}
