import { UsageError } from './errors.js';

/** A size threshold: an absolute number of bytes, or a share of the total. */
export type SizeThreshold = { bytes: number } | { percent: number };

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/**
 * `10%`, `1G`, `1GiB`, `512M`, `1073741824`: binary units (K = 1024), case-insensitive.
 * `0` is allowed and disables the check it is given to.
 */
export function parseSizeThreshold(option: string, value: string): SizeThreshold {
  const text = value.trim();
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(text);
  if (pct) {
    const percent = Number(pct[1]);
    if (percent > 100) throw new UsageError(`${option} takes a percentage from 0 to 100, got ${text}`);
    return { percent };
  }
  const size = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(text);
  if (!size)
    throw new UsageError(
      `${option} takes a size (bytes, or with K/M/G/T: 1G, 512MiB) or a percentage (10%), got ${JSON.stringify(value)}`,
    );
  return { bytes: Math.round(Number(size[1]) * UNITS[size[2]!.toLowerCase()]!) };
}

export function formatThreshold(t: SizeThreshold): string {
  return 'percent' in t ? `${t.percent}%` : formatBytes(t.bytes);
}

/** 1536 → "1.5 KiB"; binary units, at most one decimal. */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = bytes;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return i === 0 ? `${v} B` : `${v >= 100 ? Math.round(v) : Number(v.toFixed(1))} ${units[i]}`;
}
