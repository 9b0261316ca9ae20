import { describe, expect, it } from '@jest/globals';
import { LifecycleStatus } from '../../src/nodes/lifecycle-status.js';
import { deriveModelStatus, ModelStatus, type NodeStateFacts } from '../../src/registry/model-status.js';

const node = (
  nodeId: string,
  lifecycleStatus: LifecycleStatus,
  bytesDone = 0,
  bytesTotal = 100,
  errorMessage: string | null = null,
): NodeStateFacts => ({
  nodeId,
  lifecycleStatus,
  bytesDone,
  bytesTotal,
  errorMessage,
});

describe('deriveModelStatus', () => {
  it('is AVAILABLE when not registered, whatever nodes say', () => {
    expect(deriveModelStatus(false, [node('a', LifecycleStatus.READY)]).status).toBe(ModelStatus.AVAILABLE);
  });

  it('is REGISTERED when registered and on no node', () => {
    expect(deriveModelStatus(true, [])).toEqual({
      status: ModelStatus.REGISTERED,
      downloadProgress: null,
      availableNodes: 0,
      errorMessage: null,
    });
  });

  it('is DOWNLOADING with progress as bytes done over bytes total of the nodes in flight', () => {
    const d = deriveModelStatus(true, [
      node('a', LifecycleStatus.DOWNLOADING, 50, 100),
      node('b', LifecycleStatus.PENDING, 0, 300),
      node('c', LifecycleStatus.ERROR, 0, 100, 'disk full'),
    ]);
    expect(d.status).toBe(ModelStatus.DOWNLOADING);
    expect(d.downloadProgress).toBeCloseTo(50 / 400);
  });

  it('is READY with the count of ready nodes as soon as one is ready', () => {
    const d = deriveModelStatus(true, [
      node('a', LifecycleStatus.READY, 100, 100),
      node('b', LifecycleStatus.READY, 100, 100),
      node('c', LifecycleStatus.DOWNLOADING, 10, 100),
    ]);
    expect(d).toMatchObject({ status: ModelStatus.READY, availableNodes: 2 });
    expect(d.downloadProgress).toBeCloseTo(0.1);
  });

  it('is ERROR with every reason when every node attempt failed', () => {
    const d = deriveModelStatus(true, [
      node('a', LifecycleStatus.ERROR, 0, 100, 'sha256 mismatch'),
      node('b', LifecycleStatus.ERROR, 0, 100, 'disk full'),
    ]);
    expect(d).toMatchObject({ status: ModelStatus.ERROR, errorMessage: 'a: sha256 mismatch; b: disk full' });
  });
});
