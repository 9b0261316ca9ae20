import type { MetricsFieldsFragment } from './gql/graphql';

/** Per node, the last metrics samples seen live (for the history chart); kept outside Apollo's cache on purpose. */
export interface Sample {
  t: number;
  cpu: number | null;
  mem: number | null;
  gpu: number | null;
}

const LIMIT = 300;
const history = new Map<string, Sample[]>();
const listeners = new Set<(nodeId: string) => void>();

export function recordMetrics(m: MetricsFieldsFragment): void {
  const t = Date.parse(m.timestamp) / 1000;
  const list = history.get(m.nodeId) ?? [];
  if (list.length && list[list.length - 1]!.t >= t) return;
  list.push({ t, cpu: m.cpuUsage ?? null, mem: m.memoryUsage ?? null, gpu: m.gpuUsage ?? null });
  if (list.length > LIMIT) list.splice(0, list.length - LIMIT);
  history.set(m.nodeId, list);
  listeners.forEach((l) => l(m.nodeId));
}

export function samples(nodeId: string): readonly Sample[] {
  return history.get(nodeId) ?? [];
}

/** Median interval between the node's last samples, in ms: its heartbeat as this page sees it. */
export function heartbeatMs(nodeId: string): number | null {
  const list = history.get(nodeId) ?? [];
  if (list.length < 3) return null;
  const gaps = list
    .slice(-10)
    .map((s, i, a) => (i ? s.t - a[i - 1]!.t : NaN))
    .filter((g) => Number.isFinite(g))
    .sort((a, b) => a - b);
  return gaps[Math.floor(gaps.length / 2)]! * 1000;
}

export function onMetrics(listener: (nodeId: string) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
