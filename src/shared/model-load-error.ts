/** Why a model failed to load on a node (seed 004), decided by the agent's classifier. */
export enum ModelLoadError {
  FILE_NOT_FOUND = 'FILE_NOT_FOUND',
  INVALID_FORMAT = 'INVALID_FORMAT',
  CORRUPTED = 'CORRUPTED',
  CONTEXT_FAILED = 'CONTEXT_FAILED',
  UNKNOWN = 'UNKNOWN',
}
