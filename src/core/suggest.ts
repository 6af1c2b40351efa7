import damerauLevenshtein from 'damerau-levenshtein';

/**
 * "did you mean …?" for a name that is not there: the candidates nearest by edit
 * distance (Damerau: a swap of two neighbours is one edit) (all of those at the best distance, up to `max`), within a third of the
 * name's length (at least one edit); a difference of case alone is nearest.
 */
export function nearNames(name: string, candidates: Iterable<string>, max = 3): string[] {
  const limit = Math.max(1, Math.floor(name.length / 3));
  const lower = name.toLowerCase();
  const scored: Array<{ c: string; d: number }> = [];
  for (const c of candidates) {
    if (c === name || Math.abs(c.length - name.length) > limit) continue;
    const d = c.toLowerCase() === lower ? 0 : damerauLevenshtein(name, c).steps;
    if (d <= limit) scored.push({ c, d });
  }
  const best = Math.min(...scored.map((s) => s.d));
  return scored
    .filter((s) => s.d === best)
    .sort((a, b) => (a.c < b.c ? -1 : a.c > b.c ? 1 : 0))
    .slice(0, max)
    .map((s) => s.c);
}

/** The hint for an unknown name: "did you mean a or b?", else the fallback. */
export function didYouMean(name: string, candidates: Iterable<string>, fallback: string, prefix = ''): string {
  const near = nearNames(name, candidates);
  if (near.length === 0) return fallback;
  const list = near.map((n) => `${prefix}${n}`);
  return `did you mean ${list.length === 1 ? list[0] : `${list.slice(0, -1).join(', ')} or ${list.at(-1)}`}?`;
}
