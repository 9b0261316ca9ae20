import { ModelLoadError } from '../../shared/model-load-error.js';

export interface LoadFailure {
  /** `err.constructor.name` of what loadModel/createContext threw; null when the process died before saying. */
  errorName?: string | null;
  message?: string | null;
  /** llama.cpp's log lines and the child's stderr, oldest first. */
  nativeLog?: readonly string[];
  exitCode?: number | null;
  signal?: string | null;
  /** `err.code` (ENOENT, ERR_OUT_OF_RANGE...). */
  errorCode?: string | null;
  /** Where it failed: starting llama.cpp, loading the weights, or creating the context. */
  stage?: 'init' | 'load' | 'context' | null;
}

export interface LoadFailureVerdict {
  code: ModelLoadError;
  message: string;
}

const SIGABRT_EXIT_CODE = 134;
const OUT_OF_MEMORY = /out of memory|failed to allocate|unable to allocate|cudaMalloc failed|OutOfDeviceMemory/i;
const UNKNOWN_ARCHITECTURE = /unknown model architecture/i;
const DAMAGED_FILE = /not within the file bounds|failed to read|key not found|wrong shape|tensor|corrupted|incomplete/i;
const ABORT_LINE = /GGML_ASSERT|GGML_ABORT|error|failed|terminate/i;

/**
 * Decides what a failed load means for the repair policy (seed 004). CORRUPTED and INVALID_FORMAT are file problems
 * worth a re-download; CONTEXT_FAILED is memory and must not be re-downloaded.
 */
export function classifyLoadFailure(failure: LoadFailure): LoadFailureVerdict {
  const log = failure.nativeLog ?? [];
  const message = failure.message?.trim() || 'the model failed to load';
  const text = `${message}\n${log.join('\n')}`;
  const detail = telling(log, DAMAGED_FILE) ?? telling(log, ABORT_LINE) ?? log.at(-1) ?? null;
  const withDetail = (m: string): string => (detail && !m.includes(detail) ? `${m}: ${detail}` : m);

  if (failure.signal === 'SIGKILL') {
    return {
      code: ModelLoadError.CONTEXT_FAILED,
      message: 'the load process was killed (SIGKILL), most likely by the out-of-memory killer',
    };
  }
  if (failure.signal || failure.exitCode === SIGABRT_EXIT_CODE) {
    const line = telling(log, ABORT_LINE) ?? log.at(-1) ?? `signal ${failure.signal ?? 'SIGABRT'}`;
    return { code: ModelLoadError.CORRUPTED, message: `llama.cpp aborted while loading: ${line}` };
  }
  if (failure.errorCode === 'ENOENT' || /\bENOENT\b|no such file/i.test(message)) {
    return { code: ModelLoadError.FILE_NOT_FOUND, message };
  }
  if (failure.errorName === 'InvalidGgufMagicError' || UNKNOWN_ARCHITECTURE.test(text)) {
    return { code: ModelLoadError.INVALID_FORMAT, message: withDetail(message) };
  }
  if (failure.errorName === 'InsufficientMemoryError' || OUT_OF_MEMORY.test(text)) {
    return { code: ModelLoadError.CONTEXT_FAILED, message: withDetail(message) };
  }
  if (failure.stage === 'context') return { code: ModelLoadError.CONTEXT_FAILED, message: withDetail(message) };
  if (DAMAGED_FILE.test(text) || failure.errorCode === 'ERR_OUT_OF_RANGE') {
    return { code: ModelLoadError.CORRUPTED, message: withDetail(message) };
  }
  if (failure.errorName == null && failure.exitCode != null && failure.exitCode !== 0) {
    return {
      code: ModelLoadError.UNKNOWN,
      message: withDetail(`the load process exited with code ${failure.exitCode}`),
    };
  }
  return { code: ModelLoadError.UNKNOWN, message: withDetail(message) };
}

/** The last log line that says something about the failure (llama.cpp logs much else). */
function telling(log: readonly string[], pattern: RegExp): string | undefined {
  for (let i = log.length - 1; i >= 0; i -= 1) {
    const line = log[i];
    if (line !== undefined && pattern.test(line)) return line.trim();
  }
  return undefined;
}
