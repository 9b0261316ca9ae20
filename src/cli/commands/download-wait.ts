import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import type { FleetClient } from '../client.js';
import { listNodeRefs, nodeNames, type NodeRef } from '../context.js';
import { CliError, ExitCode } from '../errors.js';
import { colorStatus, err, formatBytes, formatDuration, formatPercent, out, printJson } from '../output.js';

const TERMINAL = new Set(['READY', 'ERROR', 'CANCELLED']);
/** How often the node states are re-read, so a missed event never leaves the watch hanging. */
const RECONCILE_MS = 2_000;
const PLAIN_LINE_MS = Number(process.env.LLMFLEET_PROGRESS_INTERVAL_MS) || 5_000;

interface WatchedState {
  nodeId: string;
  name: string;
  status: string;
  bytesDone: number;
  bytesTotal: number;
  errorCode: string | null;
  errorMessage: string | null;
  /** The server's figures (NodeModelState.bytesPerSecond / etaSeconds), smoothed over the agent's reports. */
  bytesPerSecond: number | null;
  etaSeconds: number | null;
}

interface StateFields {
  nodeId: string;
  lifecycleStatus: string;
  bytesDone?: number;
  bytesTotal?: number;
  progress?: number | null;
  errorCode?: string | null;
  errorMessage?: string | null;
  bytesPerSecond?: number | null;
  etaSeconds?: number | null;
}

interface Renderer {
  update(state: WatchedState): void;
  stop(): void;
}

function apply(state: WatchedState, next: StateFields): void {
  state.status = next.lifecycleStatus;
  if (next.bytesTotal !== undefined) state.bytesTotal = next.bytesTotal;
  if (next.bytesDone !== undefined) state.bytesDone = next.bytesDone;
  else if (next.progress !== undefined && next.progress !== null && state.bytesTotal)
    state.bytesDone = Math.round(next.progress * state.bytesTotal);
  if (next.errorCode !== undefined) state.errorCode = next.errorCode;
  if (next.errorMessage !== undefined) state.errorMessage = next.errorMessage;
  if (next.bytesPerSecond !== undefined) state.bytesPerSecond = next.bytesPerSecond;
  if (next.etaSeconds !== undefined) state.etaSeconds = next.etaSeconds;
  if (state.status !== 'DOWNLOADING') [state.bytesPerSecond, state.etaSeconds] = [null, null];
}

const speed = (s: WatchedState) => (s.bytesPerSecond === null ? '-' : `${formatBytes(s.bytesPerSecond)}/s`);

/** One live bar per node (a terminal). */
function barRenderer(states: WatchedState[]): Renderer {
  const width = Math.max(...states.map((s) => s.name.length));
  const multi = new MultiBar(
    {
      format: '{node} |{bar}| {pct} {done}/{total_h}  {speed}  ETA {left}  {status}',
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
      barsize: 30,
      fps: 10,
    },
    Presets.shades_classic,
  );
  const bars = new Map<string, SingleBar>();
  const payload = (s: WatchedState) => ({
    node: s.name.padEnd(width),
    pct: formatPercent(s.bytesTotal ? s.bytesDone / s.bytesTotal : 0).padStart(4),
    done: formatBytes(s.bytesDone),
    total_h: formatBytes(s.bytesTotal),
    speed: speed(s),
    left: formatDuration(s.etaSeconds),
    status: s.status,
  });
  for (const s of states) bars.set(s.nodeId, multi.create(Math.max(1, s.bytesTotal), s.bytesDone, payload(s)));
  return {
    update(s) {
      const bar = bars.get(s.nodeId)!;
      bar.setTotal(Math.max(1, s.bytesTotal));
      bar.update(s.status === 'READY' ? Math.max(1, s.bytesTotal) : s.bytesDone, payload(s));
    },
    stop: () => multi.stop(),
  };
}

/** Plain lines for logs: on every status change, and every few seconds while bytes move. */
function lineRenderer(): Renderer {
  const last = new Map<string, { status: string; at: number; bytes: number }>();
  return {
    update(s) {
      const prev = last.get(s.nodeId);
      const now = Date.now();
      const changed = !prev || prev.status !== s.status;
      if (!changed && (now - prev.at < PLAIN_LINE_MS || prev.bytes === s.bytesDone)) return;
      if (TERMINAL.has(s.status) && !changed) return;
      last.set(s.nodeId, { status: s.status, at: now, bytes: s.bytesDone });
      if (TERMINAL.has(s.status)) return; // the outcome is printed once, at the end
      const pct = s.bytesTotal ? s.bytesDone / s.bytesTotal : 0;
      err(
        `${s.name}  ${s.status}  ${formatPercent(pct)}  ${formatBytes(s.bytesDone)}/${formatBytes(s.bytesTotal)}` +
          (s.status === 'DOWNLOADING' ? `  ${speed(s)}  ETA ${formatDuration(s.etaSeconds)}` : ''),
      );
    },
    stop: () => undefined,
  };
}

