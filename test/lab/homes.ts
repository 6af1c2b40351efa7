import { afterAll } from 'vitest';
import { tempHome } from './till.js';

/** A `home()` that makes a fresh TILL_HOME on each call; every one is removed after the file's tests. */
export function tempHomes(): () => string {
  const cleanups: Array<() => void> = [];
  afterAll(() => cleanups.forEach((c) => c()));
  return () => {
    const h = tempHome();
    cleanups.push(h.cleanup);
    return h.home;
  };
}
