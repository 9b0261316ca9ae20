import type { Logger } from 'pino';
import type { AgentDownloadFile } from '../shared/agent-protocol.js';
import type { ControlPlaneClient } from './control-plane.client.js';
import type { FileSource, SourceProvider } from './download/download.types.js';
import { sleep } from './download/retry-backoff.js';

type Outcome = 'DONE' | 'FAILED' | 'BAD_BYTES';

/**
 * The agent's side of peer copy for one file: asks the control plane where to fetch from (a peer, the Hub, or wait for
 * a peer that is about to have it), and reports how each source went. A control plane that cannot answer means the Hub.
 */
export class ControlPlanePeerSources implements SourceProvider {
  private readonly transfers = new WeakMap<FileSource, string>();

  constructor(
    private readonly controlPlane: ControlPlaneClient,
    private readonly modelId: string,
    private readonly file: AgentDownloadFile,
    private readonly log: Logger,
  ) {}

  async next(excluded: ReadonlySet<string>, signal: AbortSignal): Promise<FileSource> {
    for (;;) {
      let answer;
      try {
        answer = await this.controlPlane.peerSource({
          modelId: this.modelId,
          path: this.file.path,
          sha256: this.file.sha256,
          exclude: [...excluded],
        });
      } catch (err) {
        this.log.warn(
          { err, modelId: this.modelId, path: this.file.path },
          'no peer source from the control plane; using the Hub',
        );
        return this.hub(null);
      }
      switch (answer.source) {
        case 'WAIT':
          await sleep(answer.retryAfterMs, signal);
          continue;
        case 'HUB':
          return this.hub(answer.transferId);
        case 'PEER': {
          const source: FileSource = {
            kind: 'PEER',
            url: answer.url,
            peerId: answer.nodeId,
            label: `peer ${answer.nodeName}`,
          };
          this.transfers.set(source, answer.transferId);
          this.log.info({ modelId: this.modelId, path: this.file.path, peer: answer.nodeName }, 'copying from a peer');
          return source;
        }
      }
    }
  }

  report(source: FileSource, outcome: Outcome, bytes: number, message?: string): void {
    const transferId = this.transfers.get(source);
    if (outcome !== 'DONE') {
      this.log.warn(
        { modelId: this.modelId, path: this.file.path, source: source.label, outcome, message },
        'source failed',
      );
    }
    if (!transferId) return;
    this.controlPlane
      .reportTransfer(transferId, { outcome, bytes, ...(message ? { message: message.slice(0, 2000) } : {}) })
      .catch((err: unknown) => this.log.warn({ err, transferId }, 'could not report a transfer'));
  }

  private hub(transferId: string | null): FileSource {
    const source: FileSource = { kind: 'HUB', url: this.file.url, peerId: null, label: 'the Hub' };
    if (transferId) this.transfers.set(source, transferId);
    return source;
  }
}
