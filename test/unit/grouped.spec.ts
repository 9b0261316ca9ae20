import { describe, expect, it } from '@jest/globals';
import { Grouped } from '../../src/downloads/grouped.js';

describe('Grouped', () => {
  it('flushes one group at a time; what arrives during a flush goes out together in the next', async () => {
    const flushed: number[][] = [];
    let release: () => void = () => undefined;
    const grouped = new Grouped<number>(async (items) => {
      flushed.push([...items]);
      if (flushed.length === 1) await new Promise<void>((r) => (release = r));
    });
    const first = grouped.add([1]);
    await Promise.resolve();
    // The first flush is running (held): these three wait for it, then go out as one group.
    const later = [grouped.add([2]), grouped.add([3, 4]), grouped.add([5])];
    await new Promise((r) => setTimeout(r, 10));
    expect(flushed).toEqual([[1]]);
    release();
    await Promise.all([first, ...later]);
    expect(flushed).toEqual([[1], [2, 3, 4, 5]]);
  });

  it('settles each caller with the flush that carried its items, a failure included; the next group still runs', async () => {
    const grouped = new Grouped<string>(async (items) => {
      if (items.includes('bad')) throw new Error('flush failed');
    });
    const failing = grouped.add(['bad']);
    const next = (async () => {
      await failing.catch(() => undefined);
      return grouped.add(['good']);
    })();
    await expect(failing).rejects.toThrow('flush failed');
    await expect(next).resolves.toBeUndefined();
    await grouped.idle();
  });

  it('adds nothing for an empty list', async () => {
    let calls = 0;
    const grouped = new Grouped<number>(async () => {
      calls++;
    });
    await grouped.add([]);
    await grouped.idle();
    expect(calls).toBe(0);
  });
});
