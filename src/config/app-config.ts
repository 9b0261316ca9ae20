import { z } from 'zod';
import { parseNetworks } from '../nodes/agent-url-policy.js';
import { heartbeatTimingProblem } from '../shared/heartbeat-timing.js';
import { nodeNameSchema } from '../shared/node-name.js';
import { byteSize, DEFAULT_V1_BODY_LIMIT } from '../shared/openai/byte-size.js';

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

export const appConfigSchema = z
  .object({
    PORT: port.default(3000),
    HOST: z.string().trim().min(1).default('0.0.0.0'),
    DATABASE_URL: url(['postgres:', 'postgresql:']).default('postgres://postgres@127.0.0.1:5432/llmfleet'),
    REDIS_URL: url(['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
    /** How long start-up waits for Postgres and Redis to answer (retrying with backoff) before it gives up; 0: one try. */
    DEPENDENCY_WAIT_MS: z.coerce
      .number()
      .int()
      .min(0)
      .default(60 * 1000),
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
    /** Shared secret a node presents to join the fleet; unset: one is generated at first start (src/nodes/join-token.service.ts). */
    NODE_JOIN_TOKEN: z
      .string()
      .trim()
      .min(32, 'must be at least 32 characters (use e.g. `openssl rand -base64 32`)')
      .max(512)
      .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces (it travels in an HTTP header)')
      .optional(),
    /** Key that seals stored secrets (control tokens, a generated join token); created at first start (mode 0600). */
    SECRETS_KEY_FILE: z.string().trim().min(1).default('./.llmfleet/secrets-key'),
    /** Networks agent URLs must be in (comma-separated CIDRs); empty: any address but link-local, unspecified, multicast. */
    AGENT_NETWORKS: z
      .string()
      .trim()
      .default('')
      .transform((v, ctx) => {
        try {
          return parseNetworks(v);
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: (err as Error).message });
          return z.NEVER;
        }
      }),
    /** An admin API key that always works (src/auth); long enough that guessing it is hopeless. */
    ADMIN_API_KEY: z
      .string()
      .trim()
      .min(32, 'must be at least 32 characters (use e.g. `openssl rand -base64 32`)')
      .max(512)
      .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces (it travels in an Authorization header)')
      .optional(),
    /** Where the first start writes the admin key it creates when there is no ADMIN_API_KEY and no key stored (mode 0600). */
    ADMIN_KEY_FILE: z.string().trim().min(1).default('./.llmfleet/admin-api-key'),
    /** Browser origins allowed to call the API cross-origin and to open WebSockets (comma-separated); none by default. */
    CORS_ORIGINS: z
      .string()
      .trim()
      .default('')
      .transform((v, ctx) => {
        const origins = v
          .split(',')
          .map((o) => o.trim())
          .filter(Boolean);
        for (const origin of origins) {
          if (!isOrigin(origin)) {
            ctx.addIssue({
              code: 'custom',
              message: `"${origin}" is not an origin like https://dashboard.example.com (scheme, host, optional port; no path)`,
            });
          }
        }
        return origins.map((o) => (isOrigin(o) ? new URL(o).origin : o));
      }),
    /** Trust X-Forwarded-* from a reverse proxy (express `trust proxy`): the session cookie is then Secure behind TLS. */
    TRUST_PROXY: bool('TRUST_PROXY').default(false),
    /** How long a dashboard session (POST /api/session) lasts; never past its key's own expiry. */
    SESSION_TTL_MS: z.coerce
      .number()
      .int()
      .min(60_000)
      .default(12 * 60 * 60 * 1000),
    NODE_HEARTBEAT_INTERVAL_MS: z.coerce.number().int().min(100).max(300_000).default(5000),
    /**
     * A node that has not heartbeaten for this long is OFFLINE. It must leave room for a missed heartbeat and two more
     * full attempts (agent timeout and retry included): src/shared/heartbeat-timing.ts, checked below.
     */
    NODE_OFFLINE_AFTER_MS: z.coerce.number().int().min(300).default(20_000),
    /**
     * A port of its own for heartbeats (`PUT /api/nodes/{id}/heartbeat`), served by a thread with its own event loop and
     * Postgres connection, so heavy work on the main thread never delays them; agents learn its URL when they register.
     * Unset: PORT + 1 (any free port when PORT is 0). 0: any free port. `off`: heartbeats on PORT, one port in all.
     */
    NODE_HEARTBEAT_PORT: z
      .string()
      .trim()
      .transform((v, ctx) => {
        if (v.toLowerCase() === 'off') return 'off' as const;
        const n = Number(v);
        if (/^\d+$/.test(v) && n <= 65535) return n;
        ctx.addIssue({ code: 'custom', message: 'must be a port (0-65535; 0: any free port) or "off"' });
        return z.NEVER;
      })
      .optional(),
    /** The heartbeat listener's URL as agents reach it; unset: the host agents registered with, at NODE_HEARTBEAT_PORT. */
    NODE_HEARTBEAT_PUBLIC_URL: url(['http:', 'https:'])
      .transform((v) => v.replace(/\/+$/, ''))
      .optional(),
    /**
     * GraphQL operations over HTTP executing at once per replica; more wait in a fair queue (0: no limit). A replica
     * runs JavaScript on one thread: more than a couple at once adds no throughput, only heartbeat latency (fleet bench,
     * 500 nodes, 16 heavy clients: heartbeat p99 0.97 s at 2, 3.9 s at 4, same read throughput).
     */
    GRAPHQL_MAX_CONCURRENT: z.coerce.number().int().min(0).max(10_000).default(2),
    /** GraphQL operations waiting for a slot per replica; one more is refused with 503 and Retry-After. */
    GRAPHQL_MAX_QUEUED: z.coerce.number().int().min(0).max(100_000).default(256),
    /** How long a GraphQL operation may wait for a slot before it is refused with 503 and Retry-After. */
    GRAPHQL_QUEUE_TIMEOUT_MS: z.coerce.number().int().min(1).max(600_000).default(30_000),
    DOWNLOAD_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(5),
    /** First retry delay of a download job; doubles each attempt. */
    DOWNLOAD_BACKOFF_MS: z.coerce.number().int().min(10).default(2000),
    /** How long a download for an offline node waits for it to come back before failing. */
    DOWNLOAD_NODE_WAIT_MS: z.coerce
      .number()
      .int()
      .min(0)
      .default(10 * 60 * 1000),
    /** Progress events are coalesced to at most one per node × model per interval. */
    PROGRESS_EVENT_INTERVAL_MS: z.coerce.number().int().min(0).default(250),
    /**
     * Per model and replica, at most one modelStatusChanged carrying progress alone (every node's latest in one event)
     * and one fleetProgressChanged per interval; lifecycle transitions are published at once.
     */
    MODEL_EVENT_INTERVAL_MS: z.coerce.number().int().min(0).default(250),
    /**
     * Fleet-wide budget of agent progress reports per second: agents are told to report no more often than
     * PROGRESS_EVENT_INTERVAL_MS, nor more often than this budget shared over the online nodes allows.
     */
    PROGRESS_REPORTS_PER_SECOND: z.coerce.number().int().min(1).default(50),
    /** A download's deadline: this much plus the time to fetch the model at DOWNLOAD_MIN_BYTES_PER_SECOND... */
    DOWNLOAD_TIMEOUT_BASE_MS: z.coerce.number().int().min(100).default(60_000),
    DOWNLOAD_MIN_BYTES_PER_SECOND: z.coerce
      .number()
      .int()
      .min(1)
      .default(1024 * 1024),
    /** ...extended for as long as progress keeps arriving: past the deadline, this much silence times it out. */
    DOWNLOAD_STALL_MS: z.coerce.number().int().min(100).default(60_000),
    /** Nodes copy model files from peers that hold them verified; the Hub stays the fallback. */
    PEER_COPY: bool('PEER_COPY').default(true),
    /** Uploads one node serves to its peers at once (the copy fans out like a tree). */
    PEER_COPY_MAX_UPLOADS: z.coerce.number().int().min(1).max(64).default(2),
    /** How long a peer-copy grant (one file, one source, one receiver) is valid. */
    PEER_COPY_GRANT_TTL_MS: z.coerce
      .number()
      .int()
      .min(1000)
      .default(15 * 60 * 1000),
    /** How long a BullMQ worker's lock on a job lasts: a worker that dies gives its jobs back after about this long. */
    JOB_LOCK_MS: z.coerce.number().int().min(1000).default(30_000),
    /** Repair file problems without an operator (seed 004); repairModel works by hand either way. */
    AUTO_REPAIR: bool('AUTO_REPAIR').default(true),
    /** Consecutive failed repairs of one node × model after which auto-repair stops for it (a breaker). */
    REPAIR_BREAKER_THRESHOLD: z.coerce.number().int().min(1).default(3),
    /** A failed automatic repair is tried again after this long, until the breaker trips. */
    REPAIR_RETRY_DELAY_MS: z.coerce.number().int().min(0).default(30_000),
    /** A repair's timeout: this much plus the time to fetch the model at REPAIR_MIN_BYTES_PER_SECOND. */
    REPAIR_TIMEOUT_BASE_MS: z.coerce.number().int().min(100).default(60_000),
    REPAIR_MIN_BYTES_PER_SECOND: z.coerce
      .number()
      .int()
      .min(1)
      .default(5 * 1024 * 1024),
    /** Embedded agent (EMBEDDED_AGENT=true): its port (0 = any free port), model directory and node name. */
    AGENT_PORT: port.default(0),
    MODELS_DIR: z.string().trim().min(1).default('./models'),
    NODE_NAME: nodeNameSchema.optional(),
    /** Largest request body `/v1` accepts (bytes, or with kb/mb/gb); past it a 413 in OpenAI's error shape. */
    V1_BODY_LIMIT: byteSize(1024, 1024 ** 3).default(DEFAULT_V1_BODY_LIMIT),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    NODE_ENV: z.string().default('development'),
  })
  .superRefine((c, ctx) => {
    if (typeof c.NODE_HEARTBEAT_PORT === 'number' && c.NODE_HEARTBEAT_PORT !== 0 && c.NODE_HEARTBEAT_PORT === c.PORT) {
      ctx.addIssue({ code: 'custom', path: ['NODE_HEARTBEAT_PORT'], message: 'must differ from PORT (or be unset)' });
    }
    if (c.NODE_HEARTBEAT_PORT === undefined && c.PORT === 65535) {
      ctx.addIssue({
        code: 'custom',
        path: ['NODE_HEARTBEAT_PORT'],
        message: 'unset means PORT + 1, and PORT is 65535: set a port, or "off"',
      });
    }
    const problem = heartbeatTimingProblem(c.NODE_HEARTBEAT_INTERVAL_MS, c.NODE_OFFLINE_AFTER_MS);
    if (problem) ctx.addIssue({ code: 'custom', path: ['NODE_OFFLINE_AFTER_MS'], message: problem });
  });

