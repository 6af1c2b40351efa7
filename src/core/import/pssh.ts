import type { FoundHost, FoundInventory, SourceFile } from './source.js';

/**
 * A pssh / pdsh host file: `[user@]host[:port]` per line (IPv6 in brackets:
 * `[2001:db8::5]:22`), `#` comments, blank lines. A host's name is its host part.
 */
export function parsePssh(file: SourceFile): FoundInventory {
  const hosts: FoundHost[] = [];
  const notes: string[] = [];
  file.text.split(/\r?\n/).forEach((raw, i) => {
    const where = `${file.path}:${i + 1}`;
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') return;
    const words = line.split(/\s+/);
    if (words.length > 1)
      notes.push(`${where}: ${words.slice(1).join(' ')}: not carried (one [user@]host[:port] per line)`);
    const spec = words[0]!;
    const at = spec.lastIndexOf('@');
    const user = at === -1 ? undefined : spec.slice(0, at);
    const rest = spec.slice(at + 1);
    let address = rest;
    let port: string | undefined;
    const v6 = /^\[([^\]]*)\](?::(.*))?$/.exec(rest);
    if (v6) {
      address = v6[1]!;
      port = v6[2];
    } else if (rest.split(':').length === 2) [address, port] = rest.split(':') as [string, string];
    const host: FoundHost = { name: address, address, groups: [], notes: [], where };
    if (user !== undefined) host.user = user;
    if (port !== undefined) host.port = port;
    hosts.push(host);
  });
  return { format: 'pssh', hosts, groups: [], notes };
}

const PSSH_LINE = /^(?:[^\s@]+@)?(?:\[[0-9A-Fa-f:.]+\]|[^\s[\]:=@]+)(?::\d+)?$/;

/** Every significant line is one `[user@]host[:port]` word: a pssh file (a bare host list reads the same either way). */
export function looksLikePssh(text: string): boolean {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.replace(/#.*$/, '').trim())
    .filter((l) => l !== '');
  return lines.length > 0 && lines.every((l) => PSSH_LINE.test(l));
}
