import { stat } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import {
  GgufInsights,
  LlamaChatSession,
  readGgufFileInfo,
  resolveChatWrapper,
  type ChatHistoryItem,
  type ChatWrapper,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaModel,
} from 'node-llama-cpp';
import type { Logger } from 'pino';
import { checkGgufFile } from '../gguf/gguf-check.js';
import { openAiError } from '../../shared/openai/openai-error.js';
import { parseChatRequest, type ChatRequest } from './chat-request.js';
import { fitToContext } from './context-fit.js';
import { ModelLoadFailure } from './model-load-failure.js';
import {
  chatCompletion,
  ChatCompletionStream,
  completionIdentity,
  sendJson,
  usage,
  type FinishReason,
} from './openai-response.js';
import { LlamaRuntime } from './llama-runtime.js';
import { SerialQueue } from './serial-queue.js';

export { ModelLoadFailure } from './model-load-failure.js';

export interface InferenceServiceOptions {
  gpu: 'auto' | false;
  /** Loaded models (file size + context estimate each) are kept within this; idle ones are evicted LRU. */
  memoryBudgetBytes: number;
  /** Per model, capped at the model's training context (default 2048). */
  contextSize?: number;
  maxThreads?: number;
  log: Logger;
}

export interface InferenceModelRef {
  modelId: string;
  modelPath: string;
  /** From the catalog: a file of another size is CORRUPTED without being loaded. */
  expectedSize?: number;
}

interface LoadedModel {
  readonly modelId: string;
  readonly modelPath: string;
  readonly model: LlamaModel;
  readonly context: LlamaContext;
  readonly sequence: LlamaContextSequence;
  readonly chatWrapper: ChatWrapper;
  readonly footprintBytes: number;
  /** One generation at a time: the context has a single sequence. */
  readonly generation: SerialQueue;
  /** Requests holding this entry (from acquire to release); an unload waits for them. */
  users: number;
  drained: (() => void)[];
  lastUsedAt: number;
  unloading: Promise<void> | null;
}

const DEFAULT_CONTEXT_SIZE = 2048;
const HEADER_READ_TIMEOUT_MS = 10_000;

/**
 * The agent's in-process llama.cpp runtime: serves OpenAI chat completions from GGUF models it loads on first use and
 * keeps within a memory budget.
 *
 * - Loads run one at a time (service-wide, so the budget arithmetic holds); concurrent requests for a model share its load.
 * - Every file passes `checkGgufFile` before it is loaded in-process: some broken headers abort the whole process.
 * - Each loaded model has one context sequence and generates for one request at a time; later requests queue (FIFO).
 * - `unload` is graceful: it waits for the generations already running or queued on the model, and requests arriving
 *   meanwhile wait for it and then load the model afresh. `dispose` is not: it aborts every generation.
 */
export class InferenceService {
  /** Chat requests received, valid or not (node metrics). */
  requests = 0;

  private readonly log: Logger;
  private readonly contextSize: number;
  private readonly runtime: LlamaRuntime;
  private readonly loaded = new Map<string, LoadedModel>();
  private readonly loading = new Map<string, Promise<LoadedModel>>();
  private readonly loads = new SerialQueue();
  /** Requests per model id, from validation to the end of the answer; a model with none is idle and may be evicted. */
  private readonly interest = new Map<string, number>();
  private roomWaiters: (() => void)[] = [];
  private readonly inFlight = new Set<AbortController>();
  private disposed = false;

  constructor(private readonly opts: InferenceServiceOptions) {
    this.log = opts.log;
    this.contextSize = opts.contextSize ?? DEFAULT_CONTEXT_SIZE;
    this.runtime = new LlamaRuntime(opts);
  }

  /** Ids of the models in memory, least recently used first. */
  loadedModels(): string[] {
    return [...this.loaded.values()]
      .filter((entry) => !entry.unloading)
      .sort((a, b) => a.lastUsedAt - b.lastUsedAt)
      .map((entry) => entry.modelId);
  }

  /** Estimated bytes held by loaded models (those being unloaded included). */
  get memoryUsedBytes(): number {
    let total = 0;
    for (const entry of this.loaded.values()) total += entry.footprintBytes;
    return total;
  }

