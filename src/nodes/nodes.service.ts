import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, Repository } from 'typeorm';
import { pageLimit, unknownCursor, type Page } from '../common/pagination.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { EventsService } from '../events/events.service.js';
import { Topic } from '../events/topics.js';
import type {
  HeartbeatRequest,
  RegisterNodeRequest,
  RegisterNodeResponse,
  StatesReportRequest,
} from '../shared/agent-protocol.js';
import { AgentUrlRefused, checkAgentUrl } from './agent-url-policy.js';
import { NodeModelStateEntity } from './entities/node-model-state.entity.js';
import { FleetMetrics } from '../metrics/fleet-metrics.service.js';
import { heartbeatTiming, type HeartbeatTiming } from '../shared/heartbeat-timing.js';
import { HeartbeatArrivals } from './heartbeat-arrivals.service.js';
import { NodeEntity } from './entities/node.entity.js';
import { RECORD_HEARTBEAT_SQL, recordHeartbeatParams, type RecordedHeartbeatRow } from './heartbeat.statement.js';
import { describeIssues, heartbeatSchema, registerNodeSchema, statesReportSchema } from './node-protocol.schemas.js';
import { JoinTokenService } from './join-token.service.js';
import { NodeStatus } from './node-status.js';
import { hashToken, newToken, tokenMatches } from './node-tokens.js';
import { NodesError, NodesErrorReason } from './nodes.errors.js';
import { metricsPayload, nodeMetricsPayload, nodeStatusPayload } from './node-events.js';
import { SecretBox } from './secret-box.js';
import { isUuid } from '../common/uuid.js';

const CONTROL_TOKEN = 'control token';

/** The fleet's nodes: who may join, who is who (tokens), who is alive (heartbeats), and their metrics. */
@Injectable()
export class NodesService {
  private readonly logger = new Logger(NodesService.name);
  private readonly rejoinedObservers: Array<(nodeId: string) => Promise<void>> = [];
  private fleetSize = 0;
  private fleetSizeAt = 0;

  constructor(
    @InjectRepository(NodeEntity) private readonly nodes: Repository<NodeEntity>,
    @InjectRepository(NodeModelStateEntity) private readonly states: Repository<NodeModelStateEntity>,
    private readonly events: EventsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly joinTokens: JoinTokenService,
    private readonly box: SecretBox,
    private readonly metrics: FleetMetrics,
    private readonly arrivals: HeartbeatArrivals,
  ) {
    this.timing = heartbeatTiming(config.NODE_HEARTBEAT_INTERVAL_MS, config.NODE_OFFLINE_AFTER_MS);
  }

  /** The agent's heartbeat interval, timeout and retry, agreeing with NODE_OFFLINE_AFTER_MS (shared/heartbeat-timing.ts). */
  readonly timing: HeartbeatTiming;

  /**
   * Another module acts when a known node joins again (its agent restarted, or lost its credentials): the repair
   * tracker sends it the repairs it was running. A node joining for the first time has nothing to be sent.
   */
  onRejoined(observer: (nodeId: string) => Promise<void>): void {
    this.rejoinedObservers.push(observer);
  }

