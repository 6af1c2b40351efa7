import { fileURLToPath } from 'node:url';

declare const __TILL_VERSION__: string | undefined;
declare const __TILL_COMMIT__: string | undefined;

/** Injected by the bundler from package.json; "0.0.0-dev" when run from source. */
export const VERSION: string = typeof __TILL_VERSION__ === 'string' ? __TILL_VERSION__ : '0.0.0-dev';

/** The git commit the bundle was built from (`-dirty` with uncommitted changes), injected by the bundler. */
export const BUILD_COMMIT: string = typeof __TILL_COMMIT__ === 'string' ? __TILL_COMMIT__ : 'unknown';

/** `till --version --verbose`: what a bug report needs to say which till ran where. */
export function versionReport(): string {
  return [
    `till ${VERSION}`,
    `build commit: ${BUILD_COMMIT}`,
    `node: ${process.version} (${process.platform} ${process.arch})`,
    `file: ${fileURLToPath(import.meta.url)}`,
  ].join('\n');
}
