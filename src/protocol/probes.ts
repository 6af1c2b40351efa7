import { ARG } from './args.js';
import { REPORTED_VERSION_RE } from './host.js';
import { frozen, oneLine, type Operation } from './wire.js';
import { shQuote } from './quote.js';

/**
 * Read-only probes: `host health`, `host doctor`, `host audit`. They take at most a
 * path to look at and change nothing on the host. health and doctor answer in their
 * own `key=value` / `TILL_DOCTOR_*` lines (frozen texts keep their dialect); the audit's
 * records are read by src/audit/script.ts.
 */

// ---------------------------------------------------------------- health

export const HEALTH_BEGIN = 'till_health_begin=1';
export const HEALTH_END = 'till_health_end=1';
/** The v2 script's first line: till answers it on stdin; the answer's echo ends the timed round trip. */
export const HEALTH_PING = 'till_health_ping=1';
export const HEALTH_PONG = 'till_health_pong=1';

export interface HealthProbe {
  /** The end marker was seen: the script ran to completion. */
  complete: boolean;
  uptimeSec: number | null;
  load1: number | null;
  load5: number | null;
  load15: number | null;
  cpus: number | null;
  memTotalBytes: number | null;
  memAvailableBytes: number | null;
  diskFreeBytes: number | null;
  diskTotalBytes: number | null;
  diskPath: string | null;
  os: string | null;
  arch: string | null;
  tillVersion: string | null;
  release: string | null;
}

const NUMBER_RE = /^\d+(\.\d+)?$/;

function numberOf(value: string | undefined, scale = 1): number | null {
  if (value === undefined || !NUMBER_RE.test(value)) return null;
  return Math.round(Number(value) * scale * 1000) / 1000;
}

/** Remote text for a table, a label or a page: no control characters (no terminal escapes), at most 200 characters. */
export function textOf(value: string | undefined): string | null {
  if (value === undefined) return null;
  const clean = value
    // eslint-disable-next-line no-control-regex
    .replace(/[\x00-\x1f\x7f-\x9f]/g, '')
    .trim()
    .slice(0, 200);
  return clean === '' ? null : clean;
}

/** Reads the script's `key=value` lines; anything else (a noisy login shell) is ignored. */
export function parseHealthOutput(stdout: string): HealthProbe {
  const lines = stdout.split('\n').map((l) => l.replace(/\r$/, ''));
  const begin = lines.indexOf(HEALTH_BEGIN);
  const end = lines.lastIndexOf(HEALTH_END);
  const values = new Map<string, string>();
  for (const line of lines.slice(begin === -1 ? 0 : begin + 1, end === -1 ? undefined : end)) {
    const at = line.indexOf('=');
    if (at > 0) values.set(line.slice(0, at), line.slice(at + 1).trim());
  }
  const load = (values.get('load') ?? '').trim().split(/\s+/);
  const kb = (key: string) => numberOf(values.get(key), 1024);
  const version = textOf(values.get('till_version'));
  return {
    complete: begin !== -1 && end > begin,
    uptimeSec: numberOf(values.get('uptime')) === null ? null : Math.floor(numberOf(values.get('uptime'))!),
    load1: numberOf(load[0]),
    load5: numberOf(load[1]),
    load15: numberOf(load[2]),
    cpus: numberOf(values.get('cpus')),
    memTotalBytes: kb('mem_total_kb') ?? numberOf(values.get('mem_total_bytes')),
    // MemAvailable exists since Linux 3.14; MemFree is the (pessimistic) fallback.
    memAvailableBytes: kb('mem_available_kb') ?? numberOf(values.get('mem_available_bytes')) ?? kb('mem_free_kb'),
    diskFreeBytes: kb('disk_free_kb'),
    diskTotalBytes: kb('disk_total_kb'),
    diskPath: textOf(values.get('disk_path')),
    os: textOf(values.get('os')),
    arch: textOf(values.get('arch')),
    tillVersion: version !== null && REPORTED_VERSION_RE.test(version) ? version : null,
    release: textOf(values.get('release')),
  };
}

