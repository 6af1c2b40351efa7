import { statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BUNDLE_BUDGET_KIB, overBudget } from '../../scripts/bundle.mjs';

describe("dist/till.mjs's size budget (the build stops over it)", () => {
  it('passes the bundle as built, and stops one a byte over the budget, saying what to look for', () => {
    expect(overBudget(statSync('dist/till.mjs').size)).toBeUndefined();
    expect(overBudget(BUNDLE_BUDGET_KIB * 1024)).toBeUndefined();
    expect(overBudget(BUNDLE_BUDGET_KIB * 1024 + 1)).toMatch(/over its budget of \d+ KiB .*re-exported namespace/);
  });
});
