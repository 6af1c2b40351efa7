/**
 * The entry point of the bundle (dist/till.mjs, the one file `host setup` ships), and
 * the only place that sets the exit code. `till gate` (a restricted key's forced
 * command, src/gate/main.ts) is handed over before anything of the CLI is loaded: the
 * gate runs only its own small closure of modules. Everything else is the CLI (run.ts).
 */
const argv = process.argv.slice(2);

// `till host list | head -3`: the CLI writes with output/fd.ts, which drops what a reader
// that has gone can no longer take (EPIPE) and lets the command finish with its own exit
// code. process.stdout is not touched here: making it costs a start (see fd.ts).

const run =
  argv[0] === 'gate' && argv.length === 1
    ? import('../gate/main.js').then((m) => m.runGate())
    : import('./run.js').then((m) => m.runCli(argv));

run.then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`till: ${String(err)}\n`); // a bug before the CLI could load: rare, never on a start's path
    // ExitCode.internal (core/errors.ts), not imported: the gate loads nothing of the CLI.
    process.exitCode = 70;
  },
);
