import { rename, rm } from 'node:fs/promises';
import type { Logger } from 'pino';
import type {
  AgentDownloadFile,
  AgentDownloadRequest,
  AgentLifecycleStatus,
  AgentModelState,
  AgentRepairTag,
  FailureReport,
} from '../shared/agent-protocol.js';
import { ModelLoadError } from '../shared/model-load-error.js';
import { DownloadError } from './download/download.errors.js';
import type { SourceProvider } from './download/download.types.js';
import { FileDownloader } from './download/file-downloader.js';
import { removePartial, removePartialState } from './download/partial-state.js';
import { checkGgufFile, verifyGgufOrThrow } from './gguf/gguf-check.js';
import { probeModelLoad } from './model-probe/model-probe.js';
import type { ModelStore } from './model-store.js';

export interface ModelManagerOptions {
  hfToken?: string;
  gpu: 'auto' | false;
  verifyLoad: boolean;
  stallTimeoutMs: number;
  /** Peer copy: where each file's bytes may come from (the Hub alone when left out). */
  sources?: (modelId: string, file: AgentDownloadFile) => SourceProvider;
  /** A peer slower than this over 10 s is left for another source (0: never). */
  minPeerBytesPerSecond?: number;
}

export type StateListener = (state: AgentModelState, terminal: { retryable: boolean } | null) => void;

/** Hears every state change of every model (the agent pushes them to the control plane). */
export type ChangeListener = (state: AgentModelState) => void;

interface InFlight {
  promise: Promise<void>;
  listeners: Set<StateListener>;
  abort: AbortController;
}

/**
 * What this node holds: every model's state, one fetch per model however often it is asked for (callers attach to
 * the one in flight), downloads that outlive the connection that asked, and a rescan of MODELS_DIR on start.
 */
export class ModelManager {
  private readonly states = new Map<string, AgentModelState>();
  private readonly inFlight = new Map<string, InFlight>();
  private readonly retryable = new Map<string, boolean>();
  /** The manifest each model was fetched from (what its files must be). */
  private readonly manifests = new Map<string, AgentDownloadRequest>();
  /** Models whose fetch in flight is being cancelled (cancelDownload), as opposed to removed or failed. */
  private readonly cancelling = new Set<string>();
  /** The repair each model's states belong to (set by the repair coordinator, cleared by a download or a new verdict). */
  private readonly repairTags = new Map<string, AgentRepairTag>();
  private lastVersion = 0;
  private changeListener: ChangeListener | null = null;

  constructor(
    private readonly store: ModelStore,
    private readonly downloader: FileDownloader,
    private readonly options: ModelManagerOptions,
    private readonly log: Logger,
  ) {}

  onChange(listener: ChangeListener): void {
    this.changeListener = listener;
  }

  snapshot(): AgentModelState[] {
    return [...this.states.values()];
  }

  get(modelId: string): AgentModelState | undefined {
    return this.states.get(modelId);
  }

  /** Whether the last failure of this model may succeed on a retry (network, stall) or not (bad bytes, no disk). */
  isRetryable(modelId: string): boolean {
    return this.retryable.get(modelId) ?? true;
  }

  /**
   * Makes sure the model is here and loadable; `listener` hears every state change and the end. Resolves when done
   * (READY or ERROR); a second call while one runs attaches to it.
   */
  ensure(request: AgentDownloadRequest, listener?: StateListener): { done: Promise<void>; detach: () => void } {
    const current = this.states.get(request.modelId);
    if (!this.inFlight.has(request.modelId) && current?.lifecycleStatus === 'READY' && sameFiles(current, request)) {
      listener?.(current, { retryable: false });
      return { done: Promise.resolve(), detach: () => undefined };
    }
    return this.fetch(
      request,
      // A new request undoes an earlier cancel; the partial file is resumed. Its states are a download's, not a repair's.
      () => {
        this.repairTags.delete(request.modelId);
        return this.store.markCancelled(request.modelId, false);
      },
      listener,
    );
  }

