import { useMutation, useQuery } from '@apollo/client/react';
import { useDeferredValue, useState } from 'react';
import { ErrorText, LifecycleBadge, ModelStatusBadge, Progress } from '../components/bits';
import { bytes, count, percent } from '../format';
import type { ModelCardFieldsFragment, ModelStatus } from '../gql/graphql';
import {
  DeleteModel,
  DownloadModel,
  ModelsQuery,
  NodeNamesQuery,
  RegisterModel,
  UnregisterModel,
} from '../ops/operations';
import { useSession } from '../session-context';

const STATUSES: ModelStatus[] = ['AVAILABLE', 'REGISTERED', 'DOWNLOADING', 'READY', 'ERROR'];

/** The Model Hub (seed 000): the catalog and the registered models as cards, with their fleet status. */
export default function ModelsPage() {
  const [search, setSearch] = useState('');
  const [status, setStatus] = useState<ModelStatus | ''>('');
  const deferred = useDeferredValue(search.trim());
  const { data, error, loading } = useQuery(ModelsQuery, {
    variables: { search: deferred || null, status: status || null },
  });
  const { data: nodes } = useQuery(NodeNamesQuery);
  const models = data?.models ?? [];
  return (
    <section aria-labelledby="models-title">
      <h1 id="models-title">Model Hub</h1>
      <div className="toolbar" role="search">
        <label>
          Search{' '}
          <input
            type="search"
            value={search}
            onChange={(e) => setSearch(e.target.value)}
            placeholder="name, repo, tag…"
          />
        </label>
        <label>
          Status{' '}
          <select value={status} onChange={(e) => setStatus(e.target.value as ModelStatus | '')}>
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s.toLowerCase()}
              </option>
            ))}
          </select>
        </label>
        <span className="muted">{loading && !data ? 'Loading…' : `${models.length} models`}</span>
      </div>
      <ErrorText error={error} />
      <ul className="cards">
        {models.map((m) => (
          <ModelCard key={m.id} model={m} nodes={nodes?.nodes ?? []} />
        ))}
      </ul>
    </section>
  );
}

function ModelCard({
  model: m,
  nodes,
}: {
  model: ModelCardFieldsFragment;
  nodes: Array<{ id: string; name: string }>;
}) {
  const { canOperate } = useSession();
  const [register, reg] = useMutation(RegisterModel);
  const [unregister, unreg] = useMutation(UnregisterModel, { refetchQueries: 'active' });
  const [remove, del] = useMutation(DeleteModel, { refetchQueries: 'active' });
  const [download, dl] = useMutation(DownloadModel);
  const [chosen, setChosen] = useState<string[]>([]);
  const refresh = { refetchQueries: 'active' as const };
  const nodeName = (id: string) => nodes.find((n) => n.id === id)?.name ?? id.slice(0, 8);
  const registered = m.status !== 'AVAILABLE';
  const titleId = `model-${m.id}`;
  return (
    <li className="card" aria-labelledby={titleId} data-model-id={m.id}>
      <div className="card-head">
        <h2 id={titleId}>{m.model.name}</h2>
        <ModelStatusBadge status={m.status} progress={m.downloadProgress} availableNodes={m.availableNodes} />
      </div>
      <p className="muted mono">{m.id}</p>
      <p>{m.model.description}</p>
      <dl className="facts">
        <dt>Params</dt>
        <dd>{m.model.parameterCount}</dd>
        <dt>Quant</dt>
        <dd>{m.model.quantization}</dd>
        <dt>Size</dt>
        <dd>{bytes(m.model.sizeBytes)}</dd>
        <dt>Memory</dt>
        <dd>{bytes(m.model.requiredMemoryBytes)}</dd>
        <dt>Can</dt>
        <dd>{m.model.capabilities.map((c) => c.toLowerCase().replace(/_/g, ' ')).join(', ')}</dd>
        <dt>Hub</dt>
        <dd>
          {m.hfStats ? (
            <>
              ↓ {count(m.hfStats.downloads)} · ♥ {count(m.hfStats.likes)}
              {m.hfStats.stale ? (
                <span className="badge s-stale" title={`fetched ${m.hfStats.fetchedAt}`}>
                  {' '}
                  stale
                </span>
              ) : null}
            </>
          ) : (
            '—'
          )}
        </dd>
      </dl>
      {m.status === 'ERROR' && m.errorMessage ? <p className="error">{m.errorMessage}</p> : null}
      {m.nodes.length ? (
        <ul className="node-states">
          {m.nodes.map((s) => (
            <li key={s.nodeId}>
              <span>{nodeName(s.nodeId)}</span> <LifecycleBadge state={s.lifecycleStatus} />
              {s.lifecycleStatus === 'DOWNLOADING' ? (
                <>
                  <Progress value={s.progress} label={`${m.model.name} on ${nodeName(s.nodeId)}`} />{' '}
                  {percent(s.progress)}
                </>
              ) : null}
              {s.errorMessage && s.lifecycleStatus === 'ERROR' ? (
                <span className="error small">{s.errorMessage}</span>
              ) : null}
            </li>
          ))}
        </ul>
      ) : null}
      {canOperate ? (
        <div className="actions">
          {registered ? null : (
            <button
              type="button"
              onClick={() => void register({ variables: { modelId: m.id }, ...refresh }).catch(() => undefined)}
            >
              Register
            </button>
          )}
          {registered ? (
            <>
              <button
                type="button"
                onClick={() =>
                  void download({ variables: { modelId: m.id, nodeIds: null }, ...refresh }).catch(() => undefined)
                }
              >
                Download to all nodes
              </button>
              <details>
                <summary>Download to…</summary>
                <fieldset>
                  <legend>Nodes</legend>
                  {nodes.map((n) => (
                    <label key={n.id}>
                      <input
                        type="checkbox"
                        checked={chosen.includes(n.id)}
                        onChange={(e) =>
                          setChosen(e.target.checked ? [...chosen, n.id] : chosen.filter((x) => x !== n.id))
                        }
                      />{' '}
                      {n.name}
                    </label>
                  ))}
                  <button
                    type="button"
                    disabled={!chosen.length}
                    onClick={() =>
                      void download({ variables: { modelId: m.id, nodeIds: chosen }, ...refresh }).catch(
                        () => undefined,
                      )
                    }
                  >
                    Download to {chosen.length} node{chosen.length === 1 ? '' : 's'}
                  </button>
                </fieldset>
              </details>
              <button
                type="button"
                onClick={() => void unregister({ variables: { modelId: m.id } }).catch(() => undefined)}
              >
                Unregister
              </button>
              <button
                type="button"
                className="danger"
                onClick={() => {
                  if (confirm(`Delete ${m.id} from every node and unregister it?`))
                    void remove({ variables: { modelId: m.id } }).catch(() => undefined);
                }}
              >
                Delete
              </button>
            </>
          ) : null}
        </div>
      ) : null}
      <ErrorText error={reg.error ?? unreg.error ?? del.error ?? dl.error} />
    </li>
  );
}
