import { Column, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

/** A secret of the fleet itself (today: the generated join token): its sha256 to check it, sealed to read it back. */
@Entity('fleet_secrets')
export class FleetSecretEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  name!: string;

  @Column({ type: 'char', length: 64 })
  hash!: string;

  /** AES-256-GCM with the key in SECRETS_KEY_FILE (SecretBox); never the clear value. */
  @Column({ type: 'text' })
  sealed!: string;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
