// Builds dist/soak.mjs for `npm run soak` (never shipped): scripts/soak.ts with the test lab
// and the state modules it locks schedule.json with (proper-lockfile is CommonJS: `require`).
import { build } from 'esbuild';

await build({
  entryPoints: ['scripts/soak.ts'],
  outfile: 'dist/soak.mjs',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  banner: { js: "import { createRequire } from 'node:module';\nconst require = createRequire(import.meta.url);" },
  logLevel: 'warning',
});
