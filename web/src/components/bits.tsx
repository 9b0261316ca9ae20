import type { ErrorLike } from '@apollo/client';
import type { LifecycleStatus, ModelStatus } from '../gql/graphql';
import { percent } from '../format';

/** The server's message as it is (errors are data: it names what was wrong). */
export function ErrorText({ error }: { error: ErrorLike | string | null | undefined }) {
  if (!error) return null;
  return (
    <p className="error" role="alert">
      {typeof error === 'string' ? error : error.message}
    </p>
  );
}

export function Progress({ value, label }: { value: number | null | undefined; label: string }) {
  const v = value ?? 0;
  return (
    <span
      className="progress"
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={Math.round(v * 100)}
    >
      <span className="bar" style={{ width: `${Math.min(100, Math.max(0, v * 100))}%` }} />
    </span>
  );
}

export function ModelStatusBadge(props: {
  status: ModelStatus;
  progress: number | null | undefined;
  availableNodes: number;
}) {
  const text =
    props.status === 'DOWNLOADING'
      ? `Downloading ${percent(props.progress)}`
      : props.status === 'READY'
        ? `Ready ✓ on ${props.availableNodes} node${props.availableNodes === 1 ? '' : 's'}`
        : props.status === 'AVAILABLE'
          ? 'Available'
          : props.status === 'REGISTERED'
            ? 'Registered'
            : 'Error';
  return <span className={`badge s-${props.status.toLowerCase()}`}>{text}</span>;
}

/** LifecycleStatus plus what the matrix shows beyond it: a repair in progress, a cancelled transfer (fleet contract). */
export type CellState = LifecycleStatus | 'CANCELLED' | 'REPAIRING' | 'NONE';

export function LifecycleBadge({ state }: { state: CellState }) {
  return <span className={`badge l-${state.toLowerCase()}`}>{state === 'NONE' ? '—' : state}</span>;
}
