/** A set of byte intervals `[start, end)`, kept sorted and merged: which parts of a file are on disk. */
export class ByteRanges {
  private ranges: [number, number][] = [];

  constructor(initial: Iterable<readonly [number, number]> = []) {
    for (const [start, end] of initial) this.add(start, end);
  }

  add(start: number, end: number): void {
    if (end <= start) return;
    const next: [number, number][] = [];
    let lo = start;
    let hi = end;
    let placed = false;
    for (const r of this.ranges) {
      if (r[1] < lo) next.push(r);
      else if (r[0] > hi) {
        if (!placed) next.push([lo, hi]);
        placed = true;
        next.push(r);
      } else {
        lo = Math.min(lo, r[0]);
        hi = Math.max(hi, r[1]);
      }
    }
    if (!placed) next.push([lo, hi]);
    this.ranges = next;
  }

  /** Bytes covered. */
  total(): number {
    return this.ranges.reduce((sum, [start, end]) => sum + end - start, 0);
  }

  /** End of the run that starts at byte 0 (0 when byte 0 is missing): what can be hashed in order. */
  contiguousEnd(): number {
    const first = this.ranges[0];
    return first !== undefined && first[0] === 0 ? first[1] : 0;
  }

  /** The gaps of `[0, size)`, in order, each cut into pieces of at most `maxLength` bytes. */
  missing(size: number, maxLength = Number.POSITIVE_INFINITY): [number, number][] {
    const gaps: [number, number][] = [];
    let at = 0;
    for (const [start, end] of [...this.ranges, [size, size] as [number, number]]) {
      for (let from = at; from < Math.min(start, size); from += maxLength) {
        gaps.push([from, Math.min(start, size, from + maxLength)]);
      }
      at = Math.max(at, end);
    }
    return gaps;
  }

  list(): [number, number][] {
    return this.ranges.map(([start, end]) => [start, end]);
  }
}
