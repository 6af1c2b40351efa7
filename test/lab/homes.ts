import { afterAll } from 'vitest';
import { tempHome, tillOk } from './till.js';

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

/**
 * A fresh TILL_HOME (from `home()`) with one host, h0, that nothing here connects to:
 * `u@127.0.0.5:1`, where nothing listens.
 */
export async function homeWithOneHost(home: () => string): Promise<string> {
  const h = home();
  await tillOk(h, ['host', 'init']);
  await tillOk(h, ['host', 'add', 'h0', 'u@127.0.0.5:1']);
  return h;
}
