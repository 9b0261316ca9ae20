import { Args, ID, Int, Query, Resolver } from '@nestjs/graphql';
import { ApiKeyRole } from '../auth/api-key-role.js';
import { AuthError, AuthErrorReason } from '../auth/auth.errors.js';
import { RequireRole } from '../auth/require-role.decorator.js';
import { AUDIT_LOG_MAX_LIMIT, AuditService } from './audit.service.js';
import { AuditEntry } from './models/audit-entry.model.js';

@Resolver()
export class AuditResolver {
  constructor(private readonly audit: AuditService) {}

  @Query(() => [AuditEntry], {
    description: `Every mutation, newest first: who ran it, with which arguments (secrets masked), and how it ended (ADMIN).`,
  })
  @RequireRole(ApiKeyRole.ADMIN)
  async auditLog(
    @Args('limit', {
      type: () => Int,
      defaultValue: 50,
      description: `How many entries (1 to ${AUDIT_LOG_MAX_LIMIT}).`,
    })
    limit: number,
    @Args('before', { type: () => ID, nullable: true, description: 'Only entries older than this entry’s id.' })
    before?: string | null,
  ): Promise<AuditEntry[]> {
    if (!Number.isInteger(limit) || limit < 1 || limit > AUDIT_LOG_MAX_LIMIT) {
      throw new AuthError(AuthErrorReason.INVALID_ARGUMENT, `limit must be 1 to ${AUDIT_LOG_MAX_LIMIT}`, {
        field: 'limit',
      });
    }
    if (before != null && !/^[1-9][0-9]{0,17}$/.test(before)) {
      throw new AuthError(AuthErrorReason.INVALID_ARGUMENT, 'before must be an audit entry’s id', { field: 'before' });
    }
    const rows = await this.audit.list(limit, before ?? null);
    return rows.map((row) => ({ ...row, arguments: JSON.stringify(row.arguments) }));
  }
}
