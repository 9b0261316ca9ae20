import { describe, expect, it } from '@jest/globals';
import { backoffDelayMs, retryAfterMs } from '../../src/agent/download/retry-backoff.js';

describe('backoffDelayMs', () => {
  it('doubles from 250 ms with the upper half jittered, capped', () => {
    const low = { random: () => 0 };
    const high = { random: () => 0.999999 };
    expect([1, 2, 3, 4].map((n) => backoffDelayMs(n, low))).toEqual([125, 250, 500, 1000]);
    expect([1, 2, 3, 4].map((n) => backoffDelayMs(n, high))).toEqual([250, 500, 1000, 2000]);
    expect(backoffDelayMs(30, { random: () => 0.5, maxMs: 30_000 })).toBe(22_500);
  });
});

describe('retryAfterMs', () => {
  it('reads Retry-After seconds and dates, and the RateLimit t= the Hub sends; the larger wins', () => {
    const now = Date.parse('2026-11-21T10:00:00Z');
    expect(retryAfterMs({ 'retry-after': '3' }, now)).toBe(3000);
    expect(retryAfterMs({ 'retry-after': 'Sat, 21 Nov 2026 10:00:05 GMT' }, now)).toBe(5000);
    expect(retryAfterMs({ ratelimit: '"api";r=0;t=42' }, now)).toBe(42_000);
    expect(retryAfterMs({ 'retry-after': '10', ratelimit: '"resolvers";r=0;t=4' }, now)).toBe(10_000);
    expect(retryAfterMs({}, now)).toBeNull();
    expect(retryAfterMs({ 'retry-after': 'soon' }, now)).toBeNull();
  });
});
