// Generated from src/protocol/registry.ts by scripts/gate-table.mjs (npm run gate-table): do not edit.
// test/unit/gate-table.test.ts fails when this table and the registry disagree.
import type { GateEntry } from './wire.js';

/**
 * What till gate runs: every version of the registry that a gate knows (not the ungated
 * ones), by the sha256 (hex) of its text. The gate looks up the text a client sent
 * (a script's, or a whole line) and runs that text, byte for byte the registered one.
 */
export const GATE_TABLE: ReadonlyMap<string, GateEntry> = new Map<string, GateEntry>([
  ['c28cfd1710e03d34711cb4c5e487b90278a8c42fdfe5eceb36b3f198acb80812', { name: 'test-v2', form: 'script', args: [] }],
  ['303c9a4c606eb85f89a71e48cfd7e4dc9050b9acc44a6f569d6113bf9808b967', { name: 'test', form: 'line', args: [] }],
  ['1e80f95effdad26c6a6ae2a3541507f5ab512e33056fe08ed14ea0d53f823be0', { name: 'audit', form: 'line', args: [] }],
  ['5657e5d3907ebea1e795a91a7a63c27b1efacf2a23a8e16f9b80f7849b460857', { name: 'sync', form: 'line', args: [] }],
  [
    'edd2aa54b77123537ab84479e2b9533dfd162c5608dc188d625226ad88dcdb10',
    { name: 'sync --dry-run', form: 'line', args: [] },
  ],
  [
    'c22995adc29757a99bc9242926a5d5b5a8007ecc78f30943161cf072af42d9d2',
    { name: 'health latency', form: 'line', args: [] },
  ],
  [
    '99a0082f163b7a79ecdefb1ba88404269697e58191d4d73194031a415bb8e847',
    { name: 'clean-remote', form: 'line', args: [] },
  ],
  [
    '8deba54393eee10495b856f84f761a444107d89f0dd541b94b1a0092dd94427b',
    { name: 'setup-check', form: 'script', args: [] },
  ],
  [
    'b24f2a1345ccd8802bd7f09ba0b07a5c3bd0ec86abfd6ba14a503d78320b0a49',
    { name: 'setup-prepare', form: 'script', args: [], upgrade: true },
  ],
  [
    '695b29b87297bd1dfe54bfaf40c5363aace8dfbb4451e95a0a2795f3e8ea5070',
    { name: 'setup-activate-v2', form: 'script', args: ['version', 'nodePath'], upgrade: true },
  ],
  [
    '20a1cf85826c43518f496f6d9b2d2feb34435db43cfffa4762fb26d963ff3b12',
    { name: 'setup-activate', form: 'script', args: ['version', 'nodePath'], upgrade: true },
  ],
  [
    'b02b6f5ebdef9b5d40fa4da09639b38997f21f30b9ee320ed12de8fc222f260a',
    {
      name: 'restrict-v3',
      form: 'script',
      args: ['keyType', 'keyBlob', 'keyComment', 'gateJson'],
      check: 'blobOfType',
    },
  ],
  [
    '0ea64a6e9c631d7f24cd3d18114a7978adc75ddb5ded19ed213360d63f6d6c97',
    {
      name: 'restrict-v2',
      form: 'script',
      args: ['keyType', 'keyBlob', 'keyComment', 'gateJson'],
      check: 'blobOfType',
    },
  ],
  [
    '2e1ba83e4dbb62434e251e94ca768dcfe2187869c4abc7c9aac524b6ba151f16',
    {
      name: 'restrict',
      form: 'script',
      args: ['keyType', 'keyBlob', 'keyComment', 'gateJson'],
      check: 'blobOfType',
      retired: "through the gate it rewrote any line carrying the blob it was given, an operator's own key too",
    },
  ],
  [
    '47ef4cfc94cea3f665d9d2164c0a2874b18a205a88a8e85ffa1f59189a5a579c',
    { name: 'key-add-v2', form: 'script', args: ['ed25519Type', 'ed25519Blob', 'keyComment'] },
  ],
  [
    'ccd1872d2d0bbbfd1497de8faf4a4a1491df7eca10ad34149fc85fab638a780a',
    { name: 'key-add', form: 'script', args: ['ed25519Type', 'ed25519Blob', 'keyComment'] },
  ],
  [
    'c16eb9614f38bc0e64c859b1ecdbce9285845f4ac5e39205a9806b8fe2d973e7',
    { name: 'key-remove-v2', form: 'script', args: ['ed25519Blob', 'ed25519Blob'], check: 'keepOtherThanDrop' },
  ],
  [
    '48308527389676ed070311cfc385706d40510d2f6b32727decf60d7a41d7f09a',
    { name: 'key-remove', form: 'script', args: ['ed25519Blob', 'ed25519Blob'], check: 'keepOtherThanDrop' },
  ],
  [
    '9c8e6372c39d43e3f76aba1bafb26bb9c521c77e2ab7a256f6ea05fcfaad8f7a',
    { name: 'doctor', form: 'script', args: ['probePath'] },
  ],
  [
    '55983e40141f7c990392f32493ee952cf0674be0b18a6b890e5dd78b7896b129',
    { name: 'health-v2', form: 'script', args: ['probePath'] },
  ],
  [
    'a7d0aff92534603b9b26940d7816bbc9f9e48d9b473d51880aaa68a492e8a275',
    { name: 'health', form: 'script', args: ['probePath'] },
  ],
  [
    '28689e47cd745f72c39f91a5d22530322856875e80afb75f089d504306982766',
    { name: 'deploy-state-v2', form: 'script', args: ['deployRoot'] },
  ],
  [
    'ac85aa8bd770c2c3770b1e591e42ce0e58e3a1d53ab456e158a8ecba26d6cec6',
    { name: 'deploy-state', form: 'script', args: ['deployRoot'] },
  ],
  [
    '52a1b5a92b6df68ccbf444781ddd06fee5cd00a4f4081c4e0dd7cd88fd56f3ba',
    { name: 'deploy-check-v2', form: 'script', args: ['deployRoot', 'check', 'hooks'] },
  ],
  [
    '701d38be70a2f19e4fdd202b5ad02c0806acc22fb0809cce820e87ac18f505c4',
    { name: 'deploy-check', form: 'script', args: ['deployRoot', 'check'] },
  ],
  [
    'bde077394911a7bc48861403dd6fd0e9cb0e5cd55f98027623753546fbda4e92',
    {
      name: 'deploy-prepare-v5',
      form: 'script',
      args: ['deployRoot', 'releaseId', 'lockInfo', 'runId', 'flag', 'sharedPaths', 'releaseId', 'time', 'contentHash'],
    },
  ],
  [
    '04a24f43274871f6c4b385afebea52472ff6f2cf6f5c9021505bddf4c882d70e',
    {
      name: 'deploy-prepare-v4',
      form: 'script',
      args: ['deployRoot', 'releaseId', 'lockInfo', 'runId', 'flag', 'sharedPaths', 'releaseId', 'time', 'contentHash'],
    },
  ],
  [
    'b703941bedf3dd4a842c07197e0dd3e14933357cb06a6960e1349c64256acdf9',
    {
      name: 'deploy-prepare-v3',
      form: 'script',
      args: ['deployRoot', 'releaseId', 'lockInfo', 'runId', 'flag', 'sharedPaths', 'releaseId', 'time', 'contentHash'],
    },
  ],
  [
    'a5f4127334a70a972ea61b487d15f5537fd9c45c553d150d86c462a33627d8ea',
    {
      name: 'deploy-prepare-v2',
      form: 'script',
      args: ['deployRoot', 'releaseId', 'lockInfo', 'runId', 'flag', 'sharedPaths', 'releaseId', 'time', 'contentHash'],
      retired: 'it copies a release and reports one as complete through a symlink an upload may plant',
    },
  ],
  [
    '5b6b0d6a7942ea5e2d488fbd60a883c48b2b8071f876abbbb44a5578d9b43da7',
    {
      name: 'deploy-prepare',
      form: 'script',
      args: ['deployRoot', 'releaseId', 'lockInfo', 'runId', 'flag', 'sharedPaths', 'releaseId', 'time'],
      retired: 'it reports a release as complete through a symlink an upload may plant',
    },
  ],
  [
    '9488d165d33c3660cc55dd66e1ccc5dcb7953369af365c8a0a677ae7412ce9ce',
    {
      name: 'deploy-switch-v5',
      form: 'script',
      args: [
        'deployRoot',
        'releaseId',
        'releaseIdOrEmpty',
        'check',
        'releaseIds',
        'runId',
        'time',
        'label',
        'installationOrEmpty',
        'sharedPaths',
        'envFile',
        'hostName',
        'deployer',
        'commitOrEmpty',
        'dirty',
        'message',
        'hooks',
        'hookTimeout',
        'flag',
      ],
    },
  ],
  [
    '152521925eb0d0d87a48f12b39759c5bc401c885aa6f140e8cd24a5598462583',
    {
      name: 'deploy-switch-v4',
      form: 'script',
      args: [
        'deployRoot',
        'releaseId',
        'releaseIdOrEmpty',
        'check',
        'releaseIds',
        'runId',
        'time',
        'label',
        'installationOrEmpty',
        'sharedPaths',
        'envFile',
      ],
    },
  ],
  [
    'b9f41453e84bd6045021862147c54861177df766cac044aee88e1f0c6c8d9a98',
    {
      name: 'deploy-switch-v3',
      form: 'script',
      args: [
        'deployRoot',
        'releaseId',
        'releaseIdOrEmpty',
        'check',
        'releaseIds',
        'runId',
        'time',
        'label',
        'installationOrEmpty',
        'sharedPaths',
        'envFile',
      ],
      retired: 'it writes .env.local, and links shared paths, through symlinks an upload may plant',
    },
  ],
  [
    'c0c3c30f1c9effe4228ebaa4f0fcbc16a1e244ed1d7a937ed3c0e9817bc55611',
    {
      name: 'deploy-switch-v2',
      form: 'script',
      args: [
        'deployRoot',
        'releaseId',
        'releaseIdOrEmpty',
        'check',
        'releaseIds',
        'runId',
        'time',
        'label',
        'installationOrEmpty',
        'sharedPaths',
        'envFile',
      ],
      retired: 'it writes .env.local, and links shared paths, through symlinks an upload may plant',
    },
  ],
  [
    '5656aa24af2d9f34adb58ae4beb540c2cd7f23ee0abbf40945755164e311c061',
    {
      name: 'deploy-switch',
      form: 'script',
      args: [
        'deployRoot',
        'releaseId',
        'releaseIdOrEmpty',
        'check',
        'releaseIds',
        'runId',
        'time',
        'label',
        'installationOrEmpty',
        'sharedPaths',
        'envFile',
      ],
      retired: 'it writes .env.local, and links shared paths, through symlinks an upload may plant',
    },
  ],
  [
    'ce5734b5514582b1a4fb4f05d08c648c9147a3c7a2549f2a4000b47c6a02d8fe',
    { name: 'deploy-unlock', form: 'script', args: ['deployRoot', 'runId'] },
  ],
  [
    '347a08924696493d1edcdb36cacc1901c70ebacd09967edb6d2599e7d9a4a57a',
    { name: 'deploy-discard', form: 'script', args: ['deployRoot', 'releaseId', 'runId'] },
  ],
  [
    '11970ec19a476f89f171fcdd629fbba45fbe0f278876513616303bf68f2488f7',
    {
      name: 'deploy-compare-v2',
      form: 'script',
      args: ['deployRoot', 'contentHash', 'sharedPaths', 'installationOrEmpty', 'envFile', 'envFile'],
    },
  ],
  [
    'be7961b972aa15bde2655b59bc5884af6e912fd769f61996068b12e809f71442',
    {
      name: 'deploy-compare',
      form: 'script',
      args: ['deployRoot', 'contentHash', 'sharedPaths', 'installationOrEmpty', 'envFile', 'envFile'],
    },
  ],
  [
    '1fbb983101ed128f2380de1f76b193dd9725fc0f7307be8f561bf425af7182eb',
    {
      name: 'rollback-v4',
      form: 'script',
      args: [
        'deployRoot',
        'releaseIdOrEmpty',
        'lockInfo',
        'time',
        'hostName',
        'deployer',
        'message',
        'hooks',
        'hookTimeout',
      ],
    },
  ],
  [
    'f1c79ecf794e123894078cc65ce3cfb34026f4d702dea450806335d6f1e68b05',
    { name: 'rollback-v3', form: 'script', args: ['deployRoot', 'releaseIdOrEmpty', 'lockInfo', 'time'] },
  ],
  [
    'ad4e051d7f50de5d43077a506e6d643c9acf2f66d831764bd6a209525c167cb6',
    {
      name: 'rollback-v2',
      form: 'script',
      args: ['deployRoot', 'releaseIdOrEmpty', 'lockInfo', 'time'],
      retired: 'it switches to a release name that is a symlink an upload may plant',
    },
  ],
  [
    'e9407b39057bef38c970e754f9f60affbd7dea206e00959764e437aea858e6b6',
    {
      name: 'rollback',
      form: 'script',
      args: ['deployRoot', 'releaseIdOrEmpty', 'lockInfo', 'time'],
      retired: 'it switches to a release name that is a symlink an upload may plant',
    },
  ],
  [
    'dbb3a19f78e576c940c76af230faf91c83020f7b85dcce08dc44a6b3c1801449',
    {
      name: 'deploy-revert',
      form: 'script',
      args: [
        'deployRoot',
        'releaseId',
        'releaseIdOrEmpty',
        'runId',
        'time',
        'hostName',
        'deployer',
        'message',
        'hooks',
        'hookTimeout',
      ],
    },
  ],
  [
    '7d4e797d29662c3d6564786ca4859927951a0ffdd6cda1f231b26caa8c432035',
    { name: 'host-lock', form: 'script', args: ['deployRoot', 'deployer', 'time', 'message'] },
  ],
  [
    '58da68c824e12ebbaa7b1224b474534221edbca56e5951fe281d52c0d721a474',
    { name: 'host-unlock', form: 'script', args: ['deployRoot'] },
  ],
]);
