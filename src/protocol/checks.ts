import { blobKeyType } from './args.js';

/**
 * The rules across a script's arguments (two keys that must differ…), by name. The gate
 * checks them after each argument's own type; a version names its rule (`check` in
 * wire.ts's Version and in gate-table.ts), so the rule has one definition, which the
 * gate reads without the scripts' texts.
 */
export const CHECKS = {
  /** key-add, restrict: the blob ($2) is a key of the type given before it ($1). */
  blobOfType: ([type, blob]) => (blobKeyType(blob!) === type ? undefined : `the key blob is not a ${type} key`),
  /** key-remove: the key to keep ($1) is not the key to remove ($2). */
  keepOtherThanDrop: ([keep, drop]) => (keep === drop ? 'the key to keep is the key to remove' : undefined),
} as const satisfies Record<string, (args: readonly string[]) => string | undefined>;

export type CheckName = keyof typeof CHECKS;
