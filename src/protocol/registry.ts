import { ARG, type ArgType } from './args.js';
import { deployCheck, deployDiscard, deployPrepare, deployPrepareFused, deployState, deployUnlock } from './deploy.js';
import { cleanRemote, setupActivate, setupCheck, setupPrepare, sync, syncDryRun, test } from './host.js';
import { keyAdd, keyAppend, keyDrop, keyRemove, restrict } from './keys.js';
import { audit, doctor, health, healthLatency } from './probes.js';
import { hostLock, hostUnlock } from './hold.js';
import { deployRevert, rollback } from './rollback.js';
import { deploySwitch } from './switch.js';
import type { GateEntry, Operation, Version } from './wire.js';

/**
 * Every remote operation of till, in one list. The gate allows exactly the versions
 * registered here that are neither retired nor ungated, and checks each argument by its
 * declared type (docs/gate.md); test/unit/allowlist-frozen.test.ts pins every text. The
 * gate reads them from gate-table.ts, generated from this list by `npm run gate-table`
 * (gateEntries() below; test/unit/gate-table.test.ts fails when the two disagree).
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

/** An argument type's name in ARG (what gate-table.ts records). */
function argName(type: ArgType): keyof typeof ARG {
  const name = (Object.keys(ARG) as (keyof typeof ARG)[]).find((k) => ARG[k] === type);
  if (name === undefined) throw new Error(`the argument type "${type.name}" is not one of args.ts's ARG`);
  return name;
}

/**
 * What gate-table.ts must hold, by text (the table keys it by the text's sha256): every
 * version a gate knows, all but the ungated ones, in registry order.
 */
export function gateEntries(): { text: string; entry: GateEntry }[] {
  const seen = new Map<string, string>();
  return VERSIONS.filter(({ version: v }) => v.ungated === undefined).map(({ version: v }) => {
    const twin = seen.get(v.text);
    if (twin !== undefined) throw new Error(`${v.name} has the same text as ${twin}`);
    seen.set(v.text, v.name);
    const entry: GateEntry = {
      name: v.name,
      form: v.form,
      args: v.args.map(argName),
      ...(v.check !== undefined ? { check: v.check } : {}),
      ...(v.upgrade === true ? { upgrade: true as const } : {}),
      ...(v.retired !== undefined ? { retired: v.retired } : {}),
    };
    return { text: v.text, entry };
  });
}
