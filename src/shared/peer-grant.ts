import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * A peer-copy grant: the control plane's permission for one node to read one file from another, for a short while.
 * Signed with a key derived from the source node's control token (HMAC of its sha256, which the agent keeps and the
 * control plane computes from the sealed token): only that node and the control plane can derive it, so the source
 * checks a grant alone, with no call back, and no node can mint a grant that another node would accept.
 */
export interface PeerGrant {
  /** The transfer it was issued for (the receiver reports its outcome under this id). */
  transferId: string;
  sourceNodeId: string;
  receiverNodeId: string;
  modelId: string;
  /** The file's path in the model's repository. */
  path: string;
  sha256: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

const KEY_LABEL = 'llmfleet peer-copy grant v1';

/** The signing key of grants served by the node whose control token has this sha256 (hex). */
export function peerGrantKey(controlTokenHash: string): Buffer {
  return createHmac('sha256', controlTokenHash).update(KEY_LABEL).digest();
}

/** sha256 (hex) of a control token: what the agent keeps of it, and what grant keys derive from. */
export function controlTokenHashOf(controlToken: string): string {
  return createHash('sha256').update(controlToken).digest('hex');
}

export function signPeerGrant(key: Buffer, grant: PeerGrant): string {
  const body = Buffer.from(
    JSON.stringify([
      grant.transferId,
      grant.sourceNodeId,
      grant.receiverNodeId,
      grant.modelId,
      grant.path,
      grant.sha256,
      grant.expiresAt,
    ]),
  ).toString('base64url');
  return `${body}.${createHmac('sha256', key).update(body).digest('base64url')}`;
}

/** The grant, or why it is refused (a sentence fit for a 403's message). */
export function verifyPeerGrant(
  key: Buffer,
  token: string,
  now = Date.now(),
): { ok: true; grant: PeerGrant } | { ok: false; reason: string } {
  const [body, mac, extra] = token.split('.');
  if (!body || !mac || extra !== undefined) return { ok: false, reason: 'the grant is malformed' };
  const expected = createHmac('sha256', key).update(body).digest();
  const given = Buffer.from(mac, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, reason: 'the grant was not signed for this node' };
  }
  let fields: unknown;
  try {
    fields = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    return { ok: false, reason: 'the grant is malformed' };
  }
  if (!Array.isArray(fields) || fields.length !== 7) return { ok: false, reason: 'the grant is malformed' };
  const [transferId, sourceNodeId, receiverNodeId, modelId, path, sha256, expiresAt] = fields as unknown[];
  if (
    typeof transferId !== 'string' ||
    typeof sourceNodeId !== 'string' ||
    typeof receiverNodeId !== 'string' ||
    typeof modelId !== 'string' ||
    typeof path !== 'string' ||
    typeof sha256 !== 'string' ||
    typeof expiresAt !== 'number'
  ) {
    return { ok: false, reason: 'the grant is malformed' };
  }
  if (expiresAt <= now) return { ok: false, reason: `the grant expired at ${new Date(expiresAt).toISOString()}` };
  return { ok: true, grant: { transferId, sourceNodeId, receiverNodeId, modelId, path, sha256, expiresAt } };
}
