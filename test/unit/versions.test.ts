import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareVersions, gateOutdated } from '../../src/core/versions.js';

describe('compareVersions: semver 2.0 precedence', () => {
  it("orders semver.org's example chain, each older than the next", () => {
    const chain = [
      '1.0.0-alpha',
      '1.0.0-alpha.1',
      '1.0.0-alpha.beta',
      '1.0.0-beta',
      '1.0.0-beta.2',
      '1.0.0-beta.11',
      '1.0.0-rc.1',
      '1.0.0',
      '1.0.1',
      '1.1.0',
      '1.10.0',
      '2.0.0',
    ];
    for (let i = 0; i < chain.length; i++)
      for (let j = 0; j < chain.length; j++)
        expect(Math.sign(compareVersions(chain[i]!, chain[j]!)!), `${chain[i]} vs ${chain[j]}`).toBe(Math.sign(i - j));
  });

  it('ignores build metadata; null for what is not a version', () => {
    expect(compareVersions('0.1.0+abc', '0.1.0')).toBe(0);
    expect(compareVersions('0.1.0-rc.1+x', '0.1.0')).toBeLessThan(0);
    for (const bad of ['', '0.1', 'v0.1.0', '0.1.0-', '0.1.0 ', '0.1.0-a..b', 'unknown'])
      expect(compareVersions(bad, '0.1.0'), bad).toBeNull();
  });

  it('is an order: antisymmetric, and a pre-release is older than its release', () => {
    const part = fc.integer({ min: 0, max: 30 });
    const ident = fc.oneof(fc.integer({ min: 0, max: 20 }).map(String), fc.constantFrom('alpha', 'beta', 'rc', 'x-1'));
    const version = fc
      .tuple(part, part, part, fc.array(ident, { maxLength: 3 }))
      .map(([a, b, c, pre]) => `${a}.${b}.${c}${pre.length ? `-${pre.join('.')}` : ''}`);
    fc.assert(
      fc.property(version, version, (a, b) => {
        // + 0: Math.sign gives -0 for a negated 0, and toBe tells -0 from 0
        expect(Math.sign(compareVersions(a, b)!)).toBe(-Math.sign(compareVersions(b, a)!) + 0);
        expect(compareVersions(a, a)).toBe(0);
        const release = a.split('-')[0]!;
        if (a !== release) expect(compareVersions(a, release)).toBeLessThan(0);
      }),
    );
  });
});

describe('gateOutdated', () => {
  it('flags a restricted host whose till is older; never an unrestricted one; null when unknown', () => {
    expect(gateOutdated({ restricted: true, till_version: '0.1.0-rc.1' }, '0.1.0')).toBe(true);
    expect(gateOutdated({ restricted: true, till_version: '0.0.9' }, '0.1.0')).toBe(true);
    expect(gateOutdated({ restricted: true, till_version: '0.1.0' }, '0.1.0')).toBe(false);
    expect(gateOutdated({ restricted: true, till_version: '0.2.0' }, '0.1.0')).toBe(false);
    expect(gateOutdated({ till_version: '0.0.1' }, '0.1.0')).toBe(false);
    expect(gateOutdated({ restricted: false, till_version: '0.0.1' }, '0.1.0')).toBe(false);
    expect(gateOutdated({ restricted: true, till_version: null }, '0.1.0')).toBeNull();
    expect(gateOutdated({ restricted: true }, '0.1.0')).toBeNull();
    expect(gateOutdated({ restricted: true, till_version: 'garbage' }, '0.1.0')).toBeNull();
  });
});
