import { Field, ID, ObjectType } from '@nestjs/graphql';
import { ApiKeyRole } from '../../auth/api-key-role.js';

@ObjectType('AuditEntry', { description: 'One mutation in the audit trail: who, what, when, and how it ended.' })
export class AuditEntry {
  @Field(() => ID, { description: 'Increasing with time; pass it as auditLog’s `before` to read older entries.' })
  id!: string;

  @Field(() => Date, { description: 'When the mutation ended.' })
  at!: Date;

  @Field(() => ID, { nullable: true, description: 'The key’s id; null for the ADMIN_API_KEY of the configuration.' })
  keyId!: string | null;

  @Field(() => String, { description: 'The key’s name when the mutation ran.' })
  keyName!: string;

  @Field(() => ApiKeyRole, { description: 'The key’s role when the mutation ran.' })
  role!: ApiKeyRole;

  @Field(() => String, { nullable: true, description: 'The operation’s name, if the client named it.' })
  operationName!: string | null;

  @Field(() => String, { description: 'The Mutation field, e.g. "deleteModel".' })
  field!: string;

  @Field(() => String, {
    description:
      'The field’s arguments as JSON, secrets masked as "[REDACTED]" (any argument named like a token, key, secret or password, and key- or token-shaped text anywhere).',
  })
  arguments!: string;

  @Field(() => String, {
    description: '"OK", or the error code the caller got (FORBIDDEN for a role too low, NOT_FOUND, BAD_USER_INPUT…).',
  })
  result!: string;

  @Field(() => String, { nullable: true, description: 'Why it failed, as the error’s extensions.reason.' })
  errorReason!: string | null;

  @Field(() => String, { description: '"http" or "ws" (graphql-ws).' })
  transport!: string;

  @Field(() => String, { nullable: true, description: 'The caller’s address as the control plane saw it.' })
  remoteAddress!: string | null;
}
