import { bigintAsNumber } from '../../database/bigint.transformer.js';
import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';
import type { NodeCapacity, NodeMetricsReport } from '../../shared/agent-protocol.js';
import { NodeStatus } from '../node-status.js';

@Entity('nodes')
export class NodeEntity {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'varchar', length: 200, unique: true })
  name!: string;

  @Column({ type: 'varchar', length: 500 })
  url!: string;

  @Column({ type: 'varchar', length: 16 })
  status!: NodeStatus;

  /** sha256 of the node's token: the node proves who it is with the token, the database never holds it. */
  @Column({ name: 'token_hash', type: 'varchar', length: 64 })
  tokenHash!: string;

  /** What the control plane presents to the agent, sealed (SecretBox): it must be used again, so it is not a hash. */
  @Column({ name: 'control_token_sealed', type: 'text' })
  controlTokenSealed!: string;

  @Column({ type: 'jsonb' })
  capacity!: NodeCapacity;

  @Column({ name: 'memory_bytes', type: 'bigint', transformer: bigintAsNumber })
  memoryBytes!: number;

  @Column({ type: 'jsonb', nullable: true })
  metrics!: NodeMetricsReport | null;

  @Column({ name: 'last_heartbeat_at', type: 'timestamptz' })
  lastHeartbeatAt!: Date;

  @CreateDateColumn({ name: 'registered_at', type: 'timestamptz' })
  registeredAt!: Date;
}
