import {
  deployCheck,
  deployCompare,
  deployCompareRsync,
  deployDiscard,
  deployPrepare,
  deployPrepareFused,
  deployState,
  deployUnlock,
} from './deploy.js';
import { cleanRemote, setupActivate, setupCheck, setupPrepare, sync, syncDryRun, test } from './host.js';
import { keyAdd, keyAppend, keyDrop, keyRemove, restrict } from './keys.js';
import { audit, doctor, health, healthLatency } from './probes.js';
import { hostLock, hostUnlock } from './hold.js';
import { deployRevert, rollback } from './rollback.js';
import { deploySwitch } from './switch.js';
import type { Operation, Version } from './wire.js';

/**
 * Every remote operation of till, in one list. The gate allows exactly the versions
 * registered here that are neither retired nor ungated, and checks each argument by its
 * declared type (docs/gate.md); test/unit/protocol-frozen.test.ts pins every text.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const OPERATIONS: readonly Operation<any, unknown>[] = [
  test,
  audit,
  sync,
  syncDryRun,
  healthLatency,
  cleanRemote,
  setupCheck,
  setupPrepare,
  setupActivate,
  restrict,
  keyAdd,
  keyRemove,
  keyAppend,
  keyDrop,
  doctor,
  health,
  deployState,
  deployCheck,
  deployPrepare,
  deployPrepareFused,
  deploySwitch,
  deployUnlock,
  deployDiscard,
  deployCompare,
  deployCompareRsync,
  rollback,
  deployRevert,
  hostLock,
  hostUnlock,
];

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyVersion = Version<any>;

/** Every registered version, with the operation it belongs to. */
export const VERSIONS: readonly { operation: string; version: AnyVersion }[] = OPERATIONS.flatMap((op) =>
  op.versions.map((version) => ({ operation: op.name, version })),
);

/** What a gate may run, by exact text: lines (compared whole) and scripts (`sh -c TEXT till ARG…`). */
export const GATE_LINES: ReadonlyMap<string, AnyVersion> = new Map(
  VERSIONS.filter(({ version: v }) => v.form === 'line' && v.ungated === undefined).map(({ version: v }) => [
    v.text,
    v,
  ]),
);
export const GATE_SCRIPTS: ReadonlyMap<string, AnyVersion> = new Map(
  VERSIONS.filter(({ version: v }) => v.form === 'script' && v.ungated === undefined).map(({ version: v }) => [
    v.text,
    v,
  ]),
);
