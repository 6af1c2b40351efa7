import { blobKeyType } from './args.js';

/**
 * The rules across a script's arguments (two keys that must differ…), by name. The gate
 * checks them after each argument's own type; a version names its rule (`check` in
 * wire.ts's Version and in gate-table.ts), so the rule has one definition, which the
 * gate reads without the scripts' texts.
 */
type Check = (args: readonly string[]) => string | undefined;

/** key-add, restrict: the blob ($2) is a key of the type given before it ($1). */
const blobOfType: Check = ([type, blob]) =>
  blobKeyType(blob!) === type ? undefined : `the key blob is not a ${type} key`;
/** key-remove: the key to keep ($1) is not the key to remove ($2). */
const keepOtherThanDrop: Check = ([keep, drop]) => (keep === drop ? 'the key to keep is the key to remove' : undefined);

// Functions named outside the object (not an `as const` literal): StrykerJS does not mutate inside one.
export const CHECKS: Readonly<Record<'blobOfType' | 'keepOtherThanDrop', Check>> = { blobOfType, keepOtherThanDrop };

export type CheckName = keyof typeof CHECKS;
