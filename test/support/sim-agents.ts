import {
  Agent as HttpAgent,
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type {
  AgentDownloadRequest,
  AgentModelState,
  HeartbeatRequest,
  HeartbeatResponse,
  RegisterNodeRequest,
  RegisterNodeResponse,
  StatesReportResponse,
} from '../../src/shared/agent-protocol.js';
import { heartbeatRetryMs } from '../../src/shared/heartbeat-timing.js';
import type { ControlPlaneTarget } from './fleet.js';

const GiB = 1024 ** 3;

export interface SimFleetOptions {
  /** Control-plane replicas: node i speaks to replica i % length, as agents behind a load balancer would spread. */
  replicaUrls: readonly string[];
  joinToken: string;
  /** How long a simulated transfer lasts, from the download command to READY. */
  downloadMs: number;
  /** A download command this node's agent refuses (503, counted in `refused`) instead of starting it. */
  refuse?: (nodeIndex: number, modelId: string) => boolean;
}

/** One heartbeat attempt as the agent saw it. */
export interface HeartbeatSample {
  at: number;
  ms: number;
  ok: boolean;
}

/** A download a simulated agent was asked for: when, and when the control plane acknowledged its READY. */
export interface DownloadRecord {
  nodeIndex: number;
  modelId: string;
  commandAt: number;
  readyAckedAt: number | null;
}

interface Download {
  modelId: string;
  bytesTotal: number;
  startedAt: number;
  done: boolean;
}

/**
 * A simulated agent speaking the real node protocol over HTTP, with no files: it registers with the join token,
 * heartbeats at the interval the control plane gives (fixed cadence, each attempt given up and a failed one retried
 * after the timeout and retry delay the control plane gives, as `src/agent/node-agent.ts` does) with the state of every model it holds, serves
 * `POST /v1/agent/downloads` on an HTTP server of its own (202 with `Prefer: respond-async`), then pushes the
 * transfer's states (`POST /api/nodes/{id}/states`: DOWNLOADING at once, progress at the pace the control plane asks,
 * READY after `downloadMs`).
 */
class SimAgent {
  nodeId = '';
  private nodeToken = '';
  private controlToken = '';
  private server: Server | null = null;
  private url = '';
  private heartbeatMs = 5000;
  private heartbeatTimeoutMs: number | null = null;
  private heartbeatRetryMs: number | null = null;
  /** The control plane's heartbeat listener, when it names one; after a failed attempt, its own URL (as the agent). */
  private heartbeatUrl: string | null = null;
  private heartbeatFailed = false;
  private progressMs = 1000;
  private version = 0;
  private timer: NodeJS.Timeout | null = null;
  private pushTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Every model this node holds or is fetching, as it would report it. */
  readonly models = new Map<string, AgentModelState>();
  private readonly downloads = new Map<string, Download>();
  /** States not yet pushed (per model, the latest). */
  private readonly unpushed = new Map<string, AgentModelState>();

  constructor(
    readonly index: number,
    readonly name: string,
    private readonly fleet: SimFleet,
    private readonly controlPlane: string,
  ) {}

  private nextVersion(): number {
    this.version = Math.max(this.version + 1, Date.now() * 1000);
    return this.version;
  }

  async start(held: readonly string[], bytesPerModel: number): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 30_000;
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
    for (const modelId of held) {
      this.models.set(modelId, {
        modelId,
        lifecycleStatus: 'READY',
        bytesDone: bytesPerModel,
        bytesTotal: bytesPerModel,
        filePath: `/models/${modelId}.gguf`,
        errorCode: null,
        errorMessage: null,
        version: this.nextVersion(),
      });
    }
    const body: RegisterNodeRequest = {
      name: this.name,
      url: this.url,
      protocolVersion: 1,
      capacity: {
        gpus: [{ name: 'Simulated GPU', vramTotalBytes: 80 * GiB }],
        vramTotalBytes: 80 * GiB,
        ramTotalBytes: 256 * GiB,
        cpuCount: 32,
        platform: 'linux',
        memoryBytes: 80 * GiB,
      },
    };
    const res = await this.call<RegisterNodeResponse>('POST', '/api/nodes/register', body, {
      'x-llmfleet-join-token': this.fleet.options.joinToken,
    });
    this.nodeId = res.nodeId;
    this.nodeToken = res.nodeToken;
    this.controlToken = res.controlToken;
    this.learnTiming(res);
    if (res.progressIntervalMs) this.progressMs = res.progressIntervalMs;
    // The first heartbeat at once (it carries the models), then on a cadence spread over the interval.
    await this.heartbeat();
    this.timer = setTimeout(() => void this.beat(), Math.random() * this.heartbeatMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.pushTimer) clearTimeout(this.pushTimer);
    await new Promise<void>((resolve) => {
      if (!this.server) return resolve();
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }

  /** One heartbeat on the agent's cadence: the next is due an interval after this one started, a failed one sooner. */
  private async beat(): Promise<void> {
    if (this.stopped) return;
    const started = Date.now();
    const ok = await this.heartbeat();
    if (this.stopped) return;
    const retryMs = this.heartbeatRetryMs ?? heartbeatRetryMs(this.heartbeatMs);
    const delay = ok ? Math.max(0, this.heartbeatMs - (Date.now() - started)) : retryMs;
    this.timer = setTimeout(() => void this.beat(), delay);
  }

  private async heartbeat(): Promise<boolean> {
    const body: HeartbeatRequest = {
      metrics: {
        gpuUsage: 12,
        vramUsedBytes: 10 * GiB,
        vramTotalBytes: 80 * GiB,
        cpuUsage: 7,
        ramUsedBytes: 12 * GiB,
        ramTotalBytes: 256 * GiB,
        requestCount: 0,
      },
      models: [...this.models.values()],
    };
    const t0 = performance.now();
    try {
      const res = await this.call<HeartbeatResponse>(
        'PUT',
        `/api/nodes/${this.nodeId}/heartbeat`,
        body,
        { authorization: `Bearer ${this.nodeToken}` },
        this.heartbeatTimeoutMs ?? Math.max(5000, 2 * this.heartbeatMs),
        (!this.heartbeatFailed && this.heartbeatUrl) || this.controlPlane,
      );
      this.learnTiming(res);
      if (res.progressIntervalMs) this.progressMs = res.progressIntervalMs;
      this.fleet.heartbeats.push({ at: Date.now(), ms: performance.now() - t0, ok: true });
      // A heartbeat carries every state: a READY the pushes have not delivered yet arrived with it.
      this.acknowledged(body.models);
      return true;
    } catch (err) {
      this.heartbeatFailed = true;
      this.fleet.heartbeats.push({ at: Date.now(), ms: performance.now() - t0, ok: false });
      this.fleet.heartbeatErrors.push(`${this.name}: ${(err as Error).message}`);
      return false;
    }
  }

  private learnTiming(res: HeartbeatResponse | RegisterNodeResponse): void {
    this.heartbeatMs = res.heartbeatIntervalMs;
    this.heartbeatTimeoutMs = res.heartbeatTimeoutMs ?? null;
    this.heartbeatRetryMs = res.heartbeatRetryMs ?? null;
    this.heartbeatUrl = res.heartbeatUrl ?? null;
    this.heartbeatFailed = false;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const answer = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.headers.authorization !== `Bearer ${this.controlToken}`) return answer(401, { error: 'bad control token' });
    if (req.method !== 'POST' || req.url !== '/v1/agent/downloads') return answer(404, { error: 'not simulated' });
    if (req.headers.prefer !== 'respond-async')
      return answer(400, { error: 'the simulation answers respond-async only' });
    const request = JSON.parse(Buffer.concat(chunks).toString('utf8')) as AgentDownloadRequest;
    if (this.fleet.options.refuse?.(this.index, request.modelId)) {
      this.fleet.refused.push({ nodeIndex: this.index, modelId: request.modelId });
      return answer(503, { error: 'refused by the simulation' });
    }
    answer(202, { accepted: true, state: this.startDownload(request) });
  }

  /** Starts (or joins) a simulated transfer; the state the agent holds right now. */
  private startDownload(request: AgentDownloadRequest): AgentModelState {
    const key = `${this.index}\u0000${request.modelId}`;
    const count = (this.fleet.commands.get(key) ?? 0) + 1;
    this.fleet.commands.set(key, count);
    const current = this.models.get(request.modelId);
    if (current && (current.lifecycleStatus === 'READY' || this.downloads.has(request.modelId))) return current;
    const bytesTotal = request.files.reduce((sum, f) => sum + f.size, 0);
    const now = Date.now();
    this.downloads.set(request.modelId, { modelId: request.modelId, bytesTotal, startedAt: now, done: false });
    this.fleet.records.push({ nodeIndex: this.index, modelId: request.modelId, commandAt: now, readyAckedAt: null });
    const state = this.setState(request.modelId, 'DOWNLOADING', 0, bytesTotal);
    this.schedulePush(10);
    setTimeout(() => this.finish(request.modelId), this.fleet.options.downloadMs).unref();
    return state;
  }

  private finish(modelId: string): void {
    const download = this.downloads.get(modelId);
    if (!download || this.stopped) return;
    download.done = true;
    this.setState(modelId, 'READY', download.bytesTotal, download.bytesTotal, `/models/${modelId}.gguf`);
    this.schedulePush(0);
  }

  private setState(
    modelId: string,
    lifecycleStatus: AgentModelState['lifecycleStatus'],
    bytesDone: number,
    bytesTotal: number,
    filePath: string | null = null,
  ): AgentModelState {
    const state: AgentModelState = {
      modelId,
      lifecycleStatus,
      bytesDone,
      bytesTotal,
      filePath,
      errorCode: null,
      errorMessage: null,
      version: this.nextVersion(),
    };
    this.models.set(modelId, state);
    this.unpushed.set(modelId, state);
    return state;
  }

  private schedulePush(delayMs: number): void {
    if (this.pushTimer && delayMs > 10) return;
    if (this.pushTimer) clearTimeout(this.pushTimer);
    this.pushTimer = setTimeout(() => void this.push(), delayMs);
  }

  /** Pushes what changed, then schedules the next progress report while transfers run. */
  private async push(): Promise<void> {
    this.pushTimer = null;
    if (this.stopped) return;
    const now = Date.now();
    for (const d of this.downloads.values()) {
      if (d.done) continue;
      const done = Math.floor(d.bytesTotal * Math.min(0.99, (now - d.startedAt) / this.fleet.options.downloadMs));
      this.setState(d.modelId, 'DOWNLOADING', done, d.bytesTotal);
    }
    const batch = [...this.unpushed.values()];
    this.unpushed.clear();
    if (batch.length > 0) {
      const t0 = performance.now();
      try {
        const res = await this.call<StatesReportResponse>(
          'POST',
          `/api/nodes/${this.nodeId}/states`,
          { models: batch },
          { authorization: `Bearer ${this.nodeToken}` },
        );
        this.progressMs = res.progressIntervalMs;
        this.fleet.pushes.push(performance.now() - t0);
        this.acknowledged(batch);
      } catch (err) {
        this.fleet.pushErrors.push(`${this.name}: ${(err as Error).message}`);
        // The next push (or the heartbeat) carries them again, unless newer ones are pending (pushes may overlap).
        for (const s of batch) {
          const pending = this.unpushed.get(s.modelId);
          if (!pending || pending.version < s.version) this.unpushed.set(s.modelId, s);
        }
      }
    }
    if (this.stopped) return;
    if ([...this.downloads.values()].some((d) => !d.done)) this.schedulePush(this.progressMs);
    else if (this.unpushed.size > 0) this.schedulePush(1000);
  }

  /** The control plane took these states: a READY among them ends its download's record. */
  private acknowledged(states: readonly AgentModelState[]): void {
    const acked = Date.now();
    for (const s of states) {
      if (s.lifecycleStatus !== 'READY' || !this.downloads.has(s.modelId)) continue;
      this.downloads.delete(s.modelId);
      const record = this.fleet.records.find(
        (r) => r.nodeIndex === this.index && r.modelId === s.modelId && r.readyAckedAt === null,
      );
      if (record) record.readyAckedAt = acked;
    }
  }

  /**
   * One call to the control plane on a kept-alive connection (node:http, not fetch: 500 agents in one process must
   * cost the machine little, or the simulator, not the control plane, is what the benchmark measures).
   */
  private call<T>(
    method: string,
    path: string,
    body: unknown,
    headers: Record<string, string>,
    timeoutMs = 10_000,
    baseUrl = this.controlPlane,
  ): Promise<T> {
    const payload = JSON.stringify(body);
    return new Promise<T>((resolve, reject) => {
      const req = httpRequest(
        `${baseUrl}${path}`,
        {
          method,
          agent: this.fleet.httpAgent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...headers },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', fail);
          res.on('end', () => {
            clearTimeout(timer);
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            if (status < 200 || status >= 300)
              return reject(new Error(`${method} ${path} → ${status}: ${text.slice(0, 200)}`));
            try {
              resolve(JSON.parse(text) as T);
            } catch (err) {
              reject(err instanceof Error ? err : new Error(String(err)));
            }
          });
        },
      );
      const timer = setTimeout(
        () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)),
        timeoutMs,
      );
      function fail(err: Error) {
        clearTimeout(timer);
        reject(err);
      }
      req.on('error', fail);
      req.end(payload);
    });
  }
}