  /**
   * Stops the model's download, keeping its partial files for a later resume; the state becomes CANCELLED (and stays
   * so across agent restarts). Returns the state, or null when this node has nothing of the model.
   */
  async cancel(modelId: string): Promise<AgentModelState | null> {
    const flight = this.inFlight.get(modelId);
    if (flight) {
      this.cancelling.add(modelId);
      await this.store.markCancelled(modelId, true);
      flight.abort.abort();
      await flight.promise.catch(() => undefined);
      this.cancelling.delete(modelId);
    }
    const current = this.states.get(modelId);
    if (!current) return null;
    if (current.lifecycleStatus === 'PENDING' || current.lifecycleStatus === 'DOWNLOADING') {
      await this.store.markCancelled(modelId, true);
      this.set(modelId, 'CANCELLED', current.bytesDone, current.bytesTotal, null, null, null);
    }
    return this.states.get(modelId) ?? null;
  }

  /**
   * Fetches the model again (a repair): from zero when its bytes are bad, otherwise resuming a truncated file (moved
   * back to `.partial`, so the download continues with Range and the checksum still proves the whole).
   */
  refetch(
    request: AgentDownloadRequest,
    fromZero: boolean,
    listener?: StateListener,
  ): { done: Promise<void>; detach: () => void } {
    return this.fetch(request, () => this.prepareRefetch(request, fromZero), listener);
  }

  /** Tags the model's states from now on as this repair's (see AgentModelState.repair). */
  tagRepair(modelId: string, tag: AgentRepairTag): void {
    this.repairTags.set(modelId, tag);
  }

  /**
   * Records that a model here failed a check (its files stay for the repair to judge); `repair` when that verdict is a
   * repair's end, otherwise the state no longer belongs to any repair.
   */
  markBroken(modelId: string, code: string, message: string, repair?: AgentRepairTag): void {
    const current = this.states.get(modelId);
    if (!current) return;
    if (repair) this.repairTags.set(modelId, repair);
    else this.repairTags.delete(modelId);
    this.set(modelId, 'ERROR', current.bytesDone, current.bytesTotal, current.filePath, code, message);
  }

  /** Aborts the model's fetch in flight, if any (its partial files stay). */
  abort(modelId: string): void {
    this.inFlight.get(modelId)?.abort.abort();
  }

  /** The manifest the model was fetched from, and its files' local paths. */
  filesOf(modelId: string): { request: AgentDownloadRequest; paths: string[] } | null {
    const request = this.manifests.get(modelId);
    return request ? { request, paths: request.files.map((f) => this.store.pathFor(modelId, f.path)) } : null;
  }

  private fetch(
    request: AgentDownloadRequest,
    prepare: (() => Promise<void>) | null,
    listener?: StateListener,
  ): { done: Promise<void>; detach: () => void } {
    let flight = this.inFlight.get(request.modelId);
    if (!flight) {
      this.manifests.set(request.modelId, request);
      const abort = new AbortController();
      const started: InFlight = { listeners: new Set<StateListener>(), abort, promise: Promise.resolve() };
      this.inFlight.set(request.modelId, started);
      started.promise = (async () => {
        if (prepare) await prepare();
        await this.fetchAndVerify(request, abort.signal);
      })().finally(() => {
        this.inFlight.delete(request.modelId);
      });
      flight = started;
    }
    const active = flight;
    if (listener) {
      active.listeners.add(listener);
      const current = this.states.get(request.modelId);
      if (current) listener(current, null);
    }
    return { done: active.promise, detach: () => listener && active.listeners.delete(listener) };
  }

