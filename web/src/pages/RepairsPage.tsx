import { useQuery } from '@apollo/client/react';
import { ErrorText } from '../components/bits';
import { duration } from '../format';
import { REPAIRS_LIMIT } from '../live';
import { NodeNamesQuery, RepairsQuery } from '../ops/operations';

/** Repair history, newest first; new repairs and status changes arrive live (repairStatusChanged). */
export default function RepairsPage() {
  const { data, error, loading } = useQuery(RepairsQuery, { variables: { limit: REPAIRS_LIMIT } });
  const { data: nodes } = useQuery(NodeNamesQuery);
  const name = (id: string) => nodes?.nodes.find((n) => n.id === id)?.name ?? id.slice(0, 8);
  return (
    <section aria-labelledby="repairs-title">
      <h1 id="repairs-title">Repairs</h1>
      <ErrorText error={error} />
      {loading && !data ? <p>Loading…</p> : null}
      {data && !data.repairs.length ? <p>No repair yet.</p> : null}
      <table className="grid" data-testid="repairs">
        <thead>
          <tr>
            <th scope="col">Started</th>
            <th scope="col">Model</th>
            <th scope="col">Node</th>
            <th scope="col">Reason</th>
            <th scope="col">Trigger</th>
            <th scope="col">Status</th>
            <th scope="col">Elapsed</th>
            <th scope="col">Detail</th>
          </tr>
        </thead>
        <tbody>
          {(data?.repairs ?? []).map((r) => (
            <tr key={r.id} data-repair={r.id}>
              <td>{new Date(r.startedAt).toLocaleString()}</td>
              <td className="mono">{r.modelId}</td>
              <td>{name(r.nodeId)}</td>
              <td>{r.reason}</td>
              <td>{r.trigger}</td>
              <td>
                <span className={`badge r-${r.status.toLowerCase()}`}>{r.status}</span>
              </td>
              <td>{duration(r.elapsedMs / 1000)}</td>
              <td className="small">{r.errorMessage ?? r.detail}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