  /**
   * Joins a node, or re-joins it. With its own credentials (node id + node token) a node keeps its id and tokens. Any
   * other join needs the join token; under a name that is taken it takes that node over with two fresh tokens, so the
   * old node and control tokens die at once and nothing of the old node's credentials is ever handed out. Nothing is
   * written before the caller is authorised and the body (URL included) is valid.
   */
  async register(body: unknown, joinToken: string | null): Promise<RegisterNodeResponse> {
    const parsed = registerNodeSchema.safeParse(body);
    const claimed = parsed.success ? parsed.data : null;
    const known = claimed?.nodeId && claimed.nodeToken ? await this.find(claimed.nodeId) : null;
    const provenByToken = known !== null && tokenMatches(claimed!.nodeToken!, known.tokenHash);
    // Who may join is checked before what they send: an outsider learns nothing from validation errors.
    if (!provenByToken) await this.joinTokens.check(joinToken);
    if (!parsed.success) {
      throw new NodesError(
        NodesErrorReason.INVALID_REGISTRATION,
        `Invalid registration: ${describeIssues(parsed.error)}`,
      );
    }
    const req: RegisterNodeRequest = parsed.data;
    const url = await this.checkUrl(req.url);

    const now = new Date();
    const existing = provenByToken ? known : await this.nodes.findOneBy({ name: req.name });
    if (provenByToken && known.name !== req.name && (await this.nodes.existsBy({ name: req.name }))) {
      throw new NodesError(
        NodesErrorReason.NODE_NAME_TAKEN,
        `Node ${known.name} cannot take the name ${req.name}: another node has it`,
        { field: 'name', value: req.name },
      );
    }
    const nodeToken = provenByToken ? req.nodeToken! : newToken();
    let controlToken = provenByToken ? await this.openControlToken(known).catch(() => null) : null;
    controlToken ??= newToken();
    const fields = {
      name: req.name,
      url,
      status: NodeStatus.ONLINE,
      capacity: req.capacity,
      memoryBytes: req.capacity.memoryBytes,
      lastHeartbeatAt: now,
      tokenHash: hashToken(nodeToken),
      controlTokenSealed: await this.box.seal(controlToken, CONTROL_TOKEN),
    };
    let node: NodeEntity;
    if (existing) {
      await this.nodes.update({ id: existing.id }, fields);
      node = await this.nodes.findOneByOrFail({ id: existing.id });
      if (!provenByToken)
        this.logger.warn(`Node ${node.name} (${node.id}) re-joined with the join token: its tokens were rotated`);
    } else {
      node = await this.nodes.save(this.nodes.create({ ...fields, metrics: null }));
    }
    await this.publishStatus(node);
    for (const rejoined of existing ? this.rejoinedObservers : []) {
      await rejoined(node.id).catch((err: unknown) =>
        this.logger.error(`After node ${node.name} joined again: ${(err as Error).message}`),
      );
    }
    return {
      nodeId: node.id,
      nodeToken,
      controlToken,
      heartbeatIntervalMs: this.config.NODE_HEARTBEAT_INTERVAL_MS,
      heartbeatTimeoutMs: this.timing.timeoutMs,
      heartbeatRetryMs: this.timing.retryMs,
    };
  }

  /**
   * The token the control plane presents to this node's agent. One that cannot be opened (SECRETS_KEY_FILE changed)
   * also invalidates the node's token, so its agent is refused at its next heartbeat and re-joins with fresh tokens.
   */
  async controlTokenOf(node: NodeEntity): Promise<string> {
    try {
      return await this.openControlToken(node);
    } catch (err) {
      await this.nodes.update({ id: node.id }, { tokenHash: '' }).catch(() => undefined);
      throw err;
    }
  }

  /** Checks an agent's URL (scheme, credentials, address rules, AGENT_NETWORKS); the normalised URL without a trailing slash. */
  async checkUrl(raw: string): Promise<string> {
    try {
      await checkAgentUrl(raw, this.config.AGENT_NETWORKS);
    } catch (err) {
      if (!(err instanceof AgentUrlRefused)) throw err;
      throw new NodesError(NodesErrorReason.AGENT_URL_REFUSED, err.message, { field: 'url', value: err.url });
    }
    return raw.replace(/\/+$/, '');
  }

  private openControlToken(node: NodeEntity): Promise<string> {
    return this.box.open(node.controlTokenSealed, CONTROL_TOKEN);
  }

