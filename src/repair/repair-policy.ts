import { ModelLoadError } from '../shared/model-load-error.js';

export type RepairDecision =
  | { action: 'REPAIR'; fromZero: boolean }
  | { action: 'NO_REPAIR'; reason: string }
  | { action: 'BREAKER_OPEN'; reason: string };

export interface PolicyInput {
  code: ModelLoadError;
  /** The agent says the bytes on disk are a sound prefix (a truncated file). */
  resumable: boolean;
  autoRepair: boolean;
  manual: boolean;
  /** Failed repairs of this node × model since its last successful one. */
  consecutiveFailures: number;
  breakerThreshold: number;
}

/**
 * What a failure deserves (seed 004). File problems are re-downloaded: from zero when the bytes are wrong, resuming
 * when the file is only missing or short. CONTEXT_FAILED is a memory problem: fetching the file again would not help.
 * A pair that keeps failing trips the breaker instead of looping; a repair asked for by hand always runs.
 */
export function decideRepair(input: PolicyInput): RepairDecision {
  if (input.code === ModelLoadError.CONTEXT_FAILED && !input.manual) {
    return {
      action: 'NO_REPAIR',
      reason:
        'The model file is fine but llama.cpp could not create a context: a memory problem, not repaired by downloading again',
    };
  }
  if (!input.manual && !input.autoRepair) {
    return { action: 'NO_REPAIR', reason: 'Automatic repair is off (AUTO_REPAIR=false); run repairModel to repair it' };
  }
  if (!input.manual && input.consecutiveFailures >= input.breakerThreshold) {
    return {
      action: 'BREAKER_OPEN',
      reason: `Automatic repair stopped after ${input.consecutiveFailures} failed repairs in a row; fix the cause and run repairModel`,
    };
  }
  return { action: 'REPAIR', fromZero: !input.resumable && bytesAreBad(input.code) };
}

/** Wrong bytes must go; a missing or truncated file is resumed (the checksum still proves the result). */
export function bytesAreBad(code: ModelLoadError): boolean {
  switch (code) {
    case ModelLoadError.CORRUPTED:
    case ModelLoadError.INVALID_FORMAT:
    case ModelLoadError.UNKNOWN:
      return true;
    case ModelLoadError.FILE_NOT_FOUND:
    case ModelLoadError.CONTEXT_FAILED:
      return false;
  }
}

/** A repair's timeout grows with what must be fetched. */
export function repairTimeoutMs(totalBytes: number, baseMs: number, minBytesPerSecond: number): number {
  return baseMs + Math.ceil((totalBytes / minBytesPerSecond) * 1000);
}
