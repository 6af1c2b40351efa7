/**
 * The entry point of the bundle (dist/till.mjs, the one file `host setup` ships), and
 * the only place that sets the exit code. `till gate` (a restricted key's forced
 * command, src/gate/main.ts) is handed over before anything of the CLI is loaded: the
 * gate runs only its own small closure of modules. Everything else is the CLI (run.ts).
 */
const argv = process.argv.slice(2);

/**
 * `till host list | head -3`: once the reader has gone, stdout writes fail with EPIPE.
 * The command still finishes (a fleet run still records its results) with its own exit
 * code; what it would have printed has nowhere to go, so it is dropped quietly.
 */
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') return;
  throw err;
});

const run =
  argv[0] === 'gate' && argv.length === 1
    ? import('../gate/main.js').then((m) => m.runGate())
    : import('./run.js').then((m) => m.runCli(argv));

run.then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`till: ${String(err)}\n`);
    // ExitCode.internal (core/errors.ts), not imported: the gate loads nothing of the CLI.
    process.exitCode = 70;
  },
);
