import type { Logger } from 'pino';
import type {
  AgentRepairRequest,
  AgentRepairTag,
  AgentVerifyResponse,
  FailureReport,
  FailureReportResponse,
} from '../shared/agent-protocol.js';
import { ModelLoadError } from '../shared/model-load-error.js';
import type { ControlPlaneClient } from './control-plane.client.js';
import { sha256OfFile } from './download/file-hasher.js';
import type { ModelManager } from './model-manager.js';

/** How the agent answers requests for a model that is broken here (seed 004). */
export type Availability =
  | { kind: 'AVAILABLE' }
  | { kind: 'REPAIRING'; retryAfterSeconds: number }
  | { kind: 'REPAIR_TIMED_OUT'; reason: string }
  | { kind: 'REPAIR_FAILED'; reason: string }
  | { kind: 'UNAVAILABLE'; code: ModelLoadError | null; reason: string };

interface RepairState {
  status: 'IN_PROGRESS' | 'FAILED';
  /** IN_PROGRESS: when the repair must be done. FAILED: until when that verdict stands before a new report may go. */
  deadline: number;
  retryAfterSeconds: number;
  reason: string;
  timedOut: boolean;
}

/**
 * The agent's half of repair: reports failures (one report per model at a time, however many requests hit it),
 * remembers what the control plane decided, runs the repairs it is sent within their deadline, and verifies sha256.
 */
export class RepairCoordinator {
  private readonly repairs = new Map<string, RepairState>();
  private readonly reports = new Map<string, Promise<FailureReportResponse>>();
  /** Failures without a repair (auto-repair off, CONTEXT_FAILED): answered as such until the model is fetched again. */
  private readonly unavailable = new Map<string, { code: ModelLoadError; reason: string }>();
  /** The repair (and attempt) running per model, so that the same request again joins it. */
  private readonly running = new Map<string, { repairId: string; attempt: number; done: Promise<void> }>();

  constructor(
    private readonly models: ModelManager,
    private readonly controlPlane: ControlPlaneClient,
    private readonly unload: (modelId: string) => Promise<void>,
    private readonly log: Logger,
    /** How long a failed repair's verdict is answered before the next request reports the model again. */
    private readonly retryFailedAfterMs = 60_000,
  ) {}

  availability(modelId: string): Availability {
    const repair = this.repairs.get(modelId);
    if (repair?.status === 'IN_PROGRESS') {
      return Date.now() < repair.deadline
        ? { kind: 'REPAIRING', retryAfterSeconds: repair.retryAfterSeconds }
        : { kind: 'REPAIR_TIMED_OUT', reason: `the repair did not finish within its deadline (${repair.reason})` };
    }
    if (repair?.status === 'FAILED' && Date.now() < repair.deadline) {
      return repair.timedOut
        ? { kind: 'REPAIR_TIMED_OUT', reason: repair.reason }
        : { kind: 'REPAIR_FAILED', reason: repair.reason };
    }
    const down = this.unavailable.get(modelId);
    if (down) return { kind: 'UNAVAILABLE', code: down.code, reason: down.reason };
    return { kind: 'AVAILABLE' };
  }

  /** Reports a failure once per model at a time; every caller gets the same decision. */
  async report(failure: FailureReport): Promise<Availability> {
    let pending = this.reports.get(failure.modelId);
    if (!pending) {
      pending = this.controlPlane.reportFailure(failure).finally(() => this.reports.delete(failure.modelId));
      this.reports.set(failure.modelId, pending);
    }
    let decision: FailureReportResponse;
    try {
      decision = await pending;
    } catch (err) {
      this.log.error({ err: (err as Error).message, modelId: failure.modelId }, 'could not report a failure');
      return {
        kind: 'UNAVAILABLE',
        code: failure.code,
        reason: `${failure.message} (the control plane could not be told)`,
      };
    }
    switch (decision.action) {
      case 'REPAIRING':
        if (this.repairs.get(failure.modelId)?.status !== 'IN_PROGRESS') {
          this.repairs.set(failure.modelId, {
            status: 'IN_PROGRESS',
            deadline: decision.deadline ? Date.parse(decision.deadline) : Date.now() + 60_000,
            retryAfterSeconds: decision.retryAfterSeconds,
            reason: decision.reason,
            timedOut: false,
          });
        }
        break;
      case 'BREAKER_OPEN':
        this.repairs.set(failure.modelId, {
          status: 'FAILED',
          deadline: Date.now() + this.retryFailedAfterMs,
          retryAfterSeconds: 0,
          reason: `${failure.message}. ${decision.reason}`,
          timedOut: false,
        });
        break;
      case 'NO_REPAIR':
        this.unavailable.set(failure.modelId, { code: failure.code, reason: `${failure.message}. ${decision.reason}` });
        break;
    }
    return this.availability(failure.modelId);
  }

