/** Client-side speed and ETA from successive byte counts, for servers whose NodeModelState lacks bytesPerSecond. */
interface Point {
  t: number;
  bytes: number;
}

const WINDOW_MS = 5000;
const points = new Map<string, Point[]>();

export function observeBytes(modelId: string, nodeId: string, bytes: number, now = Date.now()): void {
  const key = `${modelId}|${nodeId}`;
  const list = points.get(key) ?? [];
  const last = list[list.length - 1];
  if (last && bytes < last.bytes) list.length = 0;
  if (!last || last.bytes !== bytes) list.push({ t: now, bytes });
  while (list.length > 2 && now - list[0]!.t > WINDOW_MS) list.shift();
  points.set(key, list);
}

export function rate(modelId: string, nodeId: string): number | null {
  const list = points.get(`${modelId}|${nodeId}`);
  if (!list || list.length < 2) return null;
  const a = list[0]!;
  const b = list[list.length - 1]!;
  return b.t > a.t ? ((b.bytes - a.bytes) * 1000) / (b.t - a.t) : null;
}