/**
 * Uptime, load, CPUs, memory, free disk at tekton_path (or its nearest existing
 * parent), till's version and the current release, in one round trip. Linux answers
 * from /proc, macOS and the BSDs from sysctl and vm_stat; what a platform lacks prints
 * nothing. Version 2 first prints HEALTH_PING and waits for a line on stdin (till
 * answers at once), then HEALTH_PONG: the ssh latency, timed in the same call.
 */
export const health: Operation<{ tektonPath: string }, HealthProbe> = {
  name: 'health',
  versions: [
    {
      name: 'health-v2',
      form: 'script',
      text: oneLine(`
echo till_health_ping=1
read -r _l
echo till_health_pong=1
case $1 in "~/"*) p=$HOME/\${1#"~/"} ;
*) p=$1 ;
esac
echo till_health_begin=1
echo "os=$(uname -s 2>/dev/null)"
echo "arch=$(uname -m 2>/dev/null)"
if [ -r /proc/uptime ]
then read up _r < /proc/uptime && echo "uptime=$up"
else b=$(sysctl -n kern.boottime 2>/dev/null | sed -n 's/^{ sec = \\([0-9][0-9]*\\),.*/\\1/p')
[ -n "$b" ] && echo "uptime=$(( $(date +%s) - b ))"
fi
if [ -r /proc/loadavg ]
then read l1 l5 l15 _r < /proc/loadavg && echo "load=$l1 $l5 $l15"
else echo "load=$(sysctl -n vm.loadavg 2>/dev/null | tr -d '{}')"
fi
c=$(getconf _NPROCESSORS_ONLN 2>/dev/null) || c=
[ -n "$c" ] || c=$(nproc 2>/dev/null) || c=
[ -n "$c" ] || c=$(sysctl -n hw.ncpu 2>/dev/null) || c=
echo "cpus=$c"
if [ -r /proc/meminfo ]
then awk '$1=="MemTotal:"{print "mem_total_kb=" $2} $1=="MemAvailable:"{print "mem_available_kb=" $2} $1=="MemFree:"{print "mem_free_kb=" $2}' /proc/meminfo
else echo "mem_total_bytes=$(sysctl -n hw.memsize 2>/dev/null)"
vm_stat 2>/dev/null | awk '/page size of/{for(i=1;i<=NF;i++) if($i=="of") ps=$(i+1)} /^Pages (free|inactive|speculative):/{gsub(/\\./,"",$NF)
n+=$NF} END{if(ps>0) printf "mem_available_bytes=%.0f\\n", n*ps}'
fi
d=$p
while [ ! -e "$d" ]
do n=$(dirname "$d")
[ "$n" = "$d" ] && break
d=$n
done
echo "disk_path=$d"
df -Pk "$d" 2>/dev/null | awk 'NR==2{for(i=NF;i>3;i--) if($i ~ /%$/){print "disk_total_kb=" $(i-3)
print "disk_free_kb=" $(i-1)
break}}'
t="$HOME"/.till/bin/till
if [ -x "$t" ]
then echo "till_version=$("$t" --version 2>/dev/null | head -n 1)"
fi
if [ -L "$p" ]
then r=$(readlink "$p")
r=\${r%/}
echo "release=\${r##*/}"
fi
echo till_health_end=1
exit 0
`),
      args: [ARG.probePath],
      encode: (p) => [p.tektonPath],
    },
    {
      name: 'health',
      form: 'script',
      text: oneLine(`
case $1 in "~/"*) p=$HOME/\${1#"~/"} ;
*) p=$1 ;
esac
echo till_health_begin=1
echo "os=$(uname -s 2>/dev/null)"
echo "arch=$(uname -m 2>/dev/null)"
if [ -r /proc/uptime ]
then read up _r < /proc/uptime && echo "uptime=$up"
else b=$(sysctl -n kern.boottime 2>/dev/null | sed -n 's/^{ sec = \\([0-9][0-9]*\\),.*/\\1/p')
[ -n "$b" ] && echo "uptime=$(( $(date +%s) - b ))"
fi
if [ -r /proc/loadavg ]
then read l1 l5 l15 _r < /proc/loadavg && echo "load=$l1 $l5 $l15"
else echo "load=$(sysctl -n vm.loadavg 2>/dev/null | tr -d '{}')"
fi
c=$(getconf _NPROCESSORS_ONLN 2>/dev/null) || c=
[ -n "$c" ] || c=$(nproc 2>/dev/null) || c=
[ -n "$c" ] || c=$(sysctl -n hw.ncpu 2>/dev/null) || c=
echo "cpus=$c"
if [ -r /proc/meminfo ]
then awk '$1=="MemTotal:"{print "mem_total_kb=" $2} $1=="MemAvailable:"{print "mem_available_kb=" $2} $1=="MemFree:"{print "mem_free_kb=" $2}' /proc/meminfo
else echo "mem_total_bytes=$(sysctl -n hw.memsize 2>/dev/null)"
vm_stat 2>/dev/null | awk '/page size of/{for(i=1;i<=NF;i++) if($i=="of") ps=$(i+1)} /^Pages (free|inactive|speculative):/{gsub(/\\./,"",$NF)
n+=$NF} END{if(ps>0) printf "mem_available_bytes=%.0f\\n", n*ps}'
fi
d=$p
while [ ! -e "$d" ]
do n=$(dirname "$d")
[ "$n" = "$d" ] && break
d=$n
done
echo "disk_path=$d"
df -Pk "$d" 2>/dev/null | awk 'NR==2{for(i=NF;i>3;i--) if($i ~ /%$/){print "disk_total_kb=" $(i-3)
print "disk_free_kb=" $(i-1)
break}}'
t="$HOME"/.till/bin/till
if [ -x "$t" ]
then echo "till_version=$("$t" --version 2>/dev/null | head -n 1)"
fi
if [ -L "$p" ]
then r=$(readlink "$p")
r=\${r%/}
echo "release=\${r##*/}"
fi
echo till_health_end=1
exit 0
`),
      args: [ARG.probePath],
      encode: (p) => [p.tektonPath],
    },
  ],
  parse: parseHealthOutput,
};