  private async prepareRefetch(request: AgentDownloadRequest, fromZero: boolean): Promise<void> {
    for (const file of request.files) {
      const path = await this.store.writablePathFor(request.modelId, file.path);
      if (fromZero) {
        await rm(path, { force: true });
        await removePartial(path);
      } else if (((await this.store.sizeOf(path)) ?? file.size) < file.size) {
        // A truncated file is a prefix: resumed by one stream's rules, never by a stale ranges file.
        await removePartialState(path);
        await rename(path, `${path}.partial`);
      }
    }
  }

  /** Stops any download of the model and removes its files. */
  async remove(modelId: string): Promise<boolean> {
    const flight = this.inFlight.get(modelId);
    if (flight) {
      flight.abort.abort();
      await flight.promise.catch(() => undefined);
    }
    const existed = this.states.delete(modelId);
    this.manifests.delete(modelId);
    this.repairTags.delete(modelId);
    await this.store.remove(modelId);
    return existed;
  }

  /**
   * On start: what MODELS_DIR holds, with quick checks (size, header, truncation; no full hash). A download that never
   * finished (a `.partial` and no final file) is resumed; a finished file that is missing or broken is returned as a
   * failure for the control plane's repair policy.
   */
  async rescan(): Promise<FailureReport[]> {
    const failures: FailureReport[] = [];
    for (const request of await this.store.manifests()) {
      this.manifests.set(request.modelId, request);
      const paths = request.files.map((f) => this.store.pathFor(request.modelId, f.path));
      const finals = await Promise.all(paths.map((p) => this.store.sizeOf(p)));
      const partials = await Promise.all(paths.map((p) => this.store.sizeOf(`${p}.partial`)));
      if (finals.some((size, i) => size === null && partials[i] !== null)) {
        if (await this.store.isCancelled(request.modelId)) {
          const kept = partials.reduce<number>((sum, size, i) => sum + (size ?? finals[i] ?? 0), 0);
          this.set(request.modelId, 'CANCELLED', kept, totalBytes(request), null, null, null);
          continue;
        }
        this.log.info({ modelId: request.modelId }, 'resuming unfinished download');
        this.ensure(request).done.catch(() => undefined);
        continue;
      }
      const bytesTotal = totalBytes(request);
      let failure: FailureReport | null = null;
      for (const [i, file] of request.files.entries()) {
        const check = await checkGgufFile(paths[i]!, file.size);
        if (!check.ok) {
          const resumable = check.code === ModelLoadError.CORRUPTED && check.reason.startsWith('truncated');
          failure = {
            modelId: request.modelId,
            code: check.code,
            message: `${file.path}: ${check.reason}`,
            trigger: 'STARTUP',
            resumable,
          };
          break;
        }
      }
      if (failure) {
        this.set(request.modelId, 'ERROR', 0, bytesTotal, null, failure.code, failure.message);
        failures.push(failure);
      } else {
        this.set(
          request.modelId,
          'READY',
          bytesTotal,
          bytesTotal,
          paths[request.files.findIndex((f) => f.role === 'MODEL')]!,
          null,
          null,
        );
      }
    }
    return failures;
  }

