import { z } from 'zod';
import { AGENT_PROTOCOL_VERSION } from '../shared/agent-protocol.js';
import { nodeNameSchema } from '../shared/node-name.js';

const bytes = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const percent = z.number().min(0).max(100);

export const capacitySchema = z.object({
  gpus: z.array(z.object({ name: z.string().max(200), vramTotalBytes: bytes })).max(64),
  vramTotalBytes: bytes,
  ramTotalBytes: bytes,
  cpuCount: z.number().int().min(0).max(100_000),
  platform: z.string().max(50),
  memoryBytes: bytes,
});

export const registerNodeSchema = z.object({
  name: nodeNameSchema,
  url: z
    .string()
    .url()
    .refine((u) => /^https?:\/\//.test(u), 'must be an http(s) URL'),
  protocolVersion: z.literal(AGENT_PROTOCOL_VERSION),
  capacity: capacitySchema,
  nodeId: z.string().uuid().optional(),
  nodeToken: z.string().min(1).max(200).optional(),
});

export const modelStateSchema = z.object({
  modelId: z.string().min(1).max(512),
  lifecycleStatus: z.enum(['PENDING', 'DOWNLOADING', 'LOADING', 'READY', 'ERROR', 'CANCELLED']),
  bytesDone: bytes,
  bytesTotal: bytes,
  filePath: z.string().max(4096).nullable(),
  errorCode: z.string().max(64).nullable(),
  errorMessage: z.string().max(4000).nullable(),
  version: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  retryable: z.boolean().optional(),
  repair: z
    .object({
      repairId: z.string().min(1).max(64),
      attempt: z.number().int().min(1).max(100),
      failed: z.boolean().optional(),
      failureCode: z.string().max(64).nullable().optional(),
      failureMessage: z.string().max(4000).nullable().optional(),
      timedOut: z.boolean().optional(),
    })
    .optional(),
});

/** At most one state per model: one report is one set-based write, and a row cannot be written twice in one statement. */
export const statesReportSchema = z.object({
  models: z
    .array(modelStateSchema)
    .max(10_000)
    .refine((models) => new Set(models.map((m) => m.modelId)).size === models.length, 'one state per model at most'),
});

export const heartbeatSchema = z.object({
  metrics: z.object({
    gpuUsage: percent.nullable(),
    vramUsedBytes: bytes,
    vramTotalBytes: bytes,
    cpuUsage: percent,
    ramUsedBytes: bytes,
    ramTotalBytes: bytes,
    requestCount: bytes,
  }),
  models: z.array(modelStateSchema).max(10_000),
});

/** Zod issues as one line a user can act on: `capacity.ramTotalBytes: Expected number, received string`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
}
