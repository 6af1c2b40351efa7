/**
 * The audit's one remote round trip: a read-only POSIX sh script (src/protocol/probes.ts,
 * `audit`, frozen: a restricted key's gate allows it byte for byte) and here the parser
 * of what it prints. The script only runs id, stat, wc, dd and od; it
 * writes nothing anywhere. File contents travel as `od` hex so any byte (NUL, invalid
 * UTF-8, a line that looks like the framing) arrives exactly.
 *
 * Output, one record per line:
 *   TILL-AUDIT 1
 *   user <name> <uid>
 *   stat <label> <mode-octal> <owner> <uid>     (label: home, ssh, authorized_keys, authorized_keys2)
 *   absent <label>
 *   nostat <label>                              (neither GNU nor BSD stat worked)
 *   file <label> <size>                         then hex lines until
 *   end <label>
 *   unreadable <label>
 *   TILL-AUDIT-DONE
 */

export const AUDIT_FILES = ['authorized_keys', 'authorized_keys2'] as const;
export type AuditFileName = (typeof AUDIT_FILES)[number];
export type AuditPathLabel = 'home' | 'ssh' | AuditFileName;

/** Bytes of each file the script reads (16 blocks of 64 KiB; more is reported as truncated). */
export const MAX_FILE_BYTES = 1_048_576;

export interface PathStat {
  mode: number;
  owner: string;
  uid: number;
}

export interface RemoteFile {
  size: number;
  /** The bytes read (at most MAX_FILE_BYTES). */
  content: Buffer;
  truncated: boolean;
}

export interface AuditSnapshot {
  user: string;
  uid: number;
  /** null: the path does not exist; 'unknown': it exists but stat printed nothing usable. */
  stats: Record<AuditPathLabel, PathStat | null | 'unknown'>;
  files: Partial<Record<AuditFileName, RemoteFile | 'unreadable'>>;
}

const LABELS: readonly string[] = ['home', 'ssh', ...AUDIT_FILES];

/** Parses the script's output; throws with a reason when it is not the script's. */
export function parseAuditOutput(stdout: string): AuditSnapshot {
  const lines = stdout.split('\n');
  const start = lines.indexOf('TILL-AUDIT 1');
  if (start === -1) throw new Error('the audit script printed no header (a noisy or restricted login shell?)');
  const snap: AuditSnapshot = {
    user: '',
    uid: -1,
    stats: { home: 'unknown', ssh: 'unknown', authorized_keys: 'unknown', authorized_keys2: 'unknown' },
    files: {},
  };
  let done = false;
  for (let i = start + 1; i < lines.length && !done; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    const words = line.split(' ');
    const label = words[1] ?? '';
    const known = LABELS.includes(label);
    switch (words[0]) {
      case 'user': {
        const uid = Number(words[2]);
        if (words.length !== 3 || !Number.isInteger(uid)) throw new Error(`bad user line: ${line}`);
        snap.user = words[1]!;
        snap.uid = uid;
        break;
      }
      case 'stat': {
        // GNU %a and BSD %Lp print no leading zeros: mode 000 is "0", 044 is "44".
        const mode = /^[0-7]{1,4}$/.test(words[2] ?? '') ? parseInt(words[2]!, 8) : NaN;
        const uid = Number(words[4]);
        if (!known || words.length !== 5 || Number.isNaN(mode) || !Number.isInteger(uid))
          throw new Error(`bad stat line: ${line}`);
        snap.stats[label as AuditPathLabel] = { mode, owner: words[3]!, uid };
        break;
      }
      case 'absent':
        if (!known) throw new Error(`bad line: ${line}`);
        snap.stats[label as AuditPathLabel] = null;
        break;
      case 'nostat':
        if (!known) throw new Error(`bad line: ${line}`);
        snap.stats[label as AuditPathLabel] = 'unknown';
        break;
      case 'unreadable':
        if (!(AUDIT_FILES as readonly string[]).includes(label)) throw new Error(`bad line: ${line}`);
        snap.files[label as AuditFileName] = 'unreadable';
        break;
      case 'file': {
        const size = Number(words[2]);
        if (!(AUDIT_FILES as readonly string[]).includes(label) || !Number.isInteger(size))
          throw new Error(`bad file line: ${line}`);
        const hex: string[] = [];
        let j = i + 1;
        for (; j < lines.length && lines[j] !== `end ${label}`; j++) hex.push(lines[j]!.replace(/\s+/g, ''));
        if (j >= lines.length) throw new Error(`output ends inside ${label}`);
        const joined = hex.join('');
        if (!/^(?:[0-9a-f]{2})*$/.test(joined)) throw new Error(`bad hex dump of ${label}`);
        const content = Buffer.from(joined, 'hex');
        snap.files[label as AuditFileName] = { size, content, truncated: content.length < size };
        i = j;
        break;
      }
      case 'TILL-AUDIT-DONE':
        done = true;
        break;
      default:
        throw new Error(`unexpected line in audit output: ${line.slice(0, 80)}`);
    }
  }
  if (!done) throw new Error('the audit output was cut short');
  if (snap.uid < 0) throw new Error('the audit output names no user');
  return snap;
}
