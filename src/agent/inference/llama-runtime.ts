import { setTimeout as delay } from 'node:timers/promises';
import { getLlama, LlamaLogLevel, type Llama } from 'node-llama-cpp';
import type { Logger } from 'pino';
import { ModelLoadError } from '../../shared/model-load-error.js';
import { classifyLoadFailure } from '../model-probe/load-failure.classifier.js';
import { probeModelLoad } from '../model-probe/model-probe.js';
import { ModelLoadFailure } from './model-load-failure.js';

const NATIVE_LOG_LINES = 50;
/** llama.cpp's log lines reach the logger asynchronously, after the promise that failed has already rejected. */
const NATIVE_LOG_GRACE_MS = 150;
const LLAMA_DISPOSE_TIMEOUT_MS = 1_000;

export interface LlamaRuntimeOptions {
  gpu: 'auto' | false;
  maxThreads?: number;
  log: Logger;
}

/**
 * The agent's one llama.cpp instance, its native log and what a failed load means. One per process: llama.cpp's log
 * callback is process-wide, and a second getLlama() would take it over (metrics read VRAM through this one too).
 */
export class LlamaRuntime {
  private llamaPromise: Promise<Llama> | null = null;
  private readonly nativeLog: string[] = [];
  private nativeLogTotal = 0;

  constructor(private readonly opts: LlamaRuntimeOptions) {}

  llama(): Promise<Llama> {
    this.llamaPromise ??= getLlama({
      build: 'never',
      gpu: this.opts.gpu,
      maxThreads: this.opts.maxThreads,
      progressLogs: false,
      logLevel: LlamaLogLevel.warn,
      logger: (level, message) => this.onNativeLog(level, message),
    }).catch((err: unknown) => {
      // Not the model's fault: no repair report; the next request tries again.
      this.llamaPromise = null;
      throw err;
    });
    return this.llamaPromise;
  }

  /** GPU memory as llama.cpp sees it (CUDA, Vulkan, Metal). Null on a CPU-only node. */
  async vram(): Promise<{ names: string[]; totalBytes: number; usedBytes: number } | null> {
    if (this.opts.gpu === false) return null;
    const llama = await this.llama();
    if (llama.gpu === false) return null;
    const state = await llama.getVramState();
    return { names: await llama.getGpuDeviceNames(), totalBytes: state.total, usedBytes: state.used };
  }

  /** Where the native log stands now: pass it to loadFailure to get the lines of one load. */
  logMark(): number {
    return this.nativeLogTotal;
  }

  /** Classifies a failed load or context creation from the error and llama.cpp's native log lines since `mark`. */
  async loadFailure(
    ref: { modelId: string; modelPath: string },
    err: unknown,
    stage: 'load' | 'context',
    mark: number,
  ): Promise<ModelLoadFailure> {
    await delay(NATIVE_LOG_GRACE_MS);
    const e = err instanceof Error ? err : new Error(String(err));
    const errorCode = (e as NodeJS.ErrnoException).code;
    const nativeLog = this.nativeLogSince(mark);
    const verdict = classifyLoadFailure({
      errorName: e.constructor.name,
      message: e.message,
      errorCode: typeof errorCode === 'string' ? errorCode : null,
      nativeLog,
      stage,
    });
    // The file loaded: a context that cannot be made is memory, never a reason to re-download.
    if (stage === 'context')
      return this.failure(ref.modelId, ModelLoadError.CONTEXT_FAILED, verdict.message, nativeLog, stage);
    if (verdict.code === ModelLoadError.UNKNOWN) {
      // When this process's log lines did not reach us (another Llama in the process took the callback), a load in a
      // fresh child process, whose log is all its own, tells what is wrong with the file.
      const probe = await probeModelLoad({ modelPath: ref.modelPath, gpu: this.opts.gpu }, { skipQuickChecks: true });
      if (!probe.ok) return this.failure(ref.modelId, probe.code, probe.message, probe.nativeLog, stage);
    }
    return this.failure(ref.modelId, verdict.code, verdict.message, nativeLog, stage);
  }

  /** Frees llama.cpp; bounded, because node-llama-cpp 3.22 leaks a handle per failed loadModel and may wait forever. */
  async dispose(): Promise<void> {
    const llama = await this.llamaPromise?.catch(() => null);
    if (!llama) return;
    const gaveUp = new AbortController();
    const disposed = await Promise.race([
      llama.dispose().then(() => true),
      delay(LLAMA_DISPOSE_TIMEOUT_MS, false, { signal: gaveUp.signal }).catch(() => true),
    ]);
    gaveUp.abort();
    if (!disposed)
      this.opts.log.warn({ timeoutMs: LLAMA_DISPOSE_TIMEOUT_MS }, 'llama.cpp did not dispose in time; left to exit');
  }

  private failure(
    modelId: string,
    code: ModelLoadError,
    detail: string,
    nativeLog: readonly string[],
    stage: 'load' | 'context',
  ): ModelLoadFailure {
    this.opts.log.warn({ modelId, code, detail, stage }, 'model failed to load');
    return new ModelLoadFailure(modelId, code, detail, [...nativeLog]);
  }

  private onNativeLog(level: LlamaLogLevel, message: string): void {
    const line = message.trimEnd();
    if (line === '') return;
    this.nativeLog.push(line);
    if (this.nativeLog.length > NATIVE_LOG_LINES) this.nativeLog.shift();
    this.nativeLogTotal += 1;
    if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal)
      this.opts.log.warn({ native: line }, 'llama.cpp');
    else this.opts.log.debug({ native: line }, 'llama.cpp');
  }

  private nativeLogSince(mark: number): string[] {
    const count = Math.min(this.nativeLog.length, this.nativeLogTotal - mark);
    return count > 0 ? this.nativeLog.slice(-count) : [];
  }
}
