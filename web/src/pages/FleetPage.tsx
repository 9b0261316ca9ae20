import { useMutation, useQuery } from '@apollo/client/react';
import { useVirtualizer, type VirtualItem } from '@tanstack/react-virtual';
import { memo, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { ErrorText, LifecycleBadge, Progress, type CellState } from '../components/bits';
import { fleetStore, useCellState, useRowVersion, type CellData } from '../fleet-store';
import { bytes, duration, ibytes, percent } from '../format';
import type { FleetLayoutQuery as FleetLayout } from '../gql/graphql';
import {
  ActiveRepairsQuery,
  CancelDownload,
  DeleteModel,
  DownloadModel,
  FleetLayoutQuery,
  FleetStatesQuery,
  PeerCopyStatsQuery,
  RepairModel,
  VerifyModel,
} from '../ops/operations';
import { useSession } from '../session-context';

type Model = FleetLayout['models'][number];
type Node = FleetLayout['nodes'][number];
type Selection = { modelId: string; nodeId: string };

const LABEL_W = 220;
const HEADER_H = 44;
const CELL_W = 150;
const CELL_H = 64;
/** States that mean the node has, or is getting, the model. */
const HOLDING = new Set<string>(['READY', 'DOWNLOADING', 'LOADING', 'PENDING']);
/** A backstop for the figures above the matrix: a transfer's end is reported apart from the READY that refetches them. */
const PEER_COPY_STATS_POLL_MS = 30_000;

export function cellState(state: CellData | undefined, repairing: boolean): CellState {
  if (repairing) return 'REPAIRING';
  return (state?.lifecycleStatus as CellState | undefined) ?? 'NONE';
}

/** Where a node × model's bytes come from, in words; null until the control plane gave it a source. */
export function sourceText(state: CellData | undefined): string | null {
  switch (state?.source) {
    case 'HUB':
      return 'from the Hub';
    case 'PEER':
      return `from peer ${state.sourceNodeName ?? state.sourceNodeId ?? '(a removed node)'}`;
    case null:
    case undefined:
      return null;
  }
}

/**
 * Every node × model state into the matrix's store, bypassing Apollo's cache (no-cache); fetched again with the other
 * active queries after every reconnect. Events keep the store current in between (live.ts).
 */
export function useFleetStates(store = fleetStore) {
  const { data, error } = useQuery(FleetStatesQuery, { fetchPolicy: 'no-cache' });
  useEffect(() => {
    if (data) store.load(data.models);
  }, [data, store]);
  return { error, loaded: data !== undefined };
}

/** Nodes × models, every cell live; only the visible cells are rendered (200 × 100 stays smooth). */
export default function FleetPage() {
  const { data, error, loading } = useQuery(FleetLayoutQuery);
  const states = useFleetStates();
  const { data: active } = useQuery(ActiveRepairsQuery);
  const [selected, setSelected] = useState<Selection | null>(null);
  const models = useMemo(() => (data?.models ?? []).filter((m) => m.status !== 'AVAILABLE'), [data]);
  const nodes = data?.nodes ?? [];
  const repairing = useMemo(
    () =>
      new Set((active?.repairs ?? []).filter((r) => r.status === 'IN_PROGRESS').map((r) => `${r.modelId}|${r.nodeId}`)),
    [active],
  );
  const ready = data !== undefined && states.loaded;
  return (
    <section aria-labelledby="fleet-title">
      <h1 id="fleet-title">Fleet</h1>
      <p className="muted">
        {nodes.length} nodes × {models.length} registered models. Select a cell for its actions.
      </p>
      <PeerCopySavings />
      <ErrorText error={error ?? states.error} />
      {(loading && !data) || !ready ? <p>Loading…</p> : null}
      {selected ? (
        <CellPanel
          model={models.find((m) => m.id === selected.modelId)}
          node={nodes.find((n) => n.id === selected.nodeId)}
          repairing={repairing.has(`${selected.modelId}|${selected.nodeId}`)}
          onClose={() => setSelected(null)}
        />
      ) : null}
      {ready ? (
        <Matrix models={models} nodes={nodes} repairing={repairing} selected={selected} onSelect={setSelected} />
      ) : null}
    </section>
  );
}

/** What peer copy saved the fleet: the Hub bytes its nodes copied from each other instead. */
function PeerCopySavings() {
  const { data } = useQuery(PeerCopyStatsQuery, { pollInterval: PEER_COPY_STATS_POLL_MS });
  const s = data?.peerCopyStats;
  if (!s) return null;
  return (
    <p className="small" data-testid="peer-copy-savings">
      Saved from the Hub by peer copy: <strong>{ibytes(s.bytesSavedFromHub)}</strong>{' '}
      <span className="muted">
        ({s.peerTransfers} {s.peerTransfers === 1 ? 'copy' : 'copies'} between nodes; {ibytes(s.bytesFromHub)} fetched
        from the Hub)
      </span>
      {s.reportedPeers ? (
        <span className="error">
          {' '}
          · {s.reportedPeers} {s.reportedPeers === 1 ? 'node' : 'nodes'} served bytes that failed the sha256 check
        </span>
      ) : null}
    </p>
  );
}

export function Matrix(props: {
  models: Model[];
  nodes: Node[];
  repairing: Set<string>;
  selected: Selection | null;
  onSelect: (s: Selection) => void;
}) {
  const { models, nodes, repairing, selected, onSelect } = props;
  const scroller = useRef<HTMLDivElement>(null);
  const rows = useVirtualizer({
    count: models.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => CELL_H,
    overscan: 4,
    scrollPaddingStart: HEADER_H,
  });
  const cols = useVirtualizer({
    horizontal: true,
    count: nodes.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => CELL_W,
    overscan: 2,
    scrollPaddingStart: LABEL_W,
  });
  const width = LABEL_W + cols.getTotalSize();
  const height = HEADER_H + rows.getTotalSize();
  const visibleCols = cols.getVirtualItems();
  return (
    <div
      ref={scroller}
      className="matrix"
      role="grid"
      aria-label="Models on nodes"
      aria-rowcount={models.length + 1}
      aria-colcount={nodes.length + 1}
      data-testid="matrix"
    >
      <div style={{ width, height, position: 'relative' }}>
        <div className="m-header" role="row" aria-rowindex={1} style={{ width, height: HEADER_H }}>
          <div className="m-corner" role="columnheader" style={{ width: LABEL_W, height: HEADER_H }}>
            model \ node
          </div>
          {visibleCols.map((c) => {
            const n = nodes[c.index]!;
            return (
              <div
                key={n.id}
                role="columnheader"
                aria-colindex={c.index + 2}
                className={`m-colhead ${n.status === 'OFFLINE' ? 'offline' : ''}`}
                style={{ left: LABEL_W + c.start, width: CELL_W, height: HEADER_H }}
                title={`${n.name} (${n.status})`}
              >
                {n.name}
                <span className="small muted"> {n.status === 'OFFLINE' ? 'offline' : ''}</span>
              </div>
            );
          })}
        </div>
        {rows.getVirtualItems().map((r) => {
          const m = models[r.index]!;
          return (
            <MatrixRow
              key={m.id}
              rowIndex={r.index + 2}
              top={HEADER_H + r.start}
              width={width}
              modelId={m.id}
              modelName={m.model.name}
              nodes={nodes}
              cols={visibleCols}
              repairing={repairing}
              selectedNodeId={selected?.modelId === m.id ? selected.nodeId : null}
              onSelect={onSelect}
            />
          );
        })}
      </div>
    </div>
  );
}

/** One model's row: re-rendered on scroll or a layout change, never by a progress event (cells read their own state). */
const MatrixRow = memo(function MatrixRow(props: {
  rowIndex: number;
  top: number;
  width: number;
  modelId: string;
  modelName: string;
  nodes: Node[];
  cols: VirtualItem[];
  repairing: Set<string>;
  selectedNodeId: string | null;
  onSelect: (s: Selection) => void;
}) {
  const { modelId, modelName, nodes } = props;
  return (
    <div
      role="row"
      aria-rowindex={props.rowIndex}
      className="m-row"
      style={{ top: props.top, width: props.width, height: CELL_H }}
    >
      <RowLabel modelId={modelId} modelName={modelName} nodes={nodes} />
      {props.cols.map((c) => {
        const n = nodes[c.index]!;
        return (
          <Cell
            key={n.id}
            colIndex={c.index + 2}
            left={LABEL_W + c.start}
            modelId={modelId}
            modelName={modelName}
            nodeId={n.id}
            nodeName={n.name}
            repairing={props.repairing.has(`${modelId}|${n.id}`)}
            selected={props.selectedNodeId === n.id}
            onSelect={props.onSelect}
          />
        );
      })}
    </div>
  );
});

function RowLabel({ modelId, modelName, nodes }: { modelId: string; modelName: string; nodes: Node[] }) {
  const { canOperate } = useSession();
  const version = useRowVersion(modelId);
  const [download, { loading, error }] = useMutation(DownloadModel, {
    onCompleted: (d) => d.downloadModel.forEach((s) => fleetStore.apply(s)),
  });
  const { lacking, ready } = useMemo(() => {
    const lacking: string[] = [];
    let ready = 0;
    for (const n of nodes) {
      const status = fleetStore.get(modelId, n.id)?.lifecycleStatus ?? 'NONE';
      if (status === 'READY') ready++;
      if (!HOLDING.has(status)) lacking.push(n.id);
    }
    return { lacking, ready };
    // `version` changes whenever a lifecycle of this model does: the store is read again then.
  }, [modelId, nodes, version]);
  return (
    <div
      className="m-label"
      role="rowheader"
      style={{ width: LABEL_W, height: CELL_H }}
      title={error?.message ?? modelId}
    >
      <span className="m-name">{modelName}</span>
      {canOperate && lacking.length ? (
        <button
          type="button"
          className="small"
          disabled={loading}
          onClick={() => void download({ variables: { modelId, nodeIds: lacking } }).catch(() => undefined)}
        >
          Send to {lacking.length} lacking
        </button>
      ) : (
        <span className="small muted">{ready} ready</span>
      )}
      {error ? <span className="error small">{error.message}</span> : null}
    </div>
  );
}

const Cell = memo(function Cell(props: {
  colIndex: number;
  left: number;
  modelId: string;
  modelName: string;
  nodeId: string;
  nodeName: string;
  repairing: boolean;
  selected: boolean;
  onSelect: (s: Selection) => void;
}) {
  const { modelId, modelName, nodeId, nodeName, selected, onSelect } = props;
  const state = useCellState(modelId, nodeId);
  const kind = cellState(state, props.repairing);
  const select = useCallback(() => onSelect({ modelId, nodeId }), [onSelect, modelId, nodeId]);
  const speed = state?.bytesPerSecond;
  const peer = state?.source === 'PEER' ? sourceText(state) : null;
  return (
    <div
      role="gridcell"
      aria-colindex={props.colIndex}
      className="m-cell"
      style={{ left: props.left, width: CELL_W, height: CELL_H }}
    >
      <button
        type="button"
        className={`m-btn ${selected ? 'selected' : ''}`}
        aria-pressed={selected}
        aria-label={`${modelName} on ${nodeName}: ${kind}${kind === 'DOWNLOADING' ? ` ${percent(state?.progress)}` : ''}${peer ? `, ${peer}` : ''}`}
        data-cell={`${modelId}|${nodeName}`}
        data-state={kind}
        onClick={select}
      >
        <span className="m-top">
          <LifecycleBadge state={kind} />
          {peer ? (
            <span className="m-peer small muted" title={peer} data-source="PEER">
              ⇄ peer
            </span>
          ) : null}
        </span>
        {kind === 'DOWNLOADING' || kind === 'CANCELLED' ? (
          <>
            <Progress value={state?.progress} label={`${modelName} on ${nodeName}`} />
            <span className="small">
              {percent(state?.progress)} · {bytes(state?.bytesDone)}
              {kind === 'DOWNLOADING' && speed ? ` · ${bytes(speed)}/s · ${duration(state?.etaSeconds)}` : ''}
            </span>
          </>
        ) : kind === 'ERROR' ? (
          <span className="small error" title={state?.errorMessage ?? undefined}>
            {state?.errorMessage ?? state?.errorCode}
          </span>
        ) : null}
      </button>
    </div>
  );
});

function CellPanel(props: {
  model: Model | undefined;
  node: Node | undefined;
  repairing: boolean;
  onClose: () => void;
}) {
  const { canOperate } = useSession();
  const { model, node } = props;
  const state = useCellState(model?.id ?? '', node?.id ?? '');
  const [download, dl] = useMutation(DownloadModel, {
    onCompleted: (d) => d.downloadModel.forEach((s) => fleetStore.apply(s)),
  });
  const [cancel, cn] = useMutation(CancelDownload, {
    onCompleted: (d) => d.cancelDownload.forEach((s) => fleetStore.apply(s)),
  });
  const [verify, vf] = useMutation(VerifyModel, { onCompleted: (d) => fleetStore.apply(d.verifyModel) });
  const [repair, rp] = useMutation(RepairModel);
  const [remove, del] = useMutation(DeleteModel, { refetchQueries: 'active' });
  if (!model || !node) return null;
  const kind = cellState(state, props.repairing);
  const source = sourceText(state);
  const vars = { modelId: model.id, nodeId: node.id };
  const swallow = () => undefined;
  return (
    <div className="panel" role="region" aria-label="Selected cell">
      <h2>
        {model.model.name} on {node.name} <LifecycleBadge state={kind} />
      </h2>
      <p className="small">
        {percent(state?.progress)} · {bytes(state?.bytesDone)} of {bytes(state?.bytesTotal ?? model.model.sizeBytes)}
        {state?.errorMessage ? <span className="error"> · {state.errorMessage}</span> : null}
      </p>
      {source ? (
        <p className="small" data-testid="cell-source">
          Bytes {source}
        </p>
      ) : null}
      {state?.peerCopyRefusedReason ? (
        <p className="small error" data-testid="cell-peer-refusal">
          Not a peer-copy source: {state.peerCopyRefusedReason}
        </p>
      ) : null}
      {canOperate ? (
        <div className="actions">
          <button
            type="button"
            onClick={() => void download({ variables: { modelId: model.id, nodeIds: [node.id] } }).catch(swallow)}
          >
            {kind === 'CANCELLED' ? 'Resume download' : 'Download'}
          </button>
          <button
            type="button"
            disabled={kind !== 'DOWNLOADING' && kind !== 'PENDING'}
            onClick={() => void cancel({ variables: { modelId: model.id, nodeIds: [node.id] } }).catch(swallow)}
          >
            Cancel download
          </button>
          <button
            type="button"
            disabled={kind !== 'READY'}
            onClick={() => void verify({ variables: vars }).catch(swallow)}
          >
            Verify
          </button>
          <button type="button" onClick={() => void repair({ variables: vars }).catch(swallow)}>
            Repair
          </button>
          <button
            type="button"
            className="danger"
            onClick={() => {
              if (confirm(`Delete ${model.id} from every node and unregister it?`))
                void remove({ variables: { modelId: model.id } }).catch(swallow);
            }}
          >
            Delete from every node
          </button>
        </div>
      ) : null}
      <button type="button" onClick={props.onClose}>
        Close
      </button>
      <ErrorText error={dl.error ?? cn.error ?? vf.error ?? rp.error ?? del.error} />
    </div>
  );
}
