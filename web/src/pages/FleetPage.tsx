import { useMutation, useQuery } from '@apollo/client/react';
import { useVirtualizer } from '@tanstack/react-virtual';
import { memo, useMemo, useRef, useState } from 'react';
import { ErrorText, LifecycleBadge, Progress, type CellState } from '../components/bits';
import { bytes, duration, percent } from '../format';
import type { FleetQuery as FleetData, NodeStateFieldsFragment } from '../gql/graphql';
import {
  ActiveRepairsQuery,
  DeleteModel,
  DownloadModel,
  FleetQuery,
  RepairModel,
  VerifyModel,
} from '../ops/operations';
import { CancelDownload } from '../ops/pending';
import { useSession } from '../session-context';
import { rate } from '../transfer-rate';

type Model = FleetData['models'][number];
type Node = FleetData['nodes'][number];
type State = NodeStateFieldsFragment & { bytesPerSecond?: number | null; etaSeconds?: number | null };

const LABEL_W = 220;
const HEADER_H = 44;
const CELL_W = 150;
const CELL_H = 64;
/** States that mean the node has, or is getting, the model. */
const HOLDING = new Set<string>(['READY', 'DOWNLOADING', 'LOADING', 'PENDING']);

export function cellState(state: State | undefined, repairing: boolean): CellState {
  if (repairing) return 'REPAIRING';
  return (state?.lifecycleStatus as CellState | undefined) ?? 'NONE';
}

/** Nodes × models, every cell live; only the visible cells are rendered (200 × 100 stays smooth). */
export default function FleetPage() {
  const { data, error, loading } = useQuery(FleetQuery);
  const { data: active } = useQuery(ActiveRepairsQuery);
  const [selected, setSelected] = useState<{ modelId: string; nodeId: string } | null>(null);
  const models = useMemo(() => (data?.models ?? []).filter((m) => m.status !== 'AVAILABLE'), [data]);
  const nodes = data?.nodes ?? [];
  const repairing = useMemo(
    () =>
      new Set((active?.repairs ?? []).filter((r) => r.status === 'IN_PROGRESS').map((r) => `${r.modelId}|${r.nodeId}`)),
    [active],
  );
  return (
    <section aria-labelledby="fleet-title">
      <h1 id="fleet-title">Fleet</h1>
      <p className="muted">
        {nodes.length} nodes × {models.length} registered models. Select a cell for its actions.
      </p>
      <ErrorText error={error} />
      {loading && !data ? <p>Loading…</p> : null}
      {selected ? (
        <CellPanel
          model={models.find((m) => m.id === selected.modelId)}
          node={nodes.find((n) => n.id === selected.nodeId)}
          repairing={repairing.has(`${selected.modelId}|${selected.nodeId}`)}
          onClose={() => setSelected(null)}
        />
      ) : null}
      <Matrix models={models} nodes={nodes} repairing={repairing} selected={selected} onSelect={setSelected} />
    </section>
  );
}

export function Matrix(props: {
  models: Model[];
  nodes: Node[];
  repairing: Set<string>;
  selected: { modelId: string; nodeId: string } | null;
  onSelect: (s: { modelId: string; nodeId: string }) => void;
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
          const byNode = new Map(m.nodes.map((s) => [s.nodeId, s]));
          return (
            <div
              key={m.id}
              role="row"
              aria-rowindex={r.index + 2}
              className="m-row"
              style={{ top: HEADER_H + r.start, width, height: CELL_H }}
            >
              <RowLabel model={m} nodes={nodes} byNode={byNode} />
              {visibleCols.map((c) => {
                const n = nodes[c.index]!;
                return (
                  <Cell
                    key={n.id}
                    colIndex={c.index + 2}
                    left={LABEL_W + c.start}
                    model={m}
                    node={n}
                    state={byNode.get(n.id)}
                    repairing={repairing.has(`${m.id}|${n.id}`)}
                    selected={selected?.modelId === m.id && selected.nodeId === n.id}
                    onSelect={onSelect}
                  />
                );
              })}
            </div>
          );
        })}
      </div>
    </div>
  );
}