  private async fetchAndVerify(request: AgentDownloadRequest, signal: AbortSignal): Promise<void> {
    const { modelId } = request;
    const bytesTotal = totalBytes(request);
    let done = 0;
    try {
      await this.store.saveManifest(request);
      this.set(modelId, 'DOWNLOADING', 0, bytesTotal, null, null, null);
      for (const file of request.files) {
        const before = done;
        await this.downloader.download(
          {
            url: file.url,
            destPath: await this.store.writablePathFor(modelId, file.path),
            size: file.size,
            sha256: file.sha256,
          },
          {
            token: this.options.hfToken,
            signal,
            stallTimeoutMs: this.options.stallTimeoutMs,
            verify: verifyGgufOrThrow,
            ...(this.options.sources ? { sources: this.options.sources(modelId, file) } : {}),
            minPeerBytesPerSecond: this.options.minPeerBytesPerSecond ?? 0,
            onProgress: (p) => this.set(modelId, 'DOWNLOADING', before + p.bytesDone, bytesTotal, null, null, null),
          },
        );
        done = before + file.size;
      }
      const modelPath = this.store.pathFor(modelId, request.files.find((f) => f.role === 'MODEL')!.path);
      const projector = request.files.find((f) => f.role === 'PROJECTOR');
      this.set(modelId, 'LOADING', bytesTotal, bytesTotal, modelPath, null, null);
      if (this.options.verifyLoad) {
        const probe = await probeModelLoad({
          modelPath,
          projectorPath: projector ? this.store.pathFor(modelId, projector.path) : null,
          gpu: this.options.gpu,
        });
        if (!probe.ok) {
          this.fail(modelId, bytesTotal, bytesTotal, probe.code, `The model does not load: ${probe.message}`, false);
          return;
        }
      }
      this.set(modelId, 'READY', bytesTotal, bytesTotal, modelPath, null, null);
      this.finish(modelId, null);
    } catch (err) {
      const current = this.states.get(modelId);
      const bytesDone = current?.bytesDone ?? done;
      if (this.cancelling.has(modelId)) {
        this.set(modelId, 'CANCELLED', bytesDone, bytesTotal, null, null, null);
        this.finish(modelId, { retryable: false });
      } else if (err instanceof DownloadError) {
        this.fail(modelId, bytesDone, bytesTotal, err.code, err.message, err.retryable);
      } else {
        this.log.error({ err, modelId }, 'unexpected failure while fetching a model');
        this.fail(modelId, bytesDone, bytesTotal, ModelLoadError.UNKNOWN, (err as Error).message, true);
      }
    }
  }

  private fail(
    modelId: string,
    bytesDone: number,
    bytesTotal: number,
    code: string,
    message: string,
    retryable: boolean,
  ): void {
    this.retryable.set(modelId, retryable);
    this.set(modelId, 'ERROR', bytesDone, bytesTotal, null, code, message);
    this.finish(modelId, { retryable });
  }

  private finish(modelId: string, failure: { retryable: boolean } | null): void {
    const state = this.states.get(modelId);
    const flight = this.inFlight.get(modelId);
    if (!state || !flight) return;
    for (const listener of flight.listeners) listener(state, failure ?? { retryable: false });
  }

  private set(
    modelId: string,
    lifecycleStatus: AgentLifecycleStatus,
    bytesDone: number,
    bytesTotal: number,
    filePath: string | null,
    errorCode: string | null,
    errorMessage: string | null,
  ): void {
    const state: AgentModelState = {
      modelId,
      lifecycleStatus,
      bytesDone,
      bytesTotal,
      filePath,
      errorCode,
      errorMessage,
      version: this.nextVersion(),
      ...(lifecycleStatus === 'ERROR' ? { retryable: this.retryable.get(modelId) ?? true } : {}),
    };
    const repair = this.repairTags.get(modelId);
    if (repair) state.repair = repair;
    this.states.set(modelId, state);
    this.changeListener?.(state);
    if (lifecycleStatus !== 'ERROR') this.retryable.delete(modelId);
    const flight = this.inFlight.get(modelId);
    if (flight && lifecycleStatus !== 'READY' && lifecycleStatus !== 'ERROR' && lifecycleStatus !== 'CANCELLED') {
      for (const listener of flight.listeners) listener(state, null);
    }
  }

  /** Wall-clock microseconds, strictly increasing: survives restarts, unlike a counter. */
  private nextVersion(): number {
    this.lastVersion = Math.max(this.lastVersion + 1, Date.now() * 1000);
    return this.lastVersion;
  }
}

function totalBytes(request: AgentDownloadRequest): number {
  return request.files.reduce((sum, f) => sum + f.size, 0);
}

function sameFiles(state: AgentModelState, request: AgentDownloadRequest): boolean {
  return state.bytesTotal === totalBytes(request);
}
