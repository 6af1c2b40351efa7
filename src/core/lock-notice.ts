/**
 * Who is told when a till has waited a while for a state file's lock (`<file>.lock`,
 * held by another till, or left by one that was killed until it goes stale). Core says
 * nothing itself; the CLI sets a listener that says so on stderr, so a wait is never
 * silent.
 */
let listener: ((lock: string) => void) | undefined;

/** After this long without the lock, the listener is told (once per wait). */
export const LOCK_NOTICE_MS = 2_000;

export function onLockWait(fn: ((lock: string) => void) | undefined): void {
  listener = fn;
}

/** Starts the wait's notice timer; the returned function stops it (call it once the wait ends). */
export function noticeLockWait(lock: string): () => void {
  const fn = listener;
  if (fn === undefined) return () => undefined;
  const timer = setTimeout(() => fn(lock), LOCK_NOTICE_MS);
  timer.unref();
  return () => clearTimeout(timer);
}

/** Tells the listener now (a synchronous wait, which no timer can interrupt, measures its own time). */
export function tellLockWait(lock: string): void {
  listener?.(lock);
}
