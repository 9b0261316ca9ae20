import type { RepairStatusChangedPayload } from '../../events/topics.js';
import type { ModelLoadError } from '../../shared/model-load-error.js';
import type { RepairTaskEntity } from '../entities/repair-task.entity.js';
import { repairPayload } from '../repair-events.js';
import type { RepairStatus, RepairTrigger } from '../repair-status.js';
import { RepairTask } from './repair-task.model.js';

export function toRepairTask(
  source: RepairTaskEntity | RepairStatusChangedPayload,
  seq: number | null = null,
): RepairTask {
  const p =
    'startedAt' in source && source.startedAt instanceof Date
      ? repairPayload(source as RepairTaskEntity)
      : (source as RepairStatusChangedPayload);
  const startedAt = new Date(p.startedAt);
  const finishedAt = p.finishedAt ? new Date(p.finishedAt) : null;
  return Object.assign(new RepairTask(), {
    ...p,
    seq,
    reason: p.reason as ModelLoadError,
    trigger: p.trigger as RepairTrigger,
    status: p.status as RepairStatus,
    startedAt,
    finishedAt,
    elapsedMs: (finishedAt ?? new Date()).getTime() - startedAt.getTime(),
  });
}