  /**
   * Answers one OpenAI chat completion request on `res`. Throws ModelLoadFailure (nothing written) when the model
   * cannot be loaded; any other throw also means nothing was written unless `res.headersSent`.
   */
  async chat(ref: InferenceModelRef, body: unknown, res: ServerResponse): Promise<void> {
    this.requests += 1;
    this.assertUsable();
    const parsed = parseChatRequest(body);
    if (!parsed.ok) return sendJson(res, 400, parsed.error);
    const request = parsed.request;

    const abort = new AbortController();
    let clientGone = false;
    const onClose = (): void => {
      if (res.writableFinished) return;
      clientGone = true;
      abort.abort(new Error('client disconnected'));
    };
    res.once('close', onClose);
    this.inFlight.add(abort);
    this.addInterest(ref.modelId, 1);
    try {
      const entry = await this.acquire(ref);
      try {
        if (abort.signal.aborted) return;
        // Before any 200: a prompt the context cannot hold is the client's to shorten, never ours to cut (OpenAI's 400).
        const fit = fitToContext(request, this.promptTokens(entry, request), entry.context.contextSize);
        if (!fit.ok) return sendJson(res, 400, fit.error);
        const stream = request.stream ? new ChatCompletionStream(res, completionIdentity(ref.modelId)) : null;
        // Headers go out once the model is loaded (a load failure must never follow a 200), before the queue wait.
        stream?.open();
        await entry.generation.run(async () => {
          if (abort.signal.aborted) return;
          entry.lastUsedAt = Date.now();
          await this.generate(entry, ref.modelId, fit.request, fit.promptTokens, res, stream, abort.signal);
          entry.lastUsedAt = Date.now();
        });
        // Aborted by dispose with the client still there: end the stream, or let the caller answer an error.
        if (abort.signal.aborted && stream) res.end();
        else if (abort.signal.aborted && !clientGone) throw toError(abort.signal.reason);
      } finally {
        this.release(entry);
      }
    } finally {
      this.addInterest(ref.modelId, -1);
      this.inFlight.delete(abort);
      res.off('close', onClose);
    }
  }

  /** Frees a model; waits for its running and queued generations first (see the class comment). */
  async unload(modelId: string): Promise<void> {
    await this.loading.get(modelId)?.catch(() => undefined);
    const entry = this.loaded.get(modelId);
    if (entry) await this.unloadEntry(entry, 'unload requested');
  }

  /** Aborts every generation, frees every model and llama.cpp itself; later calls to chat throw. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    for (const controller of this.inFlight) controller.abort(new Error('the inference service is shutting down'));
    this.wakeRoomWaiters();
    await Promise.allSettled([...this.loading.values()]);
    await Promise.allSettled([...this.loaded.values()].map((entry) => this.unloadEntry(entry, 'service disposed')));
    await this.runtime.dispose();
  }

  /** GPU memory as llama.cpp sees it, through this service's Llama (see LlamaRuntime). Null on a CPU-only node. */
  vram(): Promise<{ names: string[]; totalBytes: number; usedBytes: number } | null> {
    return this.runtime.vram();
  }

  private async generate(
    entry: LoadedModel,
    modelId: string,
    request: ChatRequest,
    promptTokens: number,
    res: ServerResponse,
    stream: ChatCompletionStream | null,
    signal: AbortSignal,
  ): Promise<void> {
    const session = new LlamaChatSession({
      contextSequence: entry.sequence,
      chatWrapper: entry.chatWrapper,
      autoDisposeSequence: false,
      // fitToContext leaves room for the whole answer; should the estimate ever fall short, fail rather than drop
      // the start of the conversation (node-llama-cpp's default strategy) without telling anyone.
      contextShift: { strategy: refuseContextShift },
    });
    try {
      session.setChatHistory(request.history);
      let completionTokens = 0;
      const started = performance.now();
      let result: Awaited<ReturnType<LlamaChatSession['promptWithMeta']>>;
      try {
        result = await session.promptWithMeta(request.prompt, {
          maxTokens: request.maxTokens,
          temperature: request.temperature,
          topP: request.topP,
          seed: request.seed,
          customStopTriggers: request.stop.length > 0 ? request.stop : undefined,
          signal,
          stopOnAbortSignal: true,
          onToken: (tokens) => {
            completionTokens += tokens.length;
          },
          onTextChunk: stream ? (text) => stream.content(text) : undefined,
        });
      } catch (err) {
        if (!stream && err instanceof ContextLengthExceeded) return sendJson(res, 400, err.body);
        if (!stream) throw err;
        // The 200 is already out: report in the stream and end it rather than leave the client hanging.
        this.log.error({ err, modelId }, 'generation failed mid-stream');
        stream.fail(`generation failed: ${toError(err).message}`);
        return;
      }
      this.log.debug(
        { modelId, stopReason: result.stopReason, completionTokens, ms: Math.round(performance.now() - started) },
        'generation ended',
      );
      if (signal.aborted) return;
      const finish: FinishReason = result.stopReason === 'maxTokens' ? 'length' : 'stop';
      const used = usage(promptTokens, completionTokens);
      if (stream) stream.finish(finish, request.includeUsage ? used : null);
      else sendJson(res, 200, chatCompletion(completionIdentity(modelId), result.responseText, finish, used));
    } finally {
      session.dispose({ disposeSequence: false });
    }
  }

