import { Logger } from '@nestjs/common';
import type { GraphQLFormattedError } from 'graphql';
import { DomainError, PublicErrorCode } from '../common/domain-error.js';
import { publicCodeOf } from './error-mapper.js';

const logger = new Logger('GraphQL');

/**
 * Domain errors become `extensions.code` (public category) + `extensions.reason` (the module's own code) + details;
 * anything unexpected is logged and answered as INTERNAL_SERVER_ERROR without its details.
 */
export function formatGraphqlError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  const original = unwrap(error);
  if (original instanceof DomainError) {
    const code = publicCodeOf(original);
    if (code === PublicErrorCode.INTERNAL_SERVER_ERROR) return internal(formatted, original);
    return {
      message: original.message,
      locations: formatted.locations,
      path: formatted.path,
      extensions: { code, reason: original.reason, ...original.details },
    };
  }
  const code = formatted.extensions?.code;
  // Errors of the GraphQL layer itself (parse, validation, argument coercion) are the client's and safe to show.
  if (typeof code === 'string' && code !== 'INTERNAL_SERVER_ERROR') {
    const { stacktrace: _stack, ...extensions } = formatted.extensions ?? {};
    return { ...formatted, extensions };
  }
  return internal(formatted, original);
}

function internal(formatted: GraphQLFormattedError, original: unknown): GraphQLFormattedError {
  logger.error(original instanceof Error ? (original.stack ?? original.message) : formatted.message);
  return {
    message: 'Internal server error',
    locations: formatted.locations,
    path: formatted.path,
    extensions: { code: PublicErrorCode.INTERNAL_SERVER_ERROR },
  };
}

function unwrap(error: unknown): unknown {
  let current = error;
  for (let i = 0; i < 5 && current && typeof current === 'object' && 'originalError' in current; i++) {
    const next = (current as { originalError?: unknown }).originalError;
    if (!next) break;
    current = next;
  }
  return current;
}
