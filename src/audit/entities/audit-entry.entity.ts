import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { ApiKeyRole } from '../../auth/api-key-role.js';

/** One mutation: who ran it, with what (secrets masked), and how it ended. Append-only. */
@Entity('audit_log')
export class AuditEntryEntity {
  /** bigserial: the order entries were written in, and the `before` cursor of auditLog. */
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id!: string;

  @Column({ type: 'timestamptz' })
  at!: Date;

  /** null for ADMIN_API_KEY (it lives in the configuration). No foreign key: the trail outlives the key. */
  @Column({ name: 'key_id', type: 'uuid', nullable: true })
  keyId!: string | null;

  @Column({ name: 'key_name', type: 'varchar', length: 100 })
  keyName!: string;

  @Column({ type: 'varchar', length: 16 })
  role!: ApiKeyRole;

  @Column({ name: 'operation_name', type: 'varchar', length: 200, nullable: true })
  operationName!: string | null;

  /** The Mutation field, e.g. `deleteModel`. */
  @Column({ type: 'varchar', length: 100 })
  field!: string;

  /** The field's arguments with secrets masked (audit-arguments.ts). */
  @Column({ type: 'jsonb' })
  arguments!: Record<string, unknown>;

  /** `OK`, or the public error code (`FORBIDDEN`, `NOT_FOUND`…). */
  @Column({ type: 'varchar', length: 32 })
  result!: string;

  /** The module's reason for an error (`ROLE_TOO_LOW`, `NOT_REGISTERED`…). */
  @Column({ name: 'error_reason', type: 'varchar', length: 64, nullable: true })
  errorReason!: string | null;

  /** `http` or `ws`. */
  @Column({ type: 'varchar', length: 8 })
  transport!: string;

  @Column({ name: 'remote_address', type: 'varchar', length: 64, nullable: true })
  remoteAddress!: string | null;
}
