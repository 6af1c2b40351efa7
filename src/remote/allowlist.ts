import { AUDIT_COMMAND } from '../audit/script.js';
import { RESTRICT_SCRIPT } from '../ops/restrict.js';
import { ACTIVATE_SCRIPT, CHECK_SCRIPT, PREPARE_SCRIPT } from '../ops/setup.js';
import { remoteSyncCommand } from '../ops/sync.js';
import { TEST_COMMAND } from '../ops/test.js';

/**
 * Everything a restricted key may run, in one place (docs/gate.md). A new remote
 * operation of till must be registered here, in one of two forms, or the gate of a
 * restricted host refuses it:
 *   - an exact constant command line (EXACT_COMMANDS), compared byte for byte;
 *   - a constant script sent with `remoteScript(SCRIPT, args)` (SCRIPTS), values only
 *     as positional parameters, with the number of them it takes.
 * rsync uploads need no entry: the gate checks `rsync --server` argv itself.
 *
 * A registered text is part of the protocol between a controller and the gates of
 * already installed tills: never edit one in place (older gates would refuse the new
 * text); add the new version and keep the old one here.
 */
export const EXACT_COMMANDS: ReadonlyMap<string, string> = new Map([
  [TEST_COMMAND, 'test'],
  [AUDIT_COMMAND, 'audit'],
  [remoteSyncCommand(false), 'sync'],
  [remoteSyncCommand(true), 'sync --dry-run'],
]);

export interface AllowedScript {
  name: string;
  script: string;
  /** How many positional arguments it takes, exactly. */
  args: number;
  /** A script that installs code the gate will run (allowed unless gate.json says "upgrade": false). */
  upgrade?: boolean;
  /**
   * Extra checks of the argument values against the host's gate.json, for a script
   * whose argument is itself something to run (e.g. a deploy's --check command, which
   * must then be one of gate.json's "checks"). Returns why not, or undefined.
   */
  validate?: (args: readonly string[], policy: { checks: readonly string[] }) => string | undefined;
}

export const SCRIPTS: readonly AllowedScript[] = [
  { name: 'setup-check', script: CHECK_SCRIPT, args: 0 },
  { name: 'setup-prepare', script: PREPARE_SCRIPT, args: 0, upgrade: true },
  { name: 'setup-activate', script: ACTIVATE_SCRIPT, args: 2, upgrade: true },
  { name: 'restrict', script: RESTRICT_SCRIPT, args: 4 },
];