  /**
   * The prompt as the chat template renders it, tokenized as node-llama-cpp will evaluate it (the sequence may reuse a
   * cached prefix, so it cannot tell).
   */
  private promptTokens(entry: LoadedModel, request: ChatRequest): number {
    const chatHistory: ChatHistoryItem[] = [
      ...request.history,
      { type: 'user', text: request.prompt },
      { type: 'model', response: [] },
    ];
    try {
      const { contextText } = entry.chatWrapper.generateContextState({ chatHistory });
      return contextText.tokenize(entry.model.tokenizer).length;
    } catch {
      return entry.model.tokenize(request.prompt).length;
    }
  }

  /** The loaded model, loading it first if needed; counts the caller as a user until `release`. */
  private async acquire(ref: InferenceModelRef): Promise<LoadedModel> {
    for (;;) {
      this.assertUsable();
      const entry = this.loaded.get(ref.modelId);
      if (entry?.unloading) {
        await entry.unloading;
        continue;
      }
      if (entry && entry.modelPath !== ref.modelPath) {
        await this.unloadEntry(entry, `model file moved to ${ref.modelPath}`);
        continue;
      }
      if (entry) {
        entry.users += 1;
        entry.lastUsedAt = Date.now();
        return entry;
      }
      let loading = this.loading.get(ref.modelId);
      if (!loading) {
        const started = this.loads.run(() => this.load(ref));
        loading = started;
        this.loading.set(ref.modelId, started);
        const forget = (): void => {
          if (this.loading.get(ref.modelId) === started) this.loading.delete(ref.modelId);
        };
        started.then(forget, forget);
      }
      // Every concurrent request for the model waits for this one load and sees its failure.
      await loading;
    }
  }

  private release(entry: LoadedModel): void {
    entry.users -= 1;
    if (entry.users > 0) return;
    const drained = entry.drained;
    entry.drained = [];
    for (const resolve of drained) resolve();
  }

  /** Runs inside `loads`: one load at a time, service-wide. */
  private async load(ref: InferenceModelRef): Promise<LoadedModel> {
    this.assertUsable();
    const present = this.loaded.get(ref.modelId);
    if (present && !present.unloading) return present;

    const check = await checkGgufFile(ref.modelPath, ref.expectedSize);
    if (!check.ok) throw new ModelLoadFailure(ref.modelId, check.code, check.reason);
    const llama = await this.runtime.llama();
    const { footprintBytes, contextSize } = await this.estimate(llama, ref.modelPath);
    await this.makeRoom(ref.modelId, footprintBytes);

    const logMark = this.runtime.logMark();
    const started = performance.now();
    let model: LlamaModel;
    try {
      model = await llama.loadModel({ modelPath: ref.modelPath });
    } catch (err) {
      throw await this.runtime.loadFailure(ref, err, 'load', logMark);
    }
    let context: LlamaContext;
    try {
      context = await model.createContext({ contextSize, sequences: 1 });
    } catch (err) {
      await model.dispose().catch(() => undefined);
      throw await this.runtime.loadFailure(ref, err, 'context', logMark);
    }
    if (this.disposed) {
      await context.dispose();
      await model.dispose();
      this.assertUsable();
    }
    const entry: LoadedModel = {
      modelId: ref.modelId,
      modelPath: ref.modelPath,
      model,
      context,
      sequence: context.getSequence(),
      chatWrapper: resolveChatWrapper(model),
      footprintBytes,
      generation: new SerialQueue(),
      users: 0,
      drained: [],
      lastUsedAt: Date.now(),
      unloading: null,
    };
    this.loaded.set(ref.modelId, entry);
    this.log.info(
      {
        modelId: ref.modelId,
        loadMs: Math.round(performance.now() - started),
        contextSize: context.contextSize,
        footprintBytes,
        chatWrapper: entry.chatWrapper.wrapperName,
      },
      'model loaded for inference',
    );
    return entry;
  }

