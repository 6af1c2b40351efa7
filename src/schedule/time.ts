/** A date in local time (the TZ environment variable's zone when set), minutes precision, with the zone. */
export function formatLocal(date: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  return `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())} ${p(date.getHours())}:${p(date.getMinutes())} ${zone}`;
}

/** The same instant in UTC, seconds precision. */
export function formatUtc(date: Date): string {
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}
