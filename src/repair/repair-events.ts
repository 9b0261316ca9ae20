import type { RepairStatusChangedPayload } from '../events/topics.js';
import type { RepairTaskEntity } from './entities/repair-task.entity.js';

export function repairPayload(task: RepairTaskEntity): RepairStatusChangedPayload {
  return {
    id: task.id,
    nodeId: task.nodeId,
    modelId: task.modelId,
    reason: task.reason,
    detail: task.detail,
    trigger: task.trigger,
    status: task.status,
    fromZero: task.fromZero,
    attempts: task.attempts,
    errorMessage: task.errorMessage,
    timeoutMs: task.timeoutMs,
    startedAt: task.startedAt.toISOString(),
    finishedAt: task.finishedAt?.toISOString() ?? null,
  };
}
