import { describe, expect, it } from '@jest/globals';
import { NodeModelState } from '../../src/nodes/models/node.model.js';
import { ModelStatesCache, type StatesKey } from '../../src/registry/model-states-cache.js';

function state(modelId: string, nodeId: string, bytesDone: number): NodeModelState {
  return Object.assign(new NodeModelState(), { id: `${nodeId}:${modelId}`, nodeId, modelId, bytesDone });
}

/** A loader over a mutable "database", recording which ids each call asked for. */
function loaderOver(db: Map<string, NodeModelState[]>) {
  const calls: string[][] = [];
  const load = async (ids: readonly string[]) => {
    calls.push([...ids]);
    return new Map(ids.map((id) => [id, db.get(id) ?? []]));
  };
  return { calls, load };
}

const key = (id: string, version: number, registeredAt = 1000): StatesKey => ({ id, version, registeredAt });

describe('ModelStatesCache', () => {
  it('reads only the models whose version or registration moved, and serves the others as stored', async () => {
    const db = new Map([
      ['a', [state('a', 'n1', 1)]],
      ['b', [state('b', 'n1', 2), state('b', 'n2', 3)]],
      ['c', []],
    ]);
    const { calls, load } = loaderOver(db);
    const cache = new ModelStatesCache();

    const first = await cache.read([key('a', 5), key('b', 7), key('c', 1)], load);
    expect(calls).toEqual([['a', 'b', 'c']]);
    expect(first.get('b')!.map((s) => s.bytesDone)).toEqual([2, 3]);

    db.set('a', [state('a', 'n1', 10)]);
    db.set('c', [state('c', 'n3', 30)]);
    // a's version moved, c was registered again (same version number, another registration): both read again.
    const second = await cache.read([key('a', 6), key('b', 7), key('c', 1, 2000)], load);
    expect(calls).toEqual([
      ['a', 'b', 'c'],
      ['a', 'c'],
    ]);
    expect(second.get('a')!.map((s) => s.bytesDone)).toEqual([10]);
    expect(second.get('b')).toBe(first.get('b'));
    expect(second.get('c')!.map((s) => s.bytesDone)).toEqual([30]);
    expect(cache.stats).toEqual({ hits: 1, misses: 5, models: 3 });

    // Nothing moved: no read at all.
    await cache.read([key('a', 6), key('b', 7), key('c', 1, 2000)], load);
    expect(calls).toHaveLength(2);
  });

  it('keeps the states of a later version when a slower read of an earlier one finishes after it', async () => {
    const db = new Map([['a', [state('a', 'n1', 1)]]]);
    let release: () => void = () => undefined;
    const cache = new ModelStatesCache();
    const slow = cache.read([key('a', 1)], async (ids) => {
      const answer = new Map(ids.map((id) => [id, db.get(id)!]));
      await new Promise<void>((r) => (release = r));
      return answer;
    });
    db.set('a', [state('a', 'n1', 2)]);
    const { calls, load } = loaderOver(db);
    await cache.read([key('a', 2)], load);
    release();
    await slow;
    const again = await cache.read([key('a', 2)], load);
    expect(calls).toHaveLength(1);
    expect(again.get('a')!.map((s) => s.bytesDone)).toEqual([2]);
  });
});
