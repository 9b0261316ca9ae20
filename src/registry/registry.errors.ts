import { DomainError } from '../common/domain-error.js';

export enum RegistryErrorReason {
  INVALID_REFERENCE = 'INVALID_REFERENCE',
  UNSUPPORTED_HOST = 'UNSUPPORTED_HOST',
  PATH_ESCAPES_REPO = 'PATH_ESCAPES_REPO',
  NOT_GGUF = 'NOT_GGUF',
  FILE_NOT_FOUND = 'FILE_NOT_FOUND',
  MISSING_CHECKSUM = 'MISSING_CHECKSUM',
  MODEL_NOT_FOUND = 'MODEL_NOT_FOUND',
  NOT_REGISTERED = 'NOT_REGISTERED',
  ALREADY_REGISTERED = 'ALREADY_REGISTERED',
}

export class RegistryError extends DomainError<RegistryErrorReason> {
  constructor(reason: RegistryErrorReason, message: string, details: Record<string, unknown> = {}) {
    super(reason, message, details);
  }
}
