#!/usr/bin/env node
// The `till` command. Kept to syntax an old Node.js still parses (no ?. or ??, no
// classes), so that on one older than package.json's "engines" it says so in one line
// instead of failing somewhere inside the bundle (npm only warns at install). CommonJS,
// not an ES module: starting Node's ES module loader alone costs about a sixth of what
// `node -e 0` does, and nothing here needs it.
'use strict';
var parts = process.versions.node.split('.').map(Number);
if (parts[0] < 20 || (parts[0] === 20 && parts[1] < 19)) {
  process.stderr.write('till: needs Node.js 20.19 or newer; this is Node.js ' + process.version + '\n');
  process.exit(2);
}

// `till --version` answers from package.json without loading the CLI; everything else runs
// dist/cli/ (the CLI split per command, compiled from V8's code cache: src/boot/loader.ts).
var args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  process.stdout.write(require('../package.json').version + '\n');
} else {
  var path = require('path');
  require('../dist/cli/boot.cjs').start(path.join(__dirname, '..', 'dist', 'cli', 'till.cjs'));
}
