import { Column, CreateDateColumn, Entity, Index, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import type { SupportedModelDef } from '../../catalog/supported-model.js';
import type { ManifestFile } from '../manifest.js';
import { ModelSource } from '../model-status.js';

@Entity('registered_models')
@Index('UQ_registered_models_repo_file', ['repoKey', 'primaryFilename'], { unique: true })
export class RegisteredModelEntity {
  @PrimaryColumn({ type: 'varchar', length: 512 })
  id!: string;

  @Column({ type: 'varchar', length: 32 })
  source!: ModelSource;

  @Column({ type: 'varchar', length: 200 })
  repo!: string;

  /** Lower-cased repo: the Hub treats repo names case-insensitively, and so does duplicate detection. */
  @Column({ name: 'repo_key', type: 'varchar', length: 200 })
  repoKey!: string;

  /** The commit the manifest is pinned to. */
  @Column({ type: 'varchar', length: 64 })
  revision!: string;

  @Column({ name: 'primary_filename', type: 'varchar', length: 1024 })
  primaryFilename!: string;

  @Column({ type: 'jsonb' })
  files!: ManifestFile[];

  /** The model's description as registered (catalog entry, or derived from the Hub's metadata). */
  @Column({ type: 'jsonb' })
  model!: SupportedModelDef;

  @Column({ name: 'selection_note', type: 'text' })
  selectionNote!: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
