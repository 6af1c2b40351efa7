import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compareVersions } from '../../src/core/versions.js';
import { bundleGate } from './gate-bundle.js';

/**
 * A host tells an older till gate from a newer one only by till's version: `host list`,
 * `status` and `doctor` flag a restricted host whose till is older than the controller's,
 * and `host setup` installs nothing on a host already at this version (docs/gate.md,
 * "Keeping gates current"). So a change to what the gate does must come with a new
 * version, or hosts that run the old gate look current. This pins the gate's compiled code
 * (esbuild's bundle of src/gate/main.ts: the gate's files, the protocol's argument types,
 * rules and gate table; comments and formatting do not count) to the version it shipped in.
 *
 * When it fails: bump "version" in package.json (and package-lock.json: `npm version
 * patch --no-git-tag-version`), then append `{ "version": <it>, "sha256": <the hash
 * printed> }` to test/fixtures/gate-builds.json.
 */
const pins: Array<{ version: string; sha256: string }> = JSON.parse(
  readFileSync('test/fixtures/gate-builds.json', 'utf8'),
);
const VERSION: string = JSON.parse(readFileSync('package.json', 'utf8')).version;

async function gateHash(): Promise<string> {
  return createHash('sha256')
    .update((await bundleGate()).text)
    .digest('hex');
}

describe("the gate's code and till's version", () => {
  it('every pinned gate build has a version of its own, each newer than the one before', () => {
    expect(pins.length).toBeGreaterThan(0);
    for (let i = 1; i < pins.length; i++)
      expect(
        compareVersions(pins[i - 1]!.version, pins[i]!.version),
        `${pins[i - 1]!.version} < ${pins[i]!.version}`,
      ).toBe(-1);
    expect(new Set(pins.map((p) => p.sha256)).size).toBe(pins.length);
  });

  it("a change to the gate's code comes with a new version of till", async () => {
    const hash = await gateHash();
    const last = pins.at(-1)!;
    expect(
      hash,
      `the gate's code changed since till ${last.version} (sha256 ${hash}): bump package.json's version and pin it in test/fixtures/gate-builds.json (see this file's comment)`,
    ).toBe(last.sha256);
    expect(VERSION, 'package.json has a version no gate build is pinned to: pin it').toBe(last.version);
  });
});
