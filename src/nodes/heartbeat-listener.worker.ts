/**
 * The heartbeat listener's thread (NODE_HEARTBEAT_PORT; see heartbeat-listener.ts): `PUT /api/nodes/{id}/heartbeat`
 * authenticated and recorded here, on an event loop of its own with a Postgres connection of its own, so a heartbeat
 * never waits behind what the main thread runs (heavy GraphQL reads, serialization, GC of their garbage). The answer
 * goes out once the one statement committed; the rest (metrics event, model states, a node back ONLINE) is handed to
 * the main thread. Anything else — no or another node's token, an unknown node, a malformed body — is passed to the
 * main port as it came, so every refusal is the one the node protocol documents.
 */
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';
import pg from 'pg';
import { heartbeatSchema } from './node-protocol.schemas.js';
import { RECORD_HEARTBEAT_SQL, recordHeartbeatParams, type RecordedHeartbeatRow } from './heartbeat.statement.js';
import { bearerOf, hashToken } from './node-tokens.js';
import type { HeartbeatFromThread, ListenerInit, ListenerStarted, ToListener } from './heartbeat-listener.js';

const init = workerData as ListenerInit;
const pool = new pg.Pool({ connectionString: init.databaseUrl, max: 4, connectionTimeoutMillis: 10_000 });
pool.on('error', () => undefined);
let progressIntervalMs = init.progressIntervalMs;
let mainPort = 0;
const BODY_LIMIT = 1024 * 1024;
const PATH = /^\/api\/nodes\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\/heartbeat\/?$/i;

parentPort!.on('message', (message: ToListener) => {
  if (message.kind === 'progress') progressIntervalMs = message.progressIntervalMs;
  if (message.kind === 'main-port') mainPort = message.port;
  if (message.kind === 'stop') {
    server.close();
    server.closeAllConnections();
    void pool.end().finally(() => process.exit(0));
  }
});

const server = createServer((req, res) => void handle(req, res));
server.keepAliveTimeout = 30_000;
server.once('error', (err: NodeJS.ErrnoException) => {
  parentPort!.postMessage({ kind: 'failed', code: err.code, message: err.message } satisfies ListenerStarted);
});
server.listen(init.port, init.host, () => {
  const address = server.address();
  parentPort!.postMessage({
    kind: 'listening',
    port: typeof address === 'object' && address ? address.port : 0,
  } satisfies ListenerStarted);
});

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  // This port serves heartbeats and nothing else (it is no second way into the API).
  const match = req.method === 'PUT' ? PATH.exec(req.url ?? '') : null;
  if (!match && !(req.method === 'PUT' && /^\/api\/nodes\/[^/]+\/heartbeat\/?$/.test(req.url ?? ''))) {
    req.resume();
    return answer(res, 404, {
      error: {
        message: `This port serves PUT /api/nodes/{nodeId}/heartbeat only (NODE_HEARTBEAT_PORT); ${req.method} ${req.url} is on the control plane's main port`,
        type: 'invalid_request_error',
        code: 'not_found',
      },
    });
  }
  let body: Buffer;
  try {
    body = await readBody(req);
  } catch {
    return answer(res, 413, {
      error: {
        message: `A heartbeat body is at most ${BODY_LIMIT} bytes`,
        type: 'invalid_request_error',
        code: 'request_too_large',
      },
    });
  }
  const token = bearerOf(req.headers.authorization);
  if (!match || !token || !mainPort) return pass(req, res, body);
  const nodeId = match[1]!;
  let parsed: ReturnType<typeof heartbeatSchema.safeParse>;
  try {
    parsed = heartbeatSchema.safeParse(JSON.parse(body.toString('utf8')));
  } catch {
    return pass(req, res, body);
  }
  if (!parsed.success) return pass(req, res, body);
  const at = new Date();
  const tokenHash = hashToken(token);
  let rows: RecordedHeartbeatRow[];
  try {
    ({ rows } = await pool.query<RecordedHeartbeatRow>(
      RECORD_HEARTBEAT_SQL,
      recordHeartbeatParams(nodeId, tokenHash, at, parsed.data.metrics),
    ));
  } catch {
    // Postgres unreachable from here: the main port answers (and says so, as it would).
    return pass(req, res, body);
  }
  if (rows.length === 0) return pass(req, res, body);
  answer(res, 200, {
    ok: true,
    heartbeatIntervalMs: init.timing.intervalMs,
    heartbeatTimeoutMs: init.timing.timeoutMs,
    heartbeatRetryMs: init.timing.retryMs,
    heartbeatUrl: req.headers.host ? `http://${req.headers.host}` : undefined,
    progressIntervalMs,
  });
  const recorded: HeartbeatFromThread = {
    kind: 'recorded',
    nodeId,
    tokenHash,
    heartbeat: parsed.data,
    previous: rows[0]!.previous,
    previousAt: new Date(rows[0]!.previous_at).getTime(),
    at: at.getTime(),
  };
  parentPort!.postMessage(recorded);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > BODY_LIMIT) {
        req.destroy();
        reject(new Error('too large'));
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** The request as it came, to the main port on this machine; its answer as it comes back. */
function pass(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
  if (!mainPort)
    return answer(res, 503, {
      error: { message: 'The control plane is starting', type: 'server_error', code: 'starting' },
    });
  const headers = { ...req.headers, 'content-length': String(body.length) };
  const upstream = request(
    { host: '127.0.0.1', port: mainPort, method: req.method, path: req.url, headers },
    (reply) => {
      res.writeHead(reply.statusCode ?? 502, reply.headers);
      reply.pipe(res);
    },
  );
  upstream.on('error', (err) =>
    answer(res, 502, {
      error: { message: `The control plane did not answer: ${err.message}`, type: 'server_error', code: 'upstream' },
    }),
  );
  upstream.end(body);
}

function answer(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return void res.end();
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}
