import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { VERSIONS } from '../../src/protocol/registry.js';
import { HOME_EXPANSION_SH } from '../../src/protocol/wire.js';

/**
 * The texts the gate of an installed till compares byte for byte (src/protocol): a text
 * edited in place would be refused by every gate already out there. Add a new version
 * and keep the old one; then add its hash here. A change to one of these hashes is the
 * bug this test exists for. (The first 16 digits of each are what this test pinned
 * before the protocol package: the texts moved there byte for byte.) An ungated text
 * (deploy-prepare-rsync) is never compared by a gate: it was replaced, not kept.
 */
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

const PINNED: [string, string][] = [
  ['test-v2', 'c28cfd1710e03d34711cb4c5e487b90278a8c42fdfe5eceb36b3f198acb80812'],
  ['test', '303c9a4c606eb85f89a71e48cfd7e4dc9050b9acc44a6f569d6113bf9808b967'],
  ['audit', '1e80f95effdad26c6a6ae2a3541507f5ab512e33056fe08ed14ea0d53f823be0'],
  ['sync', '5657e5d3907ebea1e795a91a7a63c27b1efacf2a23a8e16f9b80f7849b460857'],
  ['sync --dry-run', 'edd2aa54b77123537ab84479e2b9533dfd162c5608dc188d625226ad88dcdb10'],
  ['health latency', 'c22995adc29757a99bc9242926a5d5b5a8007ecc78f30943161cf072af42d9d2'],
  ['clean-remote', '99a0082f163b7a79ecdefb1ba88404269697e58191d4d73194031a415bb8e847'],
  ['setup-check', '8deba54393eee10495b856f84f761a444107d89f0dd541b94b1a0092dd94427b'],
  ['setup-prepare', 'b24f2a1345ccd8802bd7f09ba0b07a5c3bd0ec86abfd6ba14a503d78320b0a49'],
  ['setup-activate-v2', '695b29b87297bd1dfe54bfaf40c5363aace8dfbb4451e95a0a2795f3e8ea5070'],
  ['setup-activate', '20a1cf85826c43518f496f6d9b2d2feb34435db43cfffa4762fb26d963ff3b12'],
  ['restrict-v3', 'b02b6f5ebdef9b5d40fa4da09639b38997f21f30b9ee320ed12de8fc222f260a'],
  ['restrict-v2', '0ea64a6e9c631d7f24cd3d18114a7978adc75ddb5ded19ed213360d63f6d6c97'],
  ['restrict', '2e1ba83e4dbb62434e251e94ca768dcfe2187869c4abc7c9aac524b6ba151f16'],
  ['key-add-v2', '47ef4cfc94cea3f665d9d2164c0a2874b18a205a88a8e85ffa1f59189a5a579c'],
  ['key-add', 'ccd1872d2d0bbbfd1497de8faf4a4a1491df7eca10ad34149fc85fab638a780a'],
  ['key-remove-v2', 'c16eb9614f38bc0e64c859b1ecdbce9285845f4ac5e39205a9806b8fe2d973e7'],
  ['key-remove', '48308527389676ed070311cfc385706d40510d2f6b32727decf60d7a41d7f09a'],
  ['key-append-v2', '0314c89e93a6231f4d251dd6fa32d14304a2242936e6d20898a2661973e5c07a'],
  ['key-append', '4d9cd183d9acb7fd2849da8b6fba4ea39bcae77e6980a5ec3b0701d830e0c9b1'],
  ['key-drop-v2', 'd986d4a9f2d9ee5a8501929b24640061cba0e6fc01d2cf6afd631cb969ff60a7'],
  ['key-drop', 'ea61bcf1444ccda1d118870dbee2f2a693389673305b865a72c39d34b4938fc5'],
  ['doctor', '9c8e6372c39d43e3f76aba1bafb26bb9c521c77e2ab7a256f6ea05fcfaad8f7a'],
  ['health-v2', '55983e40141f7c990392f32493ee952cf0674be0b18a6b890e5dd78b7896b129'],
  ['health', 'a7d0aff92534603b9b26940d7816bbc9f9e48d9b473d51880aaa68a492e8a275'],
  ['deploy-state-v2', '28689e47cd745f72c39f91a5d22530322856875e80afb75f089d504306982766'],
  ['deploy-state', 'ac85aa8bd770c2c3770b1e591e42ce0e58e3a1d53ab456e158a8ecba26d6cec6'],
  ['deploy-check-v2', '52a1b5a92b6df68ccbf444781ddd06fee5cd00a4f4081c4e0dd7cd88fd56f3ba'],
  ['deploy-check', '701d38be70a2f19e4fdd202b5ad02c0806acc22fb0809cce820e87ac18f505c4'],
  ['deploy-prepare-v5', 'bde077394911a7bc48861403dd6fd0e9cb0e5cd55f98027623753546fbda4e92'],
  ['deploy-prepare-v4', '04a24f43274871f6c4b385afebea52472ff6f2cf6f5c9021505bddf4c882d70e'],
  ['deploy-prepare-v3', 'b703941bedf3dd4a842c07197e0dd3e14933357cb06a6960e1349c64256acdf9'],
  ['deploy-prepare-v2', 'a5f4127334a70a972ea61b487d15f5537fd9c45c553d150d86c462a33627d8ea'],
  ['deploy-prepare', '5b6b0d6a7942ea5e2d488fbd60a883c48b2b8071f876abbbb44a5578d9b43da7'],
  ['deploy-prepare-rsync-v3', '082d472ad1fdde7adbedc3d19bdfde06c9f324b1aa79b73ca63b98c6515cb757'],
  ['deploy-switch-v5', '9488d165d33c3660cc55dd66e1ccc5dcb7953369af365c8a0a677ae7412ce9ce'],
  ['deploy-switch-v4', '152521925eb0d0d87a48f12b39759c5bc401c885aa6f140e8cd24a5598462583'],
  ['deploy-switch-v3', 'b9f41453e84bd6045021862147c54861177df766cac044aee88e1f0c6c8d9a98'],
  ['deploy-switch-v2', 'c0c3c30f1c9effe4228ebaa4f0fcbc16a1e244ed1d7a937ed3c0e9817bc55611'],
  ['deploy-switch', '5656aa24af2d9f34adb58ae4beb540c2cd7f23ee0abbf40945755164e311c061'],
  ['deploy-unlock', 'ce5734b5514582b1a4fb4f05d08c648c9147a3c7a2549f2a4000b47c6a02d8fe'],
  ['deploy-discard', '347a08924696493d1edcdb36cacc1901c70ebacd09967edb6d2599e7d9a4a57a'],
  ['deploy-compare-v2', '11970ec19a476f89f171fcdd629fbba45fbe0f278876513616303bf68f2488f7'],
  ['deploy-compare', 'be7961b972aa15bde2655b59bc5884af6e912fd769f61996068b12e809f71442'],
  ['deploy-compare-rsync', 'c534dbf807126e9b0eb9eb5787cd4699ca06c45ca53c9551a2f79ba33d27e933'],
  ['rollback-v4', '1fbb983101ed128f2380de1f76b193dd9725fc0f7307be8f561bf425af7182eb'],
  ['rollback-v3', 'f1c79ecf794e123894078cc65ce3cfb34026f4d702dea450806335d6f1e68b05'],
  ['rollback-v2', 'ad4e051d7f50de5d43077a506e6d643c9acf2f66d831764bd6a209525c167cb6'],
  ['rollback', 'e9407b39057bef38c970e754f9f60affbd7dea206e00959764e437aea858e6b6'],
  ['deploy-revert', 'dbb3a19f78e576c940c76af230faf91c83020f7b85dcce08dc44a6b3c1801449'],
  ['host-lock', '7d4e797d29662c3d6564786ca4859927951a0ffdd6cda1f231b26caa8c432035'],
  ['host-unlock', '58da68c824e12ebbaa7b1224b474534221edbca56e5951fe281d52c0d721a474'],
];

