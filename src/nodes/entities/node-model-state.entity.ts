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

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
