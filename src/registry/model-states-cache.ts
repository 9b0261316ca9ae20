import { Injectable } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import type { NodeModelState } from '../nodes/models/node.model.js';

/**
 * Node states kept per replica, all models together (a model's entry weighs its number of states): a few whole
 * fleet matrices at today's sizes, bounded whatever the fleet.
 */
export const MAX_CACHED_STATES = 100_000;

/** Which states a list read needs: a registered model as its page's own query read it. */
export interface StatesKey {
  id: string;
  /** When the model was registered (epoch ms): a model registered again is another model. */
  registeredAt: number;
  /** The model's fleet version (sum of its stripes' versions), read in the same statement as the page. */
  version: number;
}

interface Entry {
  registeredAt: number;
  version: number;
  states: readonly NodeModelState[];
}

/**
 * Each registered model's node states as of its fleet version, so a list read takes from Postgres only the models
 * whose states moved. Exact, not "fresh enough": every insert, update and delete of a node × model row bumps its
 * model's version in the same transaction (statement triggers on node_model_states), and a registration or its removal
 * bumps it too; versions only grow. A page reads each model's version in its own query; states read after that
 * version was seen are as new or newer, and an entry is used only while the version a later page reads is still the
 * one it was stored under, i.e. while nothing about the model's states changed since they were read. The states are
 * shared between requests: nothing may change them (resolvers only read their parent).
 */
@Injectable()
export class ModelStatesCache {
  private readonly entries = new LRUCache<string, Entry>({
    maxSize: MAX_CACHED_STATES,
    sizeCalculation: (entry) => Math.max(1, entry.states.length),
  });
  private hitCount = 0;
  private missCount = 0;

  /** Models served from the cache and read from Postgres since this replica started. */
  get stats(): { hits: number; misses: number; models: number } {
    return { hits: this.hitCount, misses: this.missCount, models: this.entries.size };
  }

  /**
   * The states of these models (an entry for each), from the cache where the version still matches, the others read
   * with `load` (one call for all of them; it returns an entry for each id it is given).
   */
  async read(
    keys: readonly StatesKey[],
    load: (ids: readonly string[]) => Promise<Map<string, NodeModelState[]>>,
  ): Promise<Map<string, readonly NodeModelState[]>> {
    const found = new Map<string, readonly NodeModelState[]>();
    const missing: StatesKey[] = [];
    for (const key of keys) {
      const entry = this.entries.get(key.id);
      if (entry !== undefined && entry.version === key.version && entry.registeredAt === key.registeredAt) {
        found.set(key.id, entry.states);
      } else {
        missing.push(key);
      }
    }
    this.hitCount += found.size;
    this.missCount += missing.length;
    if (missing.length === 0) return found;
    const loaded = await load(missing.map((k) => k.id));
    for (const key of missing) {
      const states = loaded.get(key.id) ?? [];
      found.set(key.id, states);
      this.store(key, states);
    }
    return found;
  }

  /** Keeps states read after `key.version` was seen, unless a read that saw a later version of them got here first. */
  private store(key: StatesKey, states: readonly NodeModelState[]): void {
    const current = this.entries.peek(key.id);
    if (current !== undefined && current.registeredAt === key.registeredAt && current.version > key.version) return;
    this.entries.set(key.id, { registeredAt: key.registeredAt, version: key.version, states });
  }
}
