import type { FoundHost, FoundInventory, SourceFile } from './source.js';

/**
 * A pssh / pdsh host file: `[user@]host[:port]` per line (IPv6 in brackets:
 * `[2001:db8::5]:22`), `#` comments, blank lines. A host's name is its host part (an
 * IPv6 address's with `-` for `:`).
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
    if (address.includes(':')) {
      // A host name cannot hold ':': an IPv6 address is named after itself, `:` as `-`.
      host.name = ipv6Name(address);
      host.notes.push(`named after its IPv6 address ${address} (till host edit --rename gives it another name)`);
    }
    if (user !== undefined) host.user = user;
    if (port !== undefined) host.port = port;
    hosts.push(host);
  });
  return { format: 'pssh', hosts, groups: [], notes };
}

/**
 * A host name for an IPv6 address: `:` as `-`, a leading or trailing `::` with the zero
 * it stands for (`::1` → `0--1`, `fe80::1` → `fe80--1`), anything else a name cannot
 * hold (a zone's `%`) as `-`.
 */
export function ipv6Name(address: string): string {
  return address
    .replace(/^::/, '0::')
    .replace(/::$/, '::0')
    .replace(/[^A-Za-z0-9._-]/g, '-');
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