export type AppConfig = z.infer<typeof appConfigSchema>;

/** The heartbeat listener's port (NODE_HEARTBEAT_PORT; unset: PORT + 1, or any free one when PORT is 0), or null: off. */
export function heartbeatPortOf(config: Pick<AppConfig, 'NODE_HEARTBEAT_PORT' | 'PORT'>): number | null {
  if (config.NODE_HEARTBEAT_PORT === 'off') return null;
  if (config.NODE_HEARTBEAT_PORT !== undefined) return config.NODE_HEARTBEAT_PORT;
  return config.PORT === 0 ? 0 : config.PORT + 1;
}

function isOrigin(value: string): boolean {
  try {
    const url = new URL(value);
    return ['http:', 'https:'].includes(url.protocol) && url.origin === value.replace(/\/$/, '');
  } catch {
    return false;
  }
}

const SECRET_VARIABLES = new Set(['ADMIN_API_KEY', 'NODE_JOIN_TOKEN', 'HF_TOKEN']);

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
      // A secret's value never reaches a log line, even a wrong one (it may be a real key with a typo).
      const shown =
        SECRET_VARIABLES.has(name) && value ? `(hidden, ${value.length} characters)` : JSON.stringify(value);
      return `${name}=${shown}: ${issue.message}`;
    }),
  );
}