function RowLabel({ model: m, nodes, byNode }: { model: Model; nodes: Node[]; byNode: Map<string, State> }) {
  const { canOperate } = useSession();
  const [download, { loading, error }] = useMutation(DownloadModel);
  const lacking = nodes.filter((n) => !HOLDING.has(byNode.get(n.id)?.lifecycleStatus ?? 'NONE'));
  return (
    <div className="m-label" role="rowheader" style={{ width: LABEL_W, height: CELL_H }} title={error?.message ?? m.id}>
      <span className="m-name">{m.model.name}</span>
      {canOperate && lacking.length ? (
        <button
          type="button"
          className="small"
          disabled={loading}
          onClick={() =>
            void download({ variables: { modelId: m.id, nodeIds: lacking.map((n) => n.id) } }).catch(() => undefined)
          }
        >
          Send to {lacking.length} lacking
        </button>
      ) : (
        <span className="small muted">{m.availableNodes} ready</span>
      )}
      {error ? <span className="error small">{error.message}</span> : null}
    </div>
  );
}

const Cell = memo(function Cell(props: {
  colIndex: number;
  left: number;
  model: Model;
  node: Node;
  state: State | undefined;
  repairing: boolean;
  selected: boolean;
  onSelect: (s: { modelId: string; nodeId: string }) => void;
}) {
  const { model, node, state, repairing, selected } = props;
  const kind = cellState(state, repairing);
  const speed = state?.bytesPerSecond ?? (state ? rate(model.id, node.id) : null);
  const eta = state?.etaSeconds ?? (speed && state && speed > 0 ? (state.bytesTotal - state.bytesDone) / speed : null);
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
        aria-label={`${model.model.name} on ${node.name}: ${kind}${kind === 'DOWNLOADING' ? ` ${percent(state?.progress)}` : ''}`}
        data-cell={`${model.id}|${node.name}`}
        data-state={kind}
        onClick={() => props.onSelect({ modelId: model.id, nodeId: node.id })}
      >
        <LifecycleBadge state={kind} />
        {kind === 'DOWNLOADING' || kind === 'CANCELLED' ? (
          <>
            <Progress value={state?.progress} label={`${model.model.name} on ${node.name}`} />
            <span className="small">
              {percent(state?.progress)} · {bytes(state?.bytesDone)}
              {kind === 'DOWNLOADING' && speed ? ` · ${bytes(speed)}/s · ${duration(eta)}` : ''}
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
  const { canOperate, features } = useSession();
  const { model, node } = props;
  const [download, dl] = useMutation(DownloadModel);
  const [cancel, cn] = useMutation(CancelDownload);
  const [verify, vf] = useMutation(VerifyModel);
  const [repair, rp] = useMutation(RepairModel);
  const [remove, del] = useMutation(DeleteModel, { refetchQueries: 'active' });
  if (!model || !node) return null;
  const state: State | undefined = model.nodes.find((s) => s.nodeId === node.id);
  const kind = cellState(state, props.repairing);
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
      {canOperate ? (
        <div className="actions">
          <button
            type="button"
            onClick={() => void download({ variables: { modelId: model.id, nodeIds: [node.id] } }).catch(swallow)}
          >
            Download
          </button>
          {features.cancelDownload ? (
            <button
              type="button"
              disabled={kind !== 'DOWNLOADING' && kind !== 'PENDING'}
              onClick={() => void cancel({ variables: { modelId: model.id, nodeIds: [node.id] } }).catch(swallow)}
            >
              Cancel download
            </button>
          ) : null}
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
          <button type="button" onClick={props.onClose}>
            Close
          </button>
        </div>
      ) : null}
      <ErrorText error={dl.error ?? cn.error ?? vf.error ?? rp.error ?? del.error} />
    </div>
  );
}
