/**
 * Run by the build (scripts/build.mjs): writes what the package ships beside the bundle,
 * rendered from the command tree --help prints: <out>/till.1 (the man page) and
 * <out>/completions/{till.bash,_till,till.fish}.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { completionScript } from '../src/cli/completion/scripts.js';
import { createCli } from '../src/cli/context.js';
import { renderManPage } from '../src/cli/man.js';
import { createProgram } from '../src/cli/program.js';
import { VERSION } from '../src/cli/version.js';

const out = process.argv[2] ?? 'dist';
const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { name: string };
writeFileSync(join(out, 'till.1'), renderManPage(await createProgram(createCli([])), VERSION, pkg.name));
mkdirSync(join(out, 'completions'), { recursive: true });
writeFileSync(join(out, 'completions', 'till.bash'), completionScript('bash'));
writeFileSync(join(out, 'completions', '_till'), completionScript('zsh'));
writeFileSync(join(out, 'completions', 'till.fish'), completionScript('fish'));
