import { describe, expect, it } from '@jest/globals';
import { bytesAreBad, decideRepair, repairTimeoutMs, type PolicyInput } from '../../src/repair/repair-policy.js';
import { ModelLoadError } from '../../src/shared/model-load-error.js';

const input = (overrides: Partial<PolicyInput> = {}): PolicyInput => ({
  code: ModelLoadError.CORRUPTED,
  resumable: false,
  autoRepair: true,
  manual: false,
  consecutiveFailures: 0,
  breakerThreshold: 3,
  ...overrides,
});

describe('decideRepair', () => {
  it('re-downloads file problems: from zero when the bytes are bad, resuming a truncated file', () => {
    expect(decideRepair(input({ code: ModelLoadError.CORRUPTED }))).toEqual({ action: 'REPAIR', fromZero: true });
    expect(decideRepair(input({ code: ModelLoadError.INVALID_FORMAT }))).toEqual({ action: 'REPAIR', fromZero: true });
    expect(decideRepair(input({ code: ModelLoadError.CORRUPTED, resumable: true }))).toEqual({
      action: 'REPAIR',
      fromZero: false,
    });
    expect(decideRepair(input({ code: ModelLoadError.FILE_NOT_FOUND }))).toEqual({ action: 'REPAIR', fromZero: false });
  });

  it('does not re-download for CONTEXT_FAILED: a memory problem', () => {
    const d = decideRepair(input({ code: ModelLoadError.CONTEXT_FAILED }));
    expect(d).toMatchObject({ action: 'NO_REPAIR' });
    expect(d.action === 'NO_REPAIR' && d.reason).toMatch(/memory problem/);
  });

  it('respects AUTO_REPAIR=false, but a repair by hand always runs', () => {
    expect(decideRepair(input({ autoRepair: false }))).toMatchObject({ action: 'NO_REPAIR' });
    expect(decideRepair(input({ autoRepair: false, manual: true }))).toMatchObject({ action: 'REPAIR' });
  });

  it('trips the breaker after repeated failed repairs instead of looping', () => {
    expect(decideRepair(input({ consecutiveFailures: 2 }))).toMatchObject({ action: 'REPAIR' });
    const open = decideRepair(input({ consecutiveFailures: 3 }));
    expect(open).toMatchObject({ action: 'BREAKER_OPEN' });
    expect(open.action === 'BREAKER_OPEN' && open.reason).toMatch(/after 3 failed repairs/);
    expect(decideRepair(input({ consecutiveFailures: 3, manual: true }))).toMatchObject({ action: 'REPAIR' });
  });
});

describe('repair helpers', () => {
  it('scales the timeout with the bytes to fetch', () => {
    expect(repairTimeoutMs(0, 60_000, 5 * 1024 * 1024)).toBe(60_000);
    expect(repairTimeoutMs(10 * 1024 * 1024 * 1024, 60_000, 5 * 1024 * 1024)).toBe(60_000 + 2048_000);
  });

  it('knows which failures mean the bytes are wrong', () => {
    expect(bytesAreBad(ModelLoadError.CORRUPTED)).toBe(true);
    expect(bytesAreBad(ModelLoadError.FILE_NOT_FOUND)).toBe(false);
  });
});
