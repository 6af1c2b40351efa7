import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { TILL_VERSION } from '../core/build.js';

declare const __TILL_COMMIT__: string | undefined;
/** `bundle`: the one self-contained file (dist/till.mjs); `split`: the chunks of dist/cli/ (scripts/bundle.mjs). */
declare const __TILL_LAYOUT__: 'bundle' | 'split' | undefined;

const SPLIT = typeof __TILL_LAYOUT__ === 'string' && __TILL_LAYOUT__ === 'split';

/** Injected by the bundler from package.json; "0.0.0-dev" when run from source. */
export const VERSION: string = TILL_VERSION;

/** The git commit the bundle was built from (`-dirty` with uncommitted changes), injected by the bundler. */
export const BUILD_COMMIT: string = typeof __TILL_COMMIT__ === 'string' ? __TILL_COMMIT__ : 'unknown';

/** The file that starts this till: the bundle itself, or the split CLI's entry, dist/cli/till.cjs. */
export function runningFile(): string {
  const here = fileURLToPath(import.meta.url);
  return SPLIT ? join(dirname(here), 'till.cjs') : here;
}

/**
 * The self-contained bundle `host setup` copies to hosts: this file when it is that bundle,
 * else the one the same build put beside the split CLI (dist/till.mjs next to dist/cli/).
 */
export function shippedBundle(): string {
  const here = fileURLToPath(import.meta.url);
  return SPLIT ? join(dirname(here), '..', 'till.mjs') : here;
}

/** `till --version --verbose`: what a bug report needs to say which till ran where. */
export function versionReport(): string {
  return [
    `till ${VERSION}`,
    `build commit: ${BUILD_COMMIT}`,
    `node: ${process.version} (${process.platform} ${process.arch})`,
    `file: ${runningFile()}`,
  ].join('\n');
}
