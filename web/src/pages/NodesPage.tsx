import { useQuery } from '@apollo/client/react';
import { useEffect, useState } from 'react';
import { ErrorText } from '../components/bits';
import { MetricsChart } from '../components/MetricsChart';
import { ago, bytes, count } from '../format';
import type { NodeFieldsFragment } from '../gql/graphql';
import { heartbeatMs } from '../metrics-history';
import { NodesQuery } from '../ops/operations';

/** Without a measured heartbeat, the control plane's default interval (5 s). */
const DEFAULT_HEARTBEAT_MS = 5000;

/** A node whose metrics are older than two heartbeats is stale: shown as such, never as healthy. */
export function isStale(node: NodeFieldsFragment, now: number): boolean {
  const at = node.metrics?.timestamp ?? node.lastHeartbeatAt;
  const interval = heartbeatMs(node.id) ?? DEFAULT_HEARTBEAT_MS;
  return now - Date.parse(at) > 2 * interval;
}

export default function NodesPage() {
  const { data, error, loading } = useQuery(NodesQuery);
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  return (
    <section aria-labelledby="nodes-title">
      <h1 id="nodes-title">Nodes</h1>
      <ErrorText error={error} />
      {loading && !data ? <p>Loading…</p> : null}
      {data && !data.nodes.length ? <p>No node has joined yet.</p> : null}
      <ul className="cards nodes">
        {(data?.nodes ?? []).map((n) => (
          <NodeCard key={n.id} node={n} now={now} />
        ))}
      </ul>
    </section>
  );
}

function NodeCard({ node: n, now }: { node: NodeFieldsFragment; now: number }) {
  const stale = n.status === 'ONLINE' && isStale(n, now);
  const m = n.metrics;
  const status = n.status === 'OFFLINE' ? 'offline' : stale ? 'stale' : 'online';
  return (
    <li className="card" aria-labelledby={`node-${n.id}`} data-node={n.name}>
      <div className="card-head">
        <h2 id={`node-${n.id}`}>{n.name}</h2>
        <span className={`badge n-${status}`} data-testid="node-status">
          {status}
        </span>
      </div>
      <p className="muted small">
        {n.platform} · {n.cpuCount} CPUs · {n.url} · last heartbeat {ago(n.lastHeartbeatAt, now)}
      </p>
      <p className="small">
        GPUs:{' '}
        {n.gpus.length ? n.gpus.map((g) => `${g.name} (${bytes(g.vramTotalBytes)})`).join(', ') : 'none (CPU only)'}
      </p>
      <div className="gauges">
        <Gauge label="CPU" value={m?.cpuUsage} />
        <Gauge label="GPU" value={m?.gpuUsage} />
        <Gauge
          label="VRAM"
          value={m && m.vramTotalBytes ? (100 * m.vramUsedBytes) / m.vramTotalBytes : null}
          detail={m && m.vramTotalBytes ? `${bytes(m.vramUsedBytes)} / ${bytes(m.vramTotalBytes)}` : undefined}
        />
        <Gauge
          label="RAM"
          value={m && m.ramTotalBytes ? (100 * m.ramUsedBytes) / m.ramTotalBytes : null}
          detail={m ? `${bytes(m.ramUsedBytes)} / ${bytes(m.ramTotalBytes)}` : undefined}
        />
      </div>
      <p className="small muted">Requests served: {count(m?.requestCount)}</p>
      <MetricsChart nodeId={n.id} label={n.name} />
    </li>
  );
}

function Gauge({ label, value, detail }: { label: string; value: number | null | undefined; detail?: string }) {
  const known = value !== null && value !== undefined && Number.isFinite(value);
  return (
    <div className="gauge">
      <span>{label}</span>
      <meter min={0} max={100} low={70} high={90} optimum={0} value={known ? value : 0} aria-label={`${label} usage`} />
      <span className="small">{known ? `${Math.round(value)}%` : 'n/a'}</span>
      {detail ? <span className="small muted">{detail}</span> : null}
    </div>
  );
}
