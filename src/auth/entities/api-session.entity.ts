import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';

/**
 * A dashboard session (POST /api/session). The cookie holds a random token, stored here as sha256; the session
 * stands for the key it was opened with (`credentialHash`, the key's own sha256), so revoking or expiring the key
 * ends its sessions too.
 */
@Entity('api_sessions')
export class ApiSessionEntity {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ name: 'token_hash', type: 'char', length: 64, unique: true })
  tokenHash!: string;

  @Column({ name: 'credential_hash', type: 'char', length: 64 })
  credentialHash!: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt!: Date;
}