/** Many simulated agents in one process (one small HTTP server each), and what they observed. */
export class SimFleet {
  readonly agents: SimAgent[] = [];
  /** Kept-alive connections shared by every simulated agent (each request still says which node it speaks for). */
  readonly httpAgent = new HttpAgent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 1024 });
  readonly heartbeats: HeartbeatSample[] = [];
  readonly heartbeatErrors: string[] = [];
  readonly pushes: number[] = [];
  readonly pushErrors: string[] = [];
  /** Download commands received per node index × model (more than one: a duplicate dispatch). */
  readonly commands = new Map<string, number>();
  readonly records: DownloadRecord[] = [];
  /** Download commands refused (SimFleetOptions.refuse). */
  readonly refused: Array<{ nodeIndex: number; modelId: string }> = [];

  constructor(readonly options: SimFleetOptions) {}

  /** Starts agents until there are `count`, `parallel` joining at a time; each holds the models `held(i)` READY. */
  async grow(count: number, held: (i: number) => string[], bytesPerModel: number, parallel = 25): Promise<void> {
    const indexes = Array.from({ length: Math.max(0, count - this.agents.length) }, (_, k) => this.agents.length + k);
    const created = indexes.map(
      (i) =>
        new SimAgent(
          i,
          `sim-node-${String(i).padStart(3, '0')}`,
          this,
          this.options.replicaUrls[i % this.options.replicaUrls.length]!,
        ),
    );
    this.agents.push(...created);
    for (let k = 0; k < created.length; k += parallel) {
      await Promise.all(created.slice(k, k + parallel).map((a) => a.start(held(a.index), bytesPerModel)));
    }
  }

  nodeIds(): Set<string> {
    return new Set(this.agents.map((a) => a.nodeId));
  }

  /** Download commands beyond the first per node × model. */
  duplicateCommands(): number {
    let extra = 0;
    for (const n of this.commands.values()) extra += n - 1;
    return extra;
  }

  async stop(): Promise<void> {
    await Promise.all(this.agents.map((a) => a.stop()));
    this.httpAgent.destroy();
  }
}

