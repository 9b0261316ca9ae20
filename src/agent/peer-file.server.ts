import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { sep } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import { peerGrantKey, verifyPeerGrant } from '../shared/peer-grant.js';
import { sendJson } from './inference/openai-response.js';
import type { ModelManager } from './model-manager.js';
import type { ModelStore } from './model-store.js';

export const PEER_FILES_PREFIX = '/v1/agent/peer/files/';

export interface PeerUploadStats {
  /** Uploads being served now. */
  active: number;
  /** Uploads answered with bytes since the agent started. */
  served: number;
  bytesSent: number;
  /** Requests refused (no grant, a bad or expired one, a file this node does not hold verified). */
  refused: number;
}

/**
 * Serves this node's verified model files to peers (peer copy): `GET /v1/agent/peer/files/{modelId}/{path}?grant=…`.
 * Only with a grant the control plane signed for this node, this file and this sha256, before it expires; only a file
 * of a model this node holds READY (sha256-checked when it was fetched) and is not repairing; only inside MODELS_DIR.
 * `Range` is honoured, so a receiver resumes across sources.
 */
export class PeerFileServer {
  readonly stats: PeerUploadStats = { active: 0, served: 0, bytesSent: 0, refused: 0 };

  constructor(
    private readonly models: ModelManager,
    private readonly store: ModelStore,
    private readonly identity: () => { nodeId: string; controlTokenHash: string } | null,
    private readonly repairing: (modelId: string) => boolean,
    private readonly bytesPerSecond: number,
    private readonly log: Logger,
  ) {}

  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const file = this.authorize(url);
    if (!file.ok) return this.refuse(res, file.status, file.reason);
    // A symbolic link planted in MODELS_DIR is never followed out of it.
    const [root, real] = await Promise.all([
      realpath(this.store.root).catch(() => null),
      realpath(file.localPath).catch(() => null),
    ]);
    if (!root || !real || !real.startsWith(root + sep)) {
      return this.refuse(res, 404, `${file.path} of ${file.modelId} is not on this node`);
    }
    const size = (await stat(real).catch(() => null))?.size ?? null;
    if (size !== file.size) return this.refuse(res, 404, `${file.path} of ${file.modelId} is not on this node`);

    let start = 0;
    let end = size - 1;
    let status = 200;
    const range = req.headers.range;
    if (range !== undefined) {
      const m = /^bytes=(\d+)-(\d*)$/.exec(range.trim());
      if (!m || Number(m[1]) >= size) {
        res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
        return;
      }
      start = Number(m[1]);
      end = m[2] ? Math.min(size - 1, Number(m[2])) : size - 1;
      if (end < start) {
        res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
        return;
      }
      status = 206;
    }
    const headers: Record<string, string | number> = {
      'content-type': 'application/octet-stream',
      'content-length': end - start + 1,
      'accept-ranges': 'bytes',
      'cache-control': 'no-store',
    };
    if (status === 206) headers['content-range'] = `bytes ${start}-${end}/${size}`;
    res.writeHead(status, headers);
    if (req.method === 'HEAD' || size === 0) {
      res.end();
      return;
    }
    this.stats.active += 1;
    this.stats.served += 1;
    const counter = new Transform({
      transform: (chunk: Buffer, _enc, done: TransformCallback) => {
        this.stats.bytesSent += chunk.length;
        done(null, chunk);
      },
    });
    const stages = [createReadStream(real, { start, end, highWaterMark: 1024 * 1024 }), counter];
    if (this.bytesPerSecond > 0) stages.push(throttle(this.bytesPerSecond));
    try {
      await pipeline([...stages, res]);
    } catch (err) {
      // The receiver went away (or switched source): nothing to answer; its next request resumes by Range.
      this.log.debug({ err, modelId: file.modelId, path: file.path }, 'peer upload ended early');
    } finally {
      this.stats.active -= 1;
    }
  }

  private authorize(
    url: URL,
  ):
    | { ok: true; modelId: string; path: string; localPath: string; size: number }
    | { ok: false; status: 403 | 404; reason: string } {
    const me = this.identity();
    const token = url.searchParams.get('grant');
    if (!me) return { ok: false, status: 403, reason: 'this node has not joined the fleet yet' };
    if (!token) return { ok: false, status: 403, reason: 'a peer-copy grant (?grant=) is required' };
    const checked = verifyPeerGrant(peerGrantKey(me.controlTokenHash), token);
    if (!checked.ok) return { ok: false, status: 403, reason: checked.reason };
    const { grant } = checked;
    let modelId: string;
    let path: string;
    try {
      const rest = url.pathname.slice(PEER_FILES_PREFIX.length);
      const slash = rest.indexOf('/');
      modelId = decodeURIComponent(rest.slice(0, slash));
      path = rest
        .slice(slash + 1)
        .split('/')
        .map(decodeURIComponent)
        .join('/');
      if (slash <= 0) throw new Error('no path');
    } catch {
      return { ok: false, status: 404, reason: 'the URL names no model file' };
    }
    if (grant.sourceNodeId !== me.nodeId || grant.modelId !== modelId || grant.path !== path) {
      return { ok: false, status: 403, reason: `the grant is for another file or node, not ${modelId}/${path}` };
    }
    const state = this.models.get(modelId);
    const manifest = this.models.filesOf(modelId);
    const entry = manifest?.request.files.find((f) => f.path === path);
    if (state?.lifecycleStatus !== 'READY' || !entry || this.repairing(modelId)) {
      return { ok: false, status: 404, reason: `this node does not hold ${modelId}/${path} verified` };
    }
    if (entry.sha256 !== grant.sha256) {
      return {
        ok: false,
        status: 403,
        reason: `the grant is for sha256 ${grant.sha256}, this node holds ${entry.sha256}`,
      };
    }
    let localPath: string;
    try {
      localPath = this.store.pathFor(modelId, path);
    } catch {
      return { ok: false, status: 404, reason: 'the file path leaves the model directory' };
    }
    return { ok: true, modelId, path, localPath, size: entry.size };
  }

  private refuse(res: ServerResponse, status: 403 | 404, reason: string): void {
    this.stats.refused += 1;
    sendJson(res, status, {
      error: {
        message: `Peer copy refused: ${reason}.`,
        type: status === 403 ? 'permission_error' : 'not_found',
        code: null,
      },
    });
  }
}

/** At most `bytesPerSecond` through, in slices of a twentieth of a second. */
function throttle(bytesPerSecond: number): Transform {
  const slice = Math.max(1, Math.floor(bytesPerSecond / 20));
  return new Transform({
    highWaterMark: slice,
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      void (async () => {
        for (let at = 0; at < chunk.length; at += slice) {
          this.push(chunk.subarray(at, at + slice));
          await new Promise((r) => setTimeout(r, (Math.min(slice, chunk.length - at) / bytesPerSecond) * 1000));
        }
        done();
      })();
    },
  });
}