  /** The node this bearer token belongs to; a node may only speak for itself. */
  async authenticate(nodeId: string, token: string | null): Promise<NodeEntity> {
    if (!token) {
      throw new NodesError(NodesErrorReason.NODE_TOKEN_MISSING, 'Authorization: Bearer <nodeToken> is required');
    }
    const node = isUuid(nodeId) ? await this.nodes.findOneBy({ id: nodeId }) : null;
    if (!node) throw this.notFound(nodeId);
    if (!tokenMatches(token, node.tokenHash)) {
      throw new NodesError(NodesErrorReason.NODE_TOKEN_INVALID, `The token does not belong to node ${nodeId}`, {
        nodeId,
      });
    }
    return node;
  }

  /**
   * A heartbeat, authenticated and recorded in one statement on the node's row (no entity loaded): liveness, metrics,
   * and the status before, so nodeStatusChanged goes out only when the node comes back. Every refusal (no token,
   * unknown node, another node's token, a malformed body) is the one `authenticate` and `heartbeat` give.
   */
  async recordHeartbeat(nodeId: string, token: string | null, body: unknown): Promise<HeartbeatRequest> {
    const parsed = heartbeatSchema.safeParse(body);
    if (!token || !isUuid(nodeId) || !parsed.success)
      return this.heartbeat(await this.authenticate(nodeId, token), body);
    const now = new Date();
    const metrics = parsed.data.metrics;
    const tokenHash = hashToken(token);
    const rows = await this.nodes.query<RecordedHeartbeatRow[]>(
      RECORD_HEARTBEAT_SQL,
      recordHeartbeatParams(nodeId, tokenHash, now, metrics),
    );
    // Not this node's token, or no such node: the slow path says which.
    if (rows.length === 0) {
      this.arrivals.forget(nodeId);
      return this.heartbeat(await this.authenticate(nodeId, token), body);
    }
    // Its next heartbeats count from the moment they reach this replica (HeartbeatArrivals).
    this.arrivals.remember(nodeId, tokenHash);
    this.metrics.heartbeatGap.observe((now.getTime() - new Date(rows[0]!.previous_at).getTime()) / 1000);
    if (rows[0]!.previous === NodeStatus.OFFLINE) {
      const node = await this.nodes.findOneBy({ id: nodeId });
      if (node) await this.publishStatus(node);
    }
    // Not awaited: the answer to the agent does not wait for subscribers (one Redis connection keeps their order).
    void this.events.publishSafely(Topic.METRICS_UPDATED, metricsPayload(nodeId, metrics));
    return parsed.data;
  }

  /**
   * What follows a heartbeat the heartbeat listener's thread recorded (heartbeat-listener.ts): the same as after
   * recordHeartbeat's statement, on the main thread.
   */
  async afterRecordedHeartbeat(
    nodeId: string,
    tokenHash: string,
    heartbeat: HeartbeatRequest,
    previous: string,
    previousAt: number,
    at: number,
  ): Promise<void> {
    this.arrivals.remember(nodeId, tokenHash);
    this.metrics.heartbeatGap.observe((at - previousAt) / 1000);
    if (previous === (NodeStatus.OFFLINE as string)) {
      const node = await this.nodes.findOneBy({ id: nodeId });
      if (node) await this.publishStatus(node);
    }
    void this.events.publishSafely(Topic.METRICS_UPDATED, metricsPayload(nodeId, heartbeat.metrics));
  }

  /** The node this bearer token belongs to, by id only (state reports need nothing else of it). */
  async authenticateId(nodeId: string, token: string | null): Promise<string> {
    if (token && isUuid(nodeId)) {
      const rows = await this.nodes.query<Array<{ token_hash: string }>>('SELECT token_hash FROM nodes WHERE id = $1', [
        nodeId,
      ]);
      if (rows[0] && tokenMatches(token, rows[0].token_hash)) return nodeId;
    }
    return (await this.authenticate(nodeId, token)).id;
  }

