import { Inject, Injectable, Logger } from '@nestjs/common';
import { z } from 'zod';
import type { AppConfig } from '../../config/app-config.js';
import { APP_CONFIG } from '../../config/config.tokens.js';
import type { NodeEntity } from '../../nodes/entities/node.entity.js';
import { NodesService } from '../../nodes/nodes.service.js';
import { RegistryService } from '../../registry/registry.service.js';
import type { PeerSourceAnswer, PeerSourceRequest, PeerTransferReport } from '../../shared/agent-protocol.js';
import { controlTokenHashOf, peerGrantKey, signPeerGrant } from '../../shared/peer-grant.js';
import { DownloadsError, DownloadsErrorReason } from '../downloads.errors.js';
import { PeerTransferStore, type PeerCopyTotals } from './peer-transfer.store.js';

/** How soon a waiting receiver asks again. */
export const PEER_WAIT_MS = 1000;

const sourceRequestSchema = z.object({
  modelId: z.string().min(1).max(512),
  path: z.string().min(1).max(1024),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  exclude: z.array(z.string().uuid()).max(1000).optional(),
});

const transferReportSchema = z.object({
  outcome: z.enum(['DONE', 'FAILED', 'BAD_BYTES']),
  bytes: z.number().int().min(0),
  message: z.string().max(2000).optional(),
});

/**
 * Chooses where each node fetches each file from (peer copy): a peer that holds the model verified and has an upload
 * slot free; otherwise, while another node is still fetching the file (and so will serve it soon), wait; otherwise the
 * Hub. So a rollout takes one copy from the Hub and fans out like a tree: every node that finishes serves the next.
 */
@Injectable()
export class PeerCopyService {
  private readonly logger = new Logger(PeerCopyService.name);

  constructor(
    private readonly store: PeerTransferStore,
    private readonly registry: RegistryService,
    private readonly nodes: NodesService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async chooseSource(receiver: NodeEntity, body: unknown): Promise<PeerSourceAnswer> {
    const parsed = sourceRequestSchema.safeParse(body);
    if (!parsed.success) throw invalid(parsed.error);
    const request: PeerSourceRequest = parsed.data;
    const registration = await this.registry.getRegistered(request.modelId);
    const file = registration.files.find((f) => f.path === request.path);
    if (!file || file.sha256 !== request.sha256) {
      throw new DownloadsError(
        DownloadsErrorReason.INVALID_PEER_REQUEST,
        file
          ? `${request.path} of ${request.modelId} has sha256 ${file.sha256}, not ${request.sha256}: fetch the registered manifest again`
          : `${request.modelId} has no file ${request.path}`,
        { field: file ? 'sha256' : 'path' },
      );
    }
    const ref = { modelId: request.modelId, path: request.path, sha256: request.sha256 };
    const freshMs = this.config.DOWNLOAD_STALL_MS;
    const ttlMs = this.config.PEER_COPY_GRANT_TTL_MS;
    return this.store.lockedFor(ref, async (m) => {
      await this.store.supersede(m, receiver.id, ref);
      await this.store.touchState(m, receiver.id, ref.modelId);
      if (this.config.PEER_COPY) {
        const candidates = await this.store.candidates(m, receiver.id, ref.modelId, request.exclude ?? [], freshMs);
        const peer = candidates.find((c) => c.uploads < this.config.PEER_COPY_MAX_UPLOADS);
        const peerNode = peer ? await this.nodes.find(peer.id) : null;
        if (peer && peerNode) {
          const key = peerGrantKey(controlTokenHashOf(await this.nodes.controlTokenOf(peerNode)));
          const transfer = await this.store.open(m, receiver.id, ref, 'PEER', peer.id, ttlMs);
          const grant = signPeerGrant(key, {
            transferId: transfer.id,
            sourceNodeId: peer.id,
            receiverNodeId: receiver.id,
            modelId: ref.modelId,
            path: ref.path,
            sha256: ref.sha256,
            expiresAt: transfer.expiresAt.getTime(),
          });
          const path = ref.path.split('/').map(encodeURIComponent).join('/');
          return {
            source: 'PEER',
            transferId: transfer.id,
            url: `${peer.url}/v1/agent/peer/files/${encodeURIComponent(ref.modelId)}/${path}?grant=${grant}`,
            nodeId: peer.id,
            nodeName: peer.name,
            expiresAt: transfer.expiresAt.toISOString(),
          };
        }
        if (candidates.length > 0 || (await this.store.fetchedElsewhere(m, receiver.id, ref, freshMs))) {
          return { source: 'WAIT', retryAfterMs: PEER_WAIT_MS };
        }
      }
      // The Hub too is a recorded source: it is what the fleet's bytes from the Hub are counted from.
      const transfer = await this.store.open(m, receiver.id, ref, 'HUB', null, ttlMs);
      return { source: 'HUB', transferId: transfer.id };
    });
  }

  async report(receiver: NodeEntity, transferId: string, body: unknown): Promise<void> {
    const parsed = transferReportSchema.safeParse(body);
    if (!parsed.success) throw invalid(parsed.error);
    const report: PeerTransferReport = parsed.data;
    const ended = z.string().uuid().safeParse(transferId).success
      ? await this.store.finish(receiver.id, transferId, report.outcome, report.bytes, report.message ?? null)
      : null;
    if (!ended) {
      throw new DownloadsError(
        DownloadsErrorReason.TRANSFER_NOT_FOUND,
        `Node ${receiver.name} has no transfer ${transferId}`,
        { field: 'transferId', value: transferId },
      );
    }
    if (report.outcome === 'BAD_BYTES') {
      this.logger.warn(
        `Node ${ended.sourceNodeId ?? '(removed)'} served bytes of ${ended.modelId}/${ended.path} to ${receiver.name} that failed the sha256 check: it is no longer a source for this model`,
      );
    }
  }

  totals(): Promise<PeerCopyTotals> {
    return this.store.totals();
  }
}

function invalid(error: z.ZodError): DownloadsError {
  return new DownloadsError(
    DownloadsErrorReason.INVALID_PEER_REQUEST,
    error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '),
  );
}
