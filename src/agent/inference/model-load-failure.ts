import type { ModelLoadError } from '../../shared/model-load-error.js';

/**
 * A model could not be loaded for inference. Nothing has been written to the response when this is thrown: the agent
 * HTTP server turns it into a repair report (seed 004) and a 503.
 */
export class ModelLoadFailure extends Error {
  override readonly name = 'ModelLoadFailure';

  constructor(
    readonly modelId: string,
    readonly code: ModelLoadError,
    /** Why, in words: the quick check's reason or the classifier's verdict with llama.cpp's telling log line. */
    readonly detail: string,
    /** llama.cpp's log lines from this load, oldest first (empty when the quick checks refused the file). */
    readonly nativeLog: readonly string[] = [],
  ) {
    super(`model ${modelId} failed to load (${code}): ${detail}`);
  }
}
