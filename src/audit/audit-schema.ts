import type { IncomingMessage } from 'node:http';
import { GraphQLError, type GraphQLFieldResolver, type GraphQLSchema } from 'graphql';
import { attachedPrincipal } from '../auth/principal.js';
import { DomainError, PublicErrorCode } from '../common/domain-error.js';
import { publicCodeOf } from '../errors/error-mapper.js';
import { auditArguments } from './audit-arguments.js';
import type { AuditService } from './audit.service.js';

/**
 * Wraps every Mutation field's resolver (Nest's, which runs the guard inside it) so that each call is recorded once
 * it ended: done, refused by the guard (FORBIDDEN: recorded, an attempt is worth knowing about), or failed. Over
 * HTTP and graphql-ws alike, since both execute this schema. Callers without a valid key never get this far (401
 * before Apollo, or no socket), and documents refused by validation (limits, unknown fields) run nothing: neither
 * is recorded here.
 */
export function auditMutations(schema: GraphQLSchema, audit: AuditService): GraphQLSchema {
  const mutation = schema.getMutationType();
  if (!mutation) return schema;
  for (const field of Object.values(mutation.getFields())) {
    const resolve = field.resolve;
    if (!resolve) continue;
    const audited: GraphQLFieldResolver<unknown, { req?: IncomingMessage }> = async (source, args, context, info) => {
      const record = async (result: string, errorReason: string | null) => {
        const req = context?.req;
        const principal = req ? attachedPrincipal(req) : undefined;
        if (!principal || !req) return;
        await audit.record({
          principal,
          operationName: info.operation.name?.value ?? null,
          field: info.fieldName,
          arguments: auditArguments(args as Record<string, unknown>),
          result,
          errorReason,
          transport: req.headers.upgrade ? 'ws' : 'http',
          remoteAddress: req.socket?.remoteAddress ?? null,
        });
      };
      let value: unknown;
      try {
        value = await resolve(source, args, context, info);
      } catch (err) {
        const [code, reason] = outcomeOf(err);
        await record(code, reason);
        throw err;
      }
      await record('OK', null);
      return value;
    };
    field.resolve = audited as typeof field.resolve;
  }
  return schema;
}

function outcomeOf(err: unknown): [string, string | null] {
  if (err instanceof DomainError) return [publicCodeOf(err), err.reason];
  if (err instanceof GraphQLError) {
    const original = err.originalError;
    if (original instanceof DomainError) return [publicCodeOf(original), original.reason];
    const code = err.extensions.code;
    if (typeof code === 'string') return [code, null];
  }
  return [PublicErrorCode.INTERNAL_SERVER_ERROR, null];
}
