import { bigintAsNumber } from '../../database/bigint.transformer.js';
import { Column, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import { LifecycleStatus } from '../lifecycle-status.js';

/** One model on one node (seed 000's NodeModelState). Rows go with their node or their registration (cascade). */
@Entity('node_model_states')
export class NodeModelStateEntity {
  @PrimaryColumn({ name: 'node_id', type: 'uuid' })
  nodeId!: string;

  @PrimaryColumn({ name: 'model_id', type: 'varchar', length: 512 })
  modelId!: string;

  @Column({ name: 'lifecycle_status', type: 'varchar', length: 16 })
  lifecycleStatus!: LifecycleStatus;

  @Column({ name: 'bytes_done', type: 'bigint', transformer: bigintAsNumber })
  bytesDone!: number;

  @Column({ name: 'bytes_total', type: 'bigint', transformer: bigintAsNumber })
  bytesTotal!: number;

  @Column({ name: 'file_path', type: 'text', nullable: true })
  filePath!: string | null;

  @Column({ name: 'error_code', type: 'varchar', length: 64, nullable: true })
  errorCode!: string | null;

  @Column({ name: 'error_message', type: 'text', nullable: true })
  errorMessage!: string | null;

  /** The agent's version of this state; older reports are ignored (see AgentModelState.version). */
  @Column({ type: 'bigint', transformer: bigintAsNumber })
  version!: number;

  /** Grows with every write of this row (one sequence for all rows): orders two snapshots of the same state. */
  @Column({ type: 'bigint', transformer: bigintAsNumber, insert: false, update: false })
  revision!: number;

  /** Smoothed transfer rate while DOWNLOADING, from the agent's successive reports; null otherwise. */
  @Column({ name: 'bytes_per_second', type: 'double precision', nullable: true })
  bytesPerSecond!: number | null;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
