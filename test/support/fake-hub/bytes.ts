import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FaultState } from './faults.js';
import type { FakeFile } from './store.js';

export type Headers = Record<string, string | number>;

export interface ByteServing {
  faults: FaultState;
  /** Timers the hub can cancel on stop(). */
  sleep: (ms: number) => Promise<void>;
  /** File bodies being sent right now, and the most at once (how many connections a client really used). */
  bodies: { active: number; peak: number; bytesSent: number };
}

/** [start, end] inclusive, null to serve the whole body (no or unsupported Range), or 'unsatisfiable'. */
export function parseRange(header: string | undefined, size: number): [number, number] | null | 'unsatisfiable' {
  const match = header ? /^bytes=(\d*)-(\d*)$/.exec(header.trim()) : null;
  if (!match || (match[1] === '' && match[2] === '')) return null;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    return suffix === 0 || size === 0 ? 'unsatisfiable' : [Math.max(0, size - suffix), size - 1];
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  return start >= size || start > end ? 'unsatisfiable' : [start, end];
}

/** Answers with the file's bytes (200, or 206 for a Range), applying the injected faults; returns the status sent. */
export function serveBytes(
  req: IncomingMessage,
  res: ServerResponse,
  repo: string,
  file: FakeFile,
  headers: Headers,
  serving: ByteServing,
): number {
  const { faults } = serving;
  const range = faults.ignoreRange ? null : parseRange(req.headers.range, file.size);
  if (range === 'unsatisfiable') {
    res.writeHead(416, { ...headers, 'Content-Range': `bytes */${file.size}` });
    res.end();
    return 416;
  }
  const [start, end] = range ?? [0, file.size - 1];
  const status = range ? 206 : 200;
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'application/octet-stream',
    'Content-Length': end - start + 1,
    'Accept-Ranges': 'bytes',
    ...(range ? { 'Content-Range': `bytes ${start}-${end}/${file.size}` } : {}),
  });
  if (req.method === 'HEAD') {
    res.end();
    return status;
  }
  const body = faults.apply(repo, file.path, file.size, start, file.content.subarray(start, end + 1));
  const { bodies } = serving;
  bodies.active += 1;
  bodies.peak = Math.max(bodies.peak, bodies.active);
  let counted = true;
  const done = (): void => {
    if (counted) bodies.active -= 1;
    counted = false;
  };
  res.once('close', done);
  void writeBody(res, body, faults.takeTruncation(repo, file.path, start), serving, done);
  return status;
}

async function writeBody(
  res: ServerResponse,
  body: Buffer,
  cutAt: number | undefined,
  serving: ByteServing,
  /** Once the last byte is written (a throttled body still sleeps after it: the client is done by then). */
  sent: () => void,
): Promise<void> {
  const limit = cutAt === undefined ? body.length : Math.min(cutAt, body.length);
  const finish = (): void => {
    if (cutAt === undefined) res.end();
    else res.destroy();
  };
  const bps = serving.faults.bytesPerSecond;
  if (!bps) {
    serving.bodies.bytesSent += limit;
    res.write(body.subarray(0, limit), () => {
      sent();
      finish();
    });
    return;
  }
  const chunk = Math.max(1, Math.floor(bps / 20));
  for (let offset = 0; offset < limit; offset += chunk) {
    if (res.destroyed) return;
    const slice = body.subarray(offset, Math.min(limit, offset + chunk));
    serving.bodies.bytesSent += slice.length;
    if (!res.write(slice)) await drained(res);
    if (offset + chunk >= limit) sent();
    await serving.sleep((chunk / bps) * 1000);
  }
  if (!res.destroyed) finish();
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