  /** Records liveness and metrics; returns the validated heartbeat for the caller to apply model states. */
  async heartbeat(node: NodeEntity, body: unknown): Promise<HeartbeatRequest> {
    const parsed = heartbeatSchema.safeParse(body);
    if (!parsed.success) {
      throw new NodesError(NodesErrorReason.INVALID_HEARTBEAT, `Invalid heartbeat: ${describeIssues(parsed.error)}`);
    }
    const wasOffline = node.status === NodeStatus.OFFLINE;
    const previous = node.lastHeartbeatAt;
    node.status = NodeStatus.ONLINE;
    node.lastHeartbeatAt = new Date();
    this.metrics.heartbeatGap.observe((node.lastHeartbeatAt.getTime() - previous.getTime()) / 1000);
    node.metrics = parsed.data.metrics;
    await this.nodes.update(
      { id: node.id },
      { status: node.status, lastHeartbeatAt: node.lastHeartbeatAt, metrics: node.metrics },
    );
    if (wasOffline) await this.publishStatus(node);
    await this.events.publishSafely(Topic.METRICS_UPDATED, nodeMetricsPayload(node));
    return parsed.data;
  }

  /**
   * Marks every node silent for longer than `silenceMs` (NODE_OFFLINE_AFTER_MS, plus what the liveness sweep grants
   * for a stalled replica) offline, atomically, so one replica reports each.
   */
  async sweepOffline(
    silenceMs = this.config.NODE_OFFLINE_AFTER_MS,
    /** Nodes whose heartbeat reached a replica within the threshold (HeartbeatArrivals): alive, however late recorded. */
    alive: readonly string[] = [],
  ): Promise<NodeEntity[]> {
    const cutoff = new Date(Date.now() - silenceMs);
    const query = this.nodes
      .createQueryBuilder()
      .update(NodeEntity)
      .set({ status: NodeStatus.OFFLINE })
      .where('status = :online AND last_heartbeat_at < :cutoff', { online: NodeStatus.ONLINE, cutoff });
    const arrived = alive.filter(isUuid);
    if (arrived.length) query.andWhere('id <> ALL(CAST(:arrived AS uuid[]))', { arrived });
    const rows = await query.returning('id').execute();
    const ids = (rows.raw as Array<{ id: string }>).map((r) => r.id);
    if (ids.length === 0) return [];
    const offline = await this.nodes.findBy({ id: In(ids) });
    for (const node of offline) await this.publishStatus(node);
    return offline;
  }

  get heartbeatIntervalMs(): number {
    return this.config.NODE_HEARTBEAT_INTERVAL_MS;
  }

  /**
   * How often each agent should push download progress: PROGRESS_EVENT_INTERVAL_MS, stretched so that the whole fleet
   * stays within PROGRESS_REPORTS_PER_SECOND (500 nodes downloading must not become thousands of requests a second).
   */
  get progressIntervalMs(): number {
    this.refreshFleetSize();
    const share = (this.fleetSize / this.config.PROGRESS_REPORTS_PER_SECOND) * 1000;
    return Math.max(this.config.PROGRESS_EVENT_INTERVAL_MS, Math.ceil(share), 100);
  }

  parseStatesReport(body: unknown): StatesReportRequest {
    const parsed = statesReportSchema.safeParse(body);
    if (!parsed.success) {
      throw new NodesError(NodesErrorReason.INVALID_HEARTBEAT, `Invalid state report: ${describeIssues(parsed.error)}`);
    }
    return parsed.data;
  }

  /** The number of online nodes, counted at most every few seconds (it only paces progress reports). */
  private refreshFleetSize(): void {
    if (Date.now() - this.fleetSizeAt < 5000) return;
    this.fleetSizeAt = Date.now();
    this.nodes
      .countBy({ status: NodeStatus.ONLINE })
      .then((n) => (this.fleetSize = n))
      .catch(() => undefined);
  }

  async list(status?: NodeStatus | null): Promise<NodeEntity[]> {
    return this.nodes.find({ where: status ? { status } : {}, order: { name: 'ASC' } });
  }

