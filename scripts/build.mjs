// Builds dist/till.mjs: the whole CLI in one self-contained file. It is what
// `till host setup` copies to hosts, and one file starts faster than a module tree.
import { build } from 'esbuild';
import { readFileSync, chmodSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

await build({
  entryPoints: ['src/cli/main.ts'],
  outfile: 'dist/till.mjs',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  minify: true,
  keepNames: false,
  legalComments: 'none',
  define: { __TILL_VERSION__: JSON.stringify(pkg.version) },
  banner: {
    js: [
      '#!/usr/bin/env node',
      // Bundled CommonJS dependencies (proper-lockfile, string-width) call require().
      "import { createRequire as __tillCreateRequire } from 'node:module';",
      "import { fileURLToPath as __tillFileURLToPath } from 'node:url';",
      "import { dirname as __tillDirname } from 'node:path';",
      'const require = __tillCreateRequire(import.meta.url);',
      'const __filename = __tillFileURLToPath(import.meta.url);',
      'const __dirname = __tillDirname(__filename);',
    ].join('\n'),
  },
  logLevel: 'warning',
});
chmodSync('dist/till.mjs', 0o755);

// The demo and benchmarks start real sshd hosts with the test lab; bundle it for them.
await build({
  entryPoints: ['scripts/demo.ts'],
  outfile: 'dist/demo.mjs',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  logLevel: 'warning',
});