  /**
   * Starts a repair the control plane sent, in the background: unload, fetch again (resume or from zero), verify,
   * reload; within the deadline. Every state it produces carries the repair's tag (its last one too: READY, or ERROR
   * with what the fetch failed with), which is how the control plane follows it. A request for the attempt already
   * running joins it: nothing new starts.
   */
  repair(request: AgentRepairRequest): { done: Promise<void>; joined: boolean } {
    const attempt = request.attempt ?? 1;
    const running = this.running.get(request.modelId);
    if (running && running.repairId === request.repairId && running.attempt === attempt) {
      return { done: running.done, joined: true };
    }
    const deadline = Date.parse(request.deadline);
    const tag: AgentRepairTag = { repairId: request.repairId, attempt };
    const startVersion = this.models.get(request.modelId)?.version ?? 0;
    this.unavailable.delete(request.modelId);
    this.repairs.set(request.modelId, {
      status: 'IN_PROGRESS',
      deadline,
      retryAfterSeconds: this.repairs.get(request.modelId)?.retryAfterSeconds ?? 5,
      reason: `${request.reason}`,
      timedOut: false,
    });
    this.models.tagRepair(request.modelId, tag);
    const timer = setTimeout(() => this.models.abort(request.modelId), Math.max(0, deadline - Date.now()));
    const fetched = this.unload(request.modelId).then(() => this.models.refetch(request, request.fromZero).done);
    const run = { repairId: request.repairId, attempt, done: Promise.resolve() };
    run.done = fetched
      .then(
        () => null,
        (err: unknown) => err as Error,
      )
      .then((thrown) => {
        clearTimeout(timer);
        if (this.running.get(request.modelId) === run) this.running.delete(request.modelId);
        const state = this.models.get(request.modelId);
        if (state?.lifecycleStatus === 'READY') {
          this.repairs.delete(request.modelId);
          return;
        }
        const timedOut = Date.now() >= deadline;
        // What this run's fetch ended with (not a state from before it started).
        const own = state && state.version > startVersion && state.lifecycleStatus === 'ERROR' ? state : null;
        const failureMessage = own?.errorMessage ?? thrown?.message ?? null;
        const why = timedOut ? 'the repair timed out' : (failureMessage ?? 'the repair failed');
        // Keep the original verdict's code, so a later request reports the model again and the breaker can count.
        this.models.markBroken(request.modelId, request.reason, `Repair failed: ${why}`, {
          ...tag,
          failed: true,
          failureCode: own?.errorCode ?? null,
          failureMessage,
          timedOut,
        });
        this.repairs.set(request.modelId, {
          status: 'FAILED',
          deadline: Date.now() + this.retryFailedAfterMs,
          retryAfterSeconds: 0,
          reason: why,
          timedOut,
        });
      });
    this.running.set(request.modelId, run);
    return { done: run.done, joined: false };
  }

  /** Full sha256 of the model's files against its manifest; a mismatch is reported (and so repaired). */
  async verify(modelId: string, trigger: 'VERIFY' | 'SWEEP'): Promise<AgentVerifyResponse> {
    const files = this.models.filesOf(modelId);
    if (!files) return { ok: false, state: this.models.get(modelId) ?? null, mismatches: [] };
    const mismatches: AgentVerifyResponse['mismatches'] = [];
    for (const [i, file] of files.request.files.entries()) {
      const actual = await sha256OfFile(files.paths[i]!).catch(() => null);
      if (actual !== file.sha256) mismatches.push({ path: file.path, expected: file.sha256, actual });
    }
    if (mismatches.length) {
      const message = `sha256 mismatch in ${mismatches.map((m) => m.path).join(', ')}`;
      this.log.warn({ modelId, mismatches }, 'verification failed');
      this.models.markBroken(modelId, ModelLoadError.CORRUPTED, message);
      await this.report({ modelId, code: ModelLoadError.CORRUPTED, message, trigger });
    }
    return { ok: mismatches.length === 0, state: this.models.get(modelId) ?? null, mismatches };
  }
}
