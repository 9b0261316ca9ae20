import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditResolver } from './audit.resolver.js';
import { AuditService } from './audit.service.js';
import { AuditEntryEntity } from './entities/audit-entry.entity.js';

/** The audit trail of mutations (README, "Access control"). */
@Module({
  imports: [TypeOrmModule.forFeature([AuditEntryEntity])],
  providers: [AuditService, AuditResolver],
  exports: [AuditService],
})
export class AuditModule {}