  /**
   * Evicts idle models, least recently used first, until `bytes` more fit the budget; while every loaded model is busy
   * it waits for one to go idle. A model that alone exceeds the budget is still loaded when nothing else is in memory:
   * refusing it would make it unservable on this node, and the operator sized the budget, not the catalog.
   */
  private async makeRoom(forModelId: string, bytes: number): Promise<void> {
    for (;;) {
      this.assertUsable();
      const used = this.memoryUsedBytes;
      if (used + bytes <= this.opts.memoryBudgetBytes) return;
      if (this.loaded.size === 0) {
        this.log.warn(
          { modelId: forModelId, footprintBytes: bytes, memoryBudgetBytes: this.opts.memoryBudgetBytes },
          'model alone exceeds the memory budget; loading it since nothing else is loaded',
        );
        return;
      }
      const victim = [...this.loaded.values()]
        .filter((entry) => !entry.unloading && (this.interest.get(entry.modelId) ?? 0) === 0)
        .sort((a, b) => a.lastUsedAt - b.lastUsedAt)[0];
      if (victim) {
        await this.unloadEntry(victim, `evicted for ${forModelId}`);
        continue;
      }
      await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
    }
  }

  private unloadEntry(entry: LoadedModel, reason: string): Promise<void> {
    entry.unloading ??= (async () => {
      if (entry.users > 0) await new Promise<void>((resolve) => entry.drained.push(resolve));
      try {
        await entry.context.dispose();
        await entry.model.dispose();
      } catch (err) {
        this.log.warn({ err, modelId: entry.modelId }, 'disposing a model failed');
      } finally {
        if (this.loaded.get(entry.modelId) === entry) this.loaded.delete(entry.modelId);
        this.log.info({ modelId: entry.modelId, reason }, 'model unloaded');
        this.wakeRoomWaiters();
      }
    })();
    return entry.unloading;
  }

  /** File size (all split parts) + llama.cpp's context estimate; the effective context size comes with it. */
  private async estimate(llama: Llama, modelPath: string): Promise<{ footprintBytes: number; contextSize: number }> {
    const fileBytes = (await stat(modelPath)).size;
    try {
      const info = await readGgufFileInfo(modelPath, {
        sourceType: 'filesystem',
        logWarnings: false,
        signal: AbortSignal.timeout(HEADER_READ_TIMEOUT_MS),
      });
      const insights = await GgufInsights.from(info, llama);
      const contextSize = Math.max(1, Math.min(this.contextSize, insights.trainContextSize ?? this.contextSize));
      // The heuristic (deprecated) estimator is pure arithmetic; V2 simulates with native model handles.
      const { cpuRam, gpuVram } = insights.estimateContextResourceRequirements({
        contextSize,
        modelGpuLayers: llama.gpu === false ? 0 : insights.totalLayers,
        sequences: 1,
      });
      return { footprintBytes: Math.max(fileBytes, insights.modelSize) + Math.ceil(cpuRam + gpuVram), contextSize };
    } catch (err) {
      this.log.warn({ err, modelPath }, 'cannot estimate the context memory; budgeting the file size alone');
      return { footprintBytes: fileBytes, contextSize: this.contextSize };
    }
  }

  private addInterest(modelId: string, delta: number): void {
    const count = (this.interest.get(modelId) ?? 0) + delta;
    if (count > 0) {
      this.interest.set(modelId, count);
      return;
    }
    this.interest.delete(modelId);
    this.wakeRoomWaiters();
  }

  private wakeRoomWaiters(): void {
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const wake of waiters) wake();
  }

  private assertUsable(): void {
    if (this.disposed) throw new Error('the inference service is disposed');
  }
}

/** Thrown by the context shift strategy: generating on would mean forgetting part of the conversation. */
class ContextLengthExceeded extends Error {
  readonly body = openAiError(
    "The conversation no longer fits this model's context window. Please reduce the length of the messages or max_tokens.",
    { param: 'messages', code: 'context_length_exceeded' },
  );
}

function refuseContextShift(): never {
  throw new ContextLengthExceeded('context shift refused');
}

function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}
