import { CreateRegisteredModels1763700000000 } from './1763700000000-create-registered-models.js';
import { CreateNodes1763800000000 } from './1763800000000-create-nodes.js';
import { CreateRepairTasks1763900000000 } from './1763900000000-create-repair-tasks.js';
import { CreateApiKeys1764100000000 } from './1764100000000-create-api-keys.js';
import { DownloadDispatches1764150000000 } from './1764150000000-download-dispatches.js';
import { ModelFleetAggregates1764200000000 } from './1764200000000-model-fleet-aggregates.js';
import { CreateAuditLog1796034360000 } from './1796034360000-create-audit-log.js';
import { SealedNodeSecrets1796034385000 } from './1796034385000-sealed-node-secrets.js';
import { FleetProgressStripes1796034386000 } from './1796034386000-fleet-progress-stripes.js';
import { PeerTransfers1796034386001 } from './1796034386001-peer-transfers.js';

/** Every migration, in order. Listed explicitly: ESM builds cannot glob-require them. */
export const migrations = [
  CreateRegisteredModels1763700000000,
  CreateNodes1763800000000,
  CreateRepairTasks1763900000000,
  CreateApiKeys1764100000000,
  DownloadDispatches1764150000000,
  ModelFleetAggregates1764200000000,
  CreateAuditLog1796034360000,
  SealedNodeSecrets1796034385000,
  FleetProgressStripes1796034386000,
  PeerTransfers1796034386001,
];
