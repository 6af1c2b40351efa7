import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EXACT_COMMANDS, SCRIPTS } from '../../src/remote/allowlist.js';

/**
 * The texts the gate of an installed till compares byte for byte (allowlist.ts): a text
 * edited in place would be refused by every gate already out there. Add a new version
 * and keep the old one; then add its hash here. A change to one of these hashes is the
 * bug this test exists for.
 */
const h = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 16);

const PINNED_SCRIPTS: [string, string][] = [
  ['setup-check', '8deba54393eee104'],
  ['setup-prepare', 'b24f2a1345ccd880'],
  ['setup-activate', '20a1cf85826c4351'],
  ['restrict', '2e1ba83e4dbb6243'],
  ['key-add', 'ccd1872d2d0bbbfd'],
  ['key-remove', '48308527389676ed'],
  ['doctor', '9c8e6372c39d43e3'],
  ['health', 'a7d0aff92534603b'],
  ['health-v2', '55983e40141f7c99'],
  ['deploy-state', 'ac85aa8bd770c2c3'],
  ['deploy-check', '701d38be70a2f19e'],
  ['deploy-prepare', '5b6b0d6a7942ea5e'],
  ['deploy-prepare-v2', 'a5f4127334a70a97'],
  ['deploy-switch', '5656aa24af2d9f34'],
  ['deploy-switch-v2', 'c0c3c30f1c9effe4'],
  ['deploy-switch-v3', 'b9f41453e84bd604'],
  ['deploy-unlock', 'ce5734b5514582b1'],
  ['rollback', 'e9407b39057bef38'],
  ['rollback-v2', 'ad4e051d7f50de5d'],
];

const PINNED_EXACT: [string, string][] = [
  ['test', '303c9a4c606eb85f'],
  ['audit', '1e80f95effdad26c'],
  ['sync', '5657e5d3907ebea1'],
  ['sync --dry-run', 'edd2aa54b7712353'],
  ['health latency', 'c22995adc29757a9'],
  ['clean-remote', '99a0082f163b7a79'],
];

describe('registered remote texts are frozen', () => {
  it('every registered script is pinned, and none changed', () => {
    expect(SCRIPTS.map((s) => [s.name, h(s.script)])).toEqual(PINNED_SCRIPTS);
  });
  it('every exact command is pinned, and none changed', () => {
    expect([...EXACT_COMMANDS].map(([line, name]) => [name, h(line)])).toEqual(PINNED_EXACT);
  });
});