/**
 * Queues the download and follows it until every target node is READY, failed or cancelled: events from the
 * subscription drive the display, a periodic re-read makes sure a missed event never leaves it hanging.
 * Ctrl-C stops watching only; the downloads go on on the nodes.
 */
export async function downloadAndWait(
  client: FleetClient,
  modelId: string,
  targets: NodeRef[] | null,
  opts: { json: boolean },
): Promise<ExitCode> {
  const stateFields =
    'nodeId lifecycleStatus bytesDone bytesTotal progress errorCode errorMessage bytesPerSecond etaSeconds';
  const names = nodeNames(await listNodeRefs(client));
  const states = new Map<string, WatchedState>();
  let renderer: Renderer | null = null;
  let wake: () => void = () => undefined;
  // Set from the subscription's callbacks: held in an object so the loop below reads its current value.
  const watch: { failure: CliError | null } = { failure: null };

  const update = (next: StateFields) => {
    const state = states.get(next.nodeId);
    if (!state) return;
    apply(state, next);
    renderer?.update(state);
    if (TERMINAL.has(state.status)) wake();
  };

  const connected = new Promise<void>((resolve, reject) => {
    const off = client.onConnected(() => {
      off();
      resolve();
    });
    // Progress of several nodes may be coalesced into one event: every state in it counts.
    client.subscribe<{ modelStatusChanged: { state: StateFields | null; states: StateFields[] } }>(
      `subscription($m: ID) { modelStatusChanged(modelId: $m) { state { ${stateFields} } states { ${stateFields} } } }`,
      { m: modelId },
      ({ modelStatusChanged: e }) => (e.states.length ? e.states : e.state ? [e.state] : []).forEach(update),
      (error) => {
        watch.failure = error;
        reject(error);
        wake();
      },
    );
  });
  await connected;

  const { downloadModel } = await client.request<{ downloadModel: Array<StateFields & { bytesTotal: number }> }>(
    `mutation($m: ID!, $n: [ID!]) { downloadModel(modelId: $m, nodeIds: $n) { ${stateFields} } }`,
    { m: modelId, n: targets?.map((t) => t.id) ?? null },
  );
  if (!downloadModel.length) throw new CliError('no node to download to: see llmfleet nodes list', ExitCode.FAILED);
  for (const s of downloadModel) {
    const state: WatchedState = {
      nodeId: s.nodeId,
      name: names.get(s.nodeId) ?? s.nodeId,
      status: s.lifecycleStatus,
      bytesDone: 0,
      bytesTotal: s.bytesTotal,
      errorCode: null,
      errorMessage: null,
      bytesPerSecond: null,
      etaSeconds: null,
    };
    states.set(s.nodeId, state);
    apply(state, s);
  }
  const all = [...states.values()];
  renderer = opts.json ? null : process.stderr.isTTY ? barRenderer(all) : lineRenderer();
  all.forEach((s) => renderer?.update(s));

  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
    wake();
  };
  process.once('SIGINT', onSigint);
  const reconcile = async () => {
    const { model } = await client.request<{ model: { nodes: StateFields[] } | null }>(
      `query($id: ID!) { model(id: $id) { nodes { ${stateFields} } } }`,
      { id: modelId },
    );
    if (!model) throw new CliError(`model "${modelId}" was removed while downloading`, ExitCode.NOT_FOUND);
    model.nodes.forEach(update);
  };
  try {
    while (!interrupted && !watch.failure && !all.every((s) => TERMINAL.has(s.status))) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, RECONCILE_MS);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      if (!interrupted && !watch.failure) await reconcile();
    }
  } finally {
    process.off('SIGINT', onSigint);
    renderer?.stop();
  }
  if (watch.failure) throw watch.failure;
  if (interrupted) {
    err(`stopped watching; the download goes on (llmfleet models show ${modelId})`);
    return ExitCode.INTERRUPTED;
  }

  const failed = all.filter((s) => s.status !== 'READY');
  if (opts.json)
    printJson(
      all.map((s) => ({
        nodeId: s.nodeId,
        node: s.name,
        status: s.status,
        bytesDone: s.bytesDone,
        bytesTotal: s.bytesTotal,
        errorCode: s.errorCode,
        errorMessage: s.errorMessage,
      })),
    );
  else
    for (const s of all)
      out(
        `${s.name}  ${colorStatus(s.status)}  ${formatBytes(s.bytesTotal)}` +
          (s.status === 'READY' ? '' : `  ${[s.errorCode, s.errorMessage].filter(Boolean).join(': ')}`),
      );
  if (!failed.length) return ExitCode.OK;
  const why = failed.map((s) => `${s.name}: ${s.errorCode ?? s.status}`).join(', ');
  throw new CliError(
    `${modelId} is not READY on ${failed.length} of ${all.length} node(s) (${why}): see llmfleet models show ${modelId}`,
    ExitCode.FAILED,
  );
}
