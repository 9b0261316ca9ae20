import { ApiKeyEntity } from '../auth/entities/api-key.entity.js';
import { ApiSessionEntity } from '../auth/entities/api-session.entity.js';
import { AuditEntryEntity } from '../audit/entities/audit-entry.entity.js';
import { FleetSecretEntity } from '../nodes/entities/fleet-secret.entity.js';
import { NodeModelStateEntity } from '../nodes/entities/node-model-state.entity.js';
import { NodeEntity } from '../nodes/entities/node.entity.js';
import { RepairTaskEntity } from '../repair/entities/repair-task.entity.js';
import { RegisteredModelEntity } from '../registry/entities/registered-model.entity.js';

/** Every entity, for the TypeORM CLI's DataSource (the app registers them per module with forFeature). */
export const entities = [
  RegisteredModelEntity,
  NodeEntity,
  NodeModelStateEntity,
  RepairTaskEntity,
  ApiKeyEntity,
  ApiSessionEntity,
  AuditEntryEntity,
  FleetSecretEntity,
];
