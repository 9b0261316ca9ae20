import { describe, expect, it } from '@jest/globals';
import { peerGrantKey, signPeerGrant, verifyPeerGrant, type PeerGrant } from '../../src/shared/peer-grant.js';

const grant: PeerGrant = {
  transferId: 't-1',
  sourceNodeId: 'node-a',
  receiverNodeId: 'node-b',
  modelId: 'hf/org/repo',
  path: 'dir/model-Q4_K_M.gguf',
  sha256: 'a'.repeat(64),
  expiresAt: 2_000_000,
};
const key = peerGrantKey('control-token-of-a');

describe('peer-copy grants', () => {
  it('verify with the key they were signed with, before they expire', () => {
    expect(verifyPeerGrant(key, signPeerGrant(key, grant), 1_000_000)).toEqual({ ok: true, grant });
  });

  it('are refused once expired, with the time they expired', () => {
    expect(verifyPeerGrant(key, signPeerGrant(key, grant), 2_000_000)).toEqual({
      ok: false,
      reason: `the grant expired at ${new Date(2_000_000).toISOString()}`,
    });
  });

  it('are refused when signed for another node, or altered', () => {
    const other = signPeerGrant(peerGrantKey('control-token-of-c'), grant);
    expect(verifyPeerGrant(key, other, 0)).toEqual({ ok: false, reason: 'the grant was not signed for this node' });
    const [, mac] = signPeerGrant(key, grant).split('.');
    const forged = `${Buffer.from(JSON.stringify(['t-1', 'node-a', 'node-b', 'hf/org/repo', 'other.gguf', 'a'.repeat(64), 2_000_000])).toString('base64url')}.${mac}`;
    expect(verifyPeerGrant(key, forged, 0)).toEqual({ ok: false, reason: 'the grant was not signed for this node' });
    expect(verifyPeerGrant(key, 'not-a-grant', 0)).toEqual({ ok: false, reason: 'the grant is malformed' });
  });

  it('derive a signing key that is not the control token itself', () => {
    expect(key.toString('utf8')).not.toContain('control-token-of-a');
    expect(key).toHaveLength(32);
  });
});