  /** A page of nodes in name order (names are unique), after the node whose id is `page.after`. */
  async page(status: NodeStatus | null | undefined, page: Page): Promise<NodeEntity[]> {
    const limit = pageLimit(page.first);
    const query = this.nodes.createQueryBuilder('n').orderBy('n.name', 'ASC').addOrderBy('n.id', 'ASC');
    if (status) query.andWhere('n.status = :status', { status });
    if (page.after !== undefined && page.after !== null) {
      const cursor = await this.find(page.after);
      if (!cursor) throw unknownCursor(page.after, 'node');
      query.andWhere('(n.name, n.id) > (:name, :id)', { name: cursor.name, id: cursor.id });
    }
    if (limit !== null) query.limit(limit);
    return query.getMany();
  }

  /** How many nodes are in each status. */
  async countByStatus(): Promise<Map<NodeStatus, number>> {
    const rows = await this.nodes.query<Array<{ status: NodeStatus; n: number }>>(
      'SELECT status, count(*)::int AS n FROM nodes GROUP BY status',
    );
    const counts = new Map<NodeStatus, number>(Object.values(NodeStatus).map((s) => [s, 0]));
    for (const r of rows) counts.set(r.status, r.n);
    return counts;
  }

  async find(id: string): Promise<NodeEntity | null> {
    return isUuid(id) ? this.nodes.findOneBy({ id }) : null;
  }

  /** The node with this id; an unknown one is refused naming the argument it came in (`field`). */
  async getOne(id: string, field = 'nodeId'): Promise<NodeEntity> {
    const node = await this.find(id);
    if (!node) {
      throw new NodesError(NodesErrorReason.NODE_NOT_FOUND, `Unknown node id: ${id}`, { field, value: id });
    }
    return node;
  }

  /** The nodes with these ids, in order; unknown ids are refused, each named. */
  async getMany(ids: readonly string[]): Promise<NodeEntity[]> {
    const valid = ids.filter((id) => isUuid(id));
    const found = valid.length ? await this.nodes.findBy({ id: In(valid) }) : [];
    const missing = ids.filter((id) => !found.some((n) => n.id === id));
    if (missing.length) {
      throw new NodesError(NodesErrorReason.NODE_NOT_FOUND, `Unknown node id(s): ${missing.join(', ')}`, {
        field: 'nodeIds',
        value: missing,
      });
    }
    return ids.map((id) => found.find((n) => n.id === id)!);
  }

  /** nodeStatusChanged for these nodes, with two queries whatever their number. */
  async publishStatusOf(nodeIds: readonly string[]): Promise<void> {
    if (nodeIds.length === 0) return;
    const [nodes, states] = await Promise.all([
      this.nodes.findBy({ id: In([...nodeIds]) }),
      this.states.find({ where: { nodeId: In([...nodeIds]) }, order: { modelId: 'ASC' } }),
    ]);
    const byNode = new Map<string, NodeModelStateEntity[]>();
    for (const s of states) {
      const group = byNode.get(s.nodeId);
      if (group) group.push(s);
      else byNode.set(s.nodeId, [s]);
    }
    for (let i = 0; i < nodes.length; i += 256) {
      await Promise.all(
        nodes
          .slice(i, i + 256)
          .map((node) =>
            this.events.publishSafely(Topic.NODE_STATUS_CHANGED, nodeStatusPayload(node, byNode.get(node.id) ?? [])),
          ),
      );
    }
  }

  async publishStatus(node: NodeEntity): Promise<void> {
    const models = await this.states.find({ where: { nodeId: node.id }, order: { modelId: 'ASC' } });
    await this.events.publishSafely(Topic.NODE_STATUS_CHANGED, nodeStatusPayload(node, models));
  }

  private notFound(nodeId: string): NodesError {
    return new NodesError(NodesErrorReason.NODE_NOT_FOUND, `No node with id "${nodeId}"`, {
      field: 'nodeId',
      value: nodeId,
    });
  }
}
