import { DomainError } from '../common/domain-error.js';

export enum AuthErrorReason {
  /** No credentials at all. */
  KEY_MISSING = 'KEY_MISSING',
  /** An Authorization header that is not `Bearer <key>`, or a string that cannot be a key. */
  KEY_MALFORMED = 'KEY_MALFORMED',
  KEY_UNKNOWN = 'KEY_UNKNOWN',
  KEY_EXPIRED = 'KEY_EXPIRED',
  KEY_REVOKED = 'KEY_REVOKED',
  /** A key in the URL: refused, URLs end up in logs and browser history. */
  KEY_IN_QUERY_STRING = 'KEY_IN_QUERY_STRING',
  SESSION_INVALID = 'SESSION_INVALID',
  /** The key is valid but its role is too low for this operation. */
  ROLE_TOO_LOW = 'ROLE_TOO_LOW',
  /** A REST route that declares no access policy: refused, whoever asks. */
  NO_POLICY = 'NO_POLICY',
  /** A browser page from an origin not in CORS_ORIGINS. */
  ORIGIN_NOT_ALLOWED = 'ORIGIN_NOT_ALLOWED',
  INVALID_ARGUMENT = 'INVALID_ARGUMENT',
  API_KEY_NOT_FOUND = 'API_KEY_NOT_FOUND',
}

export class AuthError extends DomainError<AuthErrorReason> {
  constructor(reason: AuthErrorReason, message: string, details: Record<string, unknown> = {}) {
    super(reason, message, details);
  }
}