/** What the first health version timed in a second ssh call: no longer sent, still allowed. */
export const healthLatency: Operation<void, void> = {
  name: 'health latency',
  versions: [{ name: 'health latency', form: 'line', text: `exit 0`, args: [], encode: () => [] }],
  parse: () => undefined,
};

// ---------------------------------------------------------------- doctor

/** Markers of the doctor probe: version of the remote till, then df at tekton_path. */
export const PROBE_MARK = 'TILL_DOCTOR';

export interface ProbeOutput {
  marker: boolean;
  tillVersion: string | null;
  path: string | null;
  /** Free KiB from `df -Pk`, null when df printed something else. */
  availableKiB: number | null;
  dfLine: string | null;
  /** The probe ran through till gate: the key is restricted. */
  gate: boolean;
}

export function parseProbe(stdout: string): ProbeOutput {
  const lines = stdout.split('\n');
  const value = (tag: string) => {
    const line = lines.find((l) => l.startsWith(`${PROBE_MARK}_${tag} `));
    return line === undefined ? null : line.slice(PROBE_MARK.length + tag.length + 2).trim();
  };
  const dfLine = value('DF');
  // Filesystem 1024-blocks Used Available Capacity Mounted-on; the name and mount point may hold spaces.
  const m = dfLine === null ? null : /\s(\d+)\s+(\d+)\s+(\d+)\s+\d+%\s/.exec(`${dfLine} `);
  return {
    marker: lines.includes(PROBE_MARK),
    tillVersion: value('TILL'),
    path: value('PATH'),
    availableKiB: m ? Number(m[3]) : null,
    dfLine,
    gate: lines.includes(`${PROBE_MARK}_GATE`),
  };
}

