import { useEffect, useState } from 'react';
import { useConnectionState } from '../connection';

/** Always visible: live, connecting, or reconnecting (with how long) — a frozen page must never look live. */
export function ConnectionBadge() {
  const state = useConnectionState();
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (state.kind !== 'reconnecting') return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [state.kind]);
  const text =
    state.kind === 'live'
      ? 'Live'
      : state.kind === 'connecting'
        ? 'Connecting…'
        : `Reconnecting… (${Math.max(0, Math.round((now - state.since) / 1000))}s)`;
  return (
    <span className={`conn conn-${state.kind}`} role="status" aria-live="polite" data-testid="connection">
      <span className="dot" aria-hidden="true" />
      {text}
    </span>
  );
}