describe('registered remote texts are frozen', () => {
  it('every registered text is pinned by its sha256, and none changed', () => {
    expect(VERSIONS.map(({ version }) => [version.name, sha256(version.text)])).toEqual(PINNED);
  });

  it('version names are unique', () => {
    const names = VERSIONS.map(({ version }) => version.name);
    expect(new Set(names).size).toBe(names.length);
  });

  it('a script written since the protocol package expands a ~/ path with the one sh line', () => {
    // The texts of the tills before the protocol package: they keep their own expansion.
    const legacy = new Set([
      ...['test', 'audit', 'sync', 'sync --dry-run', 'health latency', 'clean-remote', 'setup-check'],
      ...['setup-prepare', 'setup-activate', 'restrict', 'key-add', 'key-remove', 'doctor', 'health-v2'],
      ...['health', 'deploy-state', 'deploy-check', 'deploy-prepare-v2', 'deploy-prepare', 'deploy-switch-v3'],
      ...['deploy-switch-v2', 'deploy-switch', 'deploy-unlock', 'rollback-v2', 'rollback', 'key-append', 'key-drop'],
    ]);
    const fresh = VERSIONS.filter(
      ({ version }) =>
        !legacy.has(version.name) && ['deploy root', 'remote path'].includes(version.args[0]?.name ?? ''),
    );
    expect(fresh.map(({ version }) => version.name)).toEqual([
      'deploy-state-v2',
      'deploy-check-v2',
      'deploy-prepare-v5',
      'deploy-prepare-v4',
      'deploy-prepare-v3',
      'deploy-prepare-rsync-v3',
      'deploy-switch-v5',
      'deploy-switch-v4',
      'deploy-discard',
      'deploy-compare-v2',
      'deploy-compare',
      'deploy-compare-rsync',
      'rollback-v4',
      'rollback-v3',
      'deploy-revert',
      'host-lock',
      'host-unlock',
    ]);
    for (const { version } of fresh) expect(version.text.split('\n')).toContain(HOME_EXPANSION_SH);
  });
});
