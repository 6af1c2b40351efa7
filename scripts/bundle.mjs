// How till is bundled, for scripts/build.mjs and for tests that build a variant of it
// (another version baked in). One self-contained ESM file for Node 20.
import { build } from 'esbuild';

// Bundled CommonJS dependencies (proper-lockfile, string-width) call require().
export const REQUIRE_BANNER = [
  "import { createRequire as __tillCreateRequire } from 'node:module';",
  "import { fileURLToPath as __tillFileURLToPath } from 'node:url';",
  "import { dirname as __tillDirname } from 'node:path';",
  'const require = __tillCreateRequire(import.meta.url);',
  'const __filename = __tillFileURLToPath(import.meta.url);',
  'const __dirname = __tillDirname(__filename);',
].join('\n');

/** Bundles src/cli/main.ts into `outfile` with these `__TILL_*__` values (version, commit). */
export async function bundleTill(entry, outfile, define) {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    minify: true,
    keepNames: false,
    legalComments: 'none',
    define: Object.fromEntries(Object.entries(define).map(([k, v]) => [k, JSON.stringify(v)])),
    banner: { js: `#!/usr/bin/env node\n${REQUIRE_BANNER}` },
    logLevel: 'warning',
  });
}