/**
 * `host doctor`'s one round trip: the remote till's version (or a "missing" line), df
 * of tekton_path or its nearest existing parent, and whether it ran through till gate.
 */
export const doctor: Operation<{ tektonPath: string }, ProbeOutput> = {
  name: 'doctor',
  versions: [
    {
      name: 'doctor',
      form: 'script',
      text: frozen(`
echo TILL_DOCTOR
if v=$("$HOME"/.till/bin/till --version 2>/dev/null); then echo "TILL_DOCTOR_TILL $v"; else echo TILL_DOCTOR_NOTILL; fi
case $1 in "~") p=$HOME ;; "~/"*) p=$HOME/\${1#"~/"} ;; *) p=$1 ;; esac
while [ ! -e "$p" ] && [ "$p" != / ] && [ "$p" != . ]; do p=$(dirname -- "$p"); done
echo "TILL_DOCTOR_PATH $p"
df -Pk -- "$p" 2>&1 | tail -n 1 | sed 's/^/TILL_DOCTOR_DF /'
if [ "\${TILL_GATE:-}" = 1 ]; then echo TILL_DOCTOR_GATE; fi
true
`),
      args: [ARG.probePath],
      encode: (p) => [p.tektonPath],
    },
  ],
  parse: parseProbe,
};

// ---------------------------------------------------------------- audit

/**
 * The audit's script (one line: it passes through any login shell to sh): id, stat,
 * wc, dd and od only; it writes nothing. File contents travel as `od` hex, at most
 * 16 blocks of 64 KiB per file; src/audit/script.ts reads the records it prints.
 */
const AUDIT_SCRIPT = oneLine(`
LC_ALL=C
export LC_ALL
echo "TILL-AUDIT 1"
echo "user $(id -un) $(id -u)"
st() { s=$(stat -L -c '%a %U %u' "$2" 2>/dev/null) || s=$(stat -L -f '%Lp %Su %u' "$2" 2>/dev/null) || s=
if [ -n "$s" ]
then echo "stat $1 $s"
else echo "nostat $1"
fi
}
if [ -e "$HOME" ]
then st home "$HOME"
else echo "absent home"
fi
if [ -e "$HOME"/.ssh ]
then st ssh "$HOME"/.ssh
else echo "absent ssh"
fi
if [ -e "$HOME"/.ssh/authorized_keys ]
then st authorized_keys "$HOME"/.ssh/authorized_keys
else echo "absent authorized_keys"
fi
if [ -e "$HOME"/.ssh/authorized_keys2 ]
then st authorized_keys2 "$HOME"/.ssh/authorized_keys2
else echo "absent authorized_keys2"
fi
if [ -f "$HOME"/.ssh/authorized_keys ]
then if [ -r "$HOME"/.ssh/authorized_keys ]
then echo "file authorized_keys $(wc -c < "$HOME"/.ssh/authorized_keys | tr -d ' ')"
dd if="$HOME"/.ssh/authorized_keys bs=65536 count=16 2>/dev/null | od -An -v -tx1
echo "end authorized_keys"
else echo "unreadable authorized_keys"
fi
fi
if [ -f "$HOME"/.ssh/authorized_keys2 ]
then if [ -r "$HOME"/.ssh/authorized_keys2 ]
then echo "file authorized_keys2 $(wc -c < "$HOME"/.ssh/authorized_keys2 | tr -d ' ')"
dd if="$HOME"/.ssh/authorized_keys2 bs=65536 count=16 2>/dev/null | od -An -v -tx1
echo "end authorized_keys2"
else echo "unreadable authorized_keys2"
fi
fi
echo TILL-AUDIT-DONE
`);

/** `host audit`: the read-only script above, sent as one exact line (stdout is parsed by src/audit/script.ts). */
export const audit: Operation<void, string> = {
  name: 'audit',
  versions: [{ name: 'audit', form: 'line', text: `sh -c ${shQuote(AUDIT_SCRIPT)}`, args: [], encode: () => [] }],
  parse: (stdout) => stdout,
};
