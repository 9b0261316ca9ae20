import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { ModelLoadError } from '../../shared/model-load-error.js';
import { RepairStatus, RepairTrigger } from '../repair-status.js';

/** One repair of one model on one node, kept as history (seed 004's RepairTask / RepairResult). */
@Entity('repair_tasks')
export class RepairTaskEntity {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ name: 'node_id', type: 'uuid' })
  nodeId!: string;

  @Column({ name: 'model_id', type: 'varchar', length: 512 })
  modelId!: string;

  @Column({ type: 'varchar', length: 32 })
  reason!: ModelLoadError;

  @Column({ type: 'text' })
  detail!: string;

  @Column({ type: 'varchar', length: 16 })
  trigger!: RepairTrigger;

  @Column({ type: 'varchar', length: 16 })
  status!: RepairStatus;

  @Column({ name: 'from_zero', type: 'boolean' })
  fromZero!: boolean;

  @Column({ type: 'int' })
  attempts!: number;

  @Column({ name: 'error_message', type: 'text', nullable: true })
  errorMessage!: string | null;

  @Column({ name: 'timeout_ms', type: 'int' })
  timeoutMs!: number;

  @Column({ name: 'started_at', type: 'timestamptz' })
  startedAt!: Date;

  @Column({ name: 'finished_at', type: 'timestamptz', nullable: true })
  finishedAt!: Date | null;
}
