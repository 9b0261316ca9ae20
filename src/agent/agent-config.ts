import { hostname } from 'node:os';
import { z } from 'zod';
import { nodeNameFromHostname, nodeNameSchema } from '../shared/node-name.js';
import { byteSize, DEFAULT_V1_BODY_LIMIT } from '../shared/openai/byte-size.js';

const url = z
  .string()
  .trim()
  .refine((v) => /^https?:\/\//.test(v) && URL.canParse(v), { message: 'must be an http(s) URL' })
  .transform((v) => v.replace(/\/+$/, ''));

const optionalSecret = z
  .string()
  .trim()
  .optional()
  .transform((v) => (v ? v : undefined));

export const agentConfigSchema = z.object({
  CONTROL_PLANE_URL: url.default('http://127.0.0.1:3000'),
  AGENT_HOST: z.string().trim().min(1).default('0.0.0.0'),
  AGENT_PORT: z.coerce.number().int().min(0).max(65535).default(3100),
  /** How the control plane reaches this agent; default http://<NODE_NAME host or 127.0.0.1>:<port>. */
  AGENT_PUBLIC_URL: url.optional(),
  MODELS_DIR: z.string().trim().min(1).default('./models'),
  NODE_NAME: nodeNameSchema.default(nodeNameFromHostname(hostname())),
  NODE_JOIN_TOKEN: optionalSecret,
  HF_TOKEN: optionalSecret,
  /** `auto` uses CUDA/Vulkan/Metal when present; `false` loads on the CPU. */
  AGENT_GPU: z.enum(['auto', 'false']).default('auto'),
  /** Prove each downloaded model loads with node-llama-cpp before calling it READY. */
  AGENT_VERIFY_LOAD: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true'),
  /** Overrides the memory models are checked against (default: total VRAM, or RAM on a CPU-only node). */
  AGENT_MEMORY_BYTES: z.coerce.number().int().min(0).optional(),
  /** Full sha256 sweep of every READY model this often (0: never); quick checks run at every start regardless. */
  AGENT_VERIFY_INTERVAL_MS: z.coerce
    .number()
    .int()
    .min(0)
    .default(6 * 60 * 60 * 1000),
  /** After a failed repair, requests get `repair_failed` this long before the next one reports the model again. */
  AGENT_REPAIR_RETRY_MS: z.coerce.number().int().min(0).default(60_000),
  AGENT_STALL_TIMEOUT_MS: z.coerce.number().int().min(100).default(30_000),
  /** Largest chat request body this node accepts; the same variable as the control plane's, so one setting covers both. */
  V1_BODY_LIMIT: byteSize(1024, 1024 ** 3).default(DEFAULT_V1_BODY_LIMIT),
  /** Ranged connections at once for one large file (1: a single stream); a CDN caps each connection, not the client. */
  AGENT_DOWNLOAD_CONNECTIONS: z.coerce.number().int().min(1).max(64).default(8),
  /** Bytes asked per ranged request; a file smaller than two pieces is fetched with one stream. */
  AGENT_DOWNLOAD_CHUNK_BYTES: z.coerce
    .number()
    .int()
    .min(64 * 1024)
    .max(1024 * 1024 * 1024)
    .default(16 * 1024 * 1024),
  /** Per upload to a peer, at most this many bytes a second (0: no limit), so copies leave room for inference. */
  AGENT_PEER_UPLOAD_BYTES_PER_SECOND: z.coerce.number().int().min(0).default(0),
  /** A peer slower than this (averaged over 10 s) is left for another source or the Hub (0: never). */
  AGENT_PEER_MIN_BYTES_PER_SECOND: z.coerce
    .number()
    .int()
    .min(0)
    .default(1024 * 1024),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type AgentConfig = z.infer<typeof agentConfigSchema>;

export class AgentConfigError extends Error {}

export function parseAgentConfig(env: NodeJS.ProcessEnv): AgentConfig {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = agentConfigSchema.safeParse(cleaned);
  if (result.success) return result.data;
  const problems = result.error.issues.map(
    (i) => `  - ${i.path.join('.')}=${JSON.stringify(env[String(i.path[0])])}: ${i.message}`,
  );
  throw new AgentConfigError(`Invalid agent configuration:\n${problems.join('\n')}`);
}
