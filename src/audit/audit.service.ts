import { Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { LessThan, Repository } from 'typeorm';
import type { Principal } from '../auth/principal.js';
import { AuditEntryEntity } from './entities/audit-entry.entity.js';

export interface AuditRecord {
  principal: Principal;
  operationName: string | null;
  field: string;
  arguments: Record<string, unknown>;
  result: string;
  errorReason: string | null;
  transport: 'http' | 'ws';
  remoteAddress: string | null;
}

export const AUDIT_LOG_MAX_LIMIT = 500;

/** The audit trail of mutations (audit-schema.ts records them; auditLog reads them). */
@Injectable()
export class AuditService {
  private readonly logger = new Logger('Audit');

  constructor(@InjectRepository(AuditEntryEntity) private readonly entries: Repository<AuditEntryEntity>) {}

  /**
   * Writes one entry, right after the mutation committed (or failed). A failed write is logged with the entry
   * itself (its arguments are already masked), so the trail survives in the logs; the caller's answer stands.
   */
  async record(entry: AuditRecord): Promise<void> {
    const row = {
      at: new Date(),
      keyId: entry.principal.keyId,
      keyName: entry.principal.name,
      role: entry.principal.role,
      operationName: entry.operationName?.slice(0, 200) ?? null,
      field: entry.field,
      arguments: entry.arguments,
      result: entry.result,
      errorReason: entry.errorReason?.slice(0, 64) ?? null,
      transport: entry.transport,
      remoteAddress: entry.remoteAddress?.slice(0, 64) ?? null,
    };
    try {
      await this.entries.save(this.entries.create(row), { reload: false });
    } catch (err) {
      this.logger.error(`Could not write an audit entry (${(err as Error).message}): ${JSON.stringify(row)}`);
    }
  }

  /** Newest first; `before`: an entry's id, to page back from it. */
  list(limit: number, before: string | null): Promise<AuditEntryEntity[]> {
    return this.entries.find({
      where: before ? { id: LessThan(before) } : {},
      order: { id: 'DESC' },
      take: limit,
    });
  }
}
