import { z } from 'zod';

const bool = (name: string) =>
  z
    .string()
    .trim()
    .toLowerCase()
    .refine((v) => ['true', 'false', '1', '0', 'yes', 'no'].includes(v), {
      message: `${name} must be true or false`,
    })
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

const url = (protocols: string[]) =>
  z
    .string()
    .trim()
    .refine(
      (v) => {
        try {
          return protocols.includes(new URL(v).protocol);
        } catch {
          return false;
        }
      },
      { message: `must be a URL with scheme ${protocols.map((p) => p.replace(':', '')).join(' or ')}` },
    );

const port = z.coerce.number().int().min(0).max(65535);

export const appConfigSchema = z.object({
  PORT: port.default(3000),
  HOST: z.string().trim().min(1).default('0.0.0.0'),
  DATABASE_URL: url(['postgres:', 'postgresql:']).default('postgres://postgres@127.0.0.1:5432/llmfleet'),
  REDIS_URL: url(['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
  /** Prefix for every Redis key and channel (queues, PubSub, sequence numbers), so deployments and test runs can share one Redis. */
  REDIS_PREFIX: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9_.:-]+$/, 'must contain only letters, digits and _ . : -')
    .default('llmfleet'),
  HF_ENDPOINT: url(['http:', 'https:'])
    .default('https://huggingface.co')
    .transform((v) => v.replace(/\/+$/, '')),
  HF_TOKEN: z
    .string()
    .trim()
    .optional()
    .transform((v) => (v ? v : undefined)),
  /** Per-request timeout for calls to the Hub's API. */
  HF_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(5000),
  /** How long a list query waits for Hub stats before answering without them (the fetch goes on and fills the cache). */
  HF_STATS_WAIT_MS: z.coerce.number().int().min(0).max(60_000).default(1000),
  HF_STATS_TTL_MS: z.coerce
    .number()
    .int()
    .min(1000)
    .default(10 * 60 * 1000),
  HF_STATS_CACHE_SIZE: z.coerce.number().int().min(1).default(1000),
  SUPPORTED_MODELS_PATH: z.string().trim().min(1).default('./supported_models.json'),
  EMBEDDED_AGENT: bool('EMBEDDED_AGENT').default(true),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  NODE_ENV: z.string().default('development'),
});

export type AppConfig = z.infer<typeof appConfigSchema>;

export class ConfigValidationError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigValidationError';
  }
}

/** Parses the environment; throws one error that names every variable that is wrong. */
export function parseAppConfig(env: NodeJS.ProcessEnv): AppConfig {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = appConfigSchema.safeParse(cleaned);
  if (result.success) return result.data;
  throw new ConfigValidationError(
    result.error.issues.map((issue) => {
      const name = issue.path.join('.');
      const value = env[name];
      return `${name}=${JSON.stringify(value)}: ${issue.message}`;
    }),
  );
}