/**
 * A node that speaks the real agent protocol over HTTP (register, heartbeat, state reports) without being an agent
 * process: many of them cost a test nothing, and what they report is exactly what the test says.
 */
export class SimulatedNode {
  private version = Date.now() * 1000;

  private constructor(
    private readonly app: ControlPlaneTarget,
    readonly name: string,
    readonly id: string,
    private readonly token: string,
  ) {}

  static async join(app: ControlPlaneTarget, name: string): Promise<SimulatedNode> {
    const body: RegisterNodeRequest = {
      name,
      url: 'http://127.0.0.1:9',
      protocolVersion: 1,
      capacity: {
        gpus: [],
        vramTotalBytes: 0,
        ramTotalBytes: 64 * GiB,
        cpuCount: 8,
        platform: 'linux',
        memoryBytes: 64 * GiB,
      },
    };
    const joinToken = app.config.NODE_JOIN_TOKEN;
    const res = await callControlPlane<RegisterNodeResponse>(
      `${app.url}/api/nodes/register`,
      'POST',
      body,
      joinToken ? { 'x-llmfleet-join-token': joinToken } : {},
    );
    return new SimulatedNode(app, name, res.nodeId, res.nodeToken);
  }

  /** A state report for a model, versioned after every earlier one of this node. */
  state(modelId: string, lifecycleStatus: string, bytesDone: number, bytesTotal: number): AgentModelState {
    return {
      modelId,
      lifecycleStatus: lifecycleStatus as AgentModelState['lifecycleStatus'],
      bytesDone,
      bytesTotal,
      filePath: null,
      errorCode: null,
      errorMessage: null,
      version: ++this.version,
    };
  }

  async heartbeat(models: AgentModelState[] = []): Promise<void> {
    const body: HeartbeatRequest = {
      metrics: {
        gpuUsage: null,
        vramUsedBytes: 0,
        vramTotalBytes: 0,
        cpuUsage: 5,
        ramUsedBytes: 1,
        ramTotalBytes: 64 * GiB,
        requestCount: 0,
      },
      models,
    };
    await callControlPlane(`${this.app.url}/api/nodes/${this.id}/heartbeat`, 'PUT', body, this.auth());
  }

  /** Progress between heartbeats, as an agent pushes it while downloading. */
  async report(models: AgentModelState[]): Promise<void> {
    await callControlPlane(`${this.app.url}/api/nodes/${this.id}/states`, 'POST', { models }, this.auth());
  }

  private auth(): Record<string, string> {
    return { authorization: `Bearer ${this.token}` };
  }
}

async function callControlPlane<T>(
  url: string,
  method: 'POST' | 'PUT',
  body: unknown,
  headers: Record<string, string>,
): Promise<T> {
  const res = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}
