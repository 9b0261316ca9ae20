import { describe, expect, it } from '@jest/globals';
import { ByteRanges } from '../../src/agent/download/byte-ranges.js';

describe('ByteRanges', () => {
  it('merges overlapping and adjacent ranges, keeps gaps apart, and ignores empty ones', () => {
    const r = new ByteRanges();
    r.add(10, 20);
    r.add(30, 40);
    r.add(20, 25);
    r.add(5, 5);
    expect(r.list()).toEqual([
      [10, 25],
      [30, 40],
    ]);
    r.add(0, 35);
    expect(r.list()).toEqual([[0, 40]]);
    expect(r.total()).toBe(40);
  });

  it('says how far the bytes run from 0 (what can be hashed in order)', () => {
    expect(new ByteRanges().contiguousEnd()).toBe(0);
    expect(new ByteRanges([[5, 10]]).contiguousEnd()).toBe(0);
    expect(
      new ByteRanges([
        [0, 10],
        [12, 20],
      ]).contiguousEnd(),
    ).toBe(10);
  });

  it('lists the gaps of a file in order, cut into pieces of at most maxLength', () => {
    const r = new ByteRanges([
      [0, 10],
      [25, 30],
    ]);
    expect(r.missing(40)).toEqual([
      [10, 25],
      [30, 40],
    ]);
    expect(r.missing(40, 6)).toEqual([
      [10, 16],
      [16, 22],
      [22, 25],
      [30, 36],
      [36, 40],
    ]);
    expect(new ByteRanges().missing(0)).toEqual([]);
    expect(new ByteRanges([[0, 8]]).missing(8)).toEqual([]);
  });
});
