/**
 * The agent's hashing thread: sha256 of files being written, so the thread that reads the sockets never hashes. For
 * each file the downloader says how far it is complete from byte 0 (`advance`); this thread reads those bytes back
 * (from the page cache: they were just written) and hashes them in order. Several files are served in turns of a
 * few MiB, so a long backlog of one (a resumed download's prefix, a full verification) never holds up the others.
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import type { HashWorkerReply, HashWorkerRequest } from './sha256.protocol.js';

const port = parentPort;
if (!port) throw new Error('sha256.worker must run in a worker thread');
const send = (reply: HashWorkerReply): void => port.postMessage(reply);

const READ_BYTES = 1024 * 1024;
const TURN_BYTES = 8 * READ_BYTES;
const buffer = Buffer.allocUnsafe(READ_BYTES);

interface Job {
  path: string;
  fd: number | null;
  hash: Hash;
  hashed: number;
  target: number;
  /** The length a digest was asked for, answered once reached. */
  digestAt: number | null;
}

const jobs = new Map<number, Job>();
let scheduled = false;

/** Hashes up to TURN_BYTES of the job; false when it cannot go further now (caught up, or the file is shorter). */
function turn(id: number, job: Job): boolean {
  job.fd ??= openSync(job.path, 'r');
  const until = Math.min(job.target, job.hashed + TURN_BYTES);
  while (job.hashed < until) {
    const n = readSync(job.fd, buffer, 0, Math.min(READ_BYTES, until - job.hashed), job.hashed);
    if (n === 0) break;
    job.hash.update(n === READ_BYTES ? buffer : buffer.subarray(0, n));
    job.hashed += n;
  }
  if (job.digestAt !== null && (job.hashed >= job.digestAt || job.hashed < until)) {
    const length = job.digestAt;
    job.digestAt = null;
    if (job.hashed === length) {
      send({ kind: 'digest', id, sha256: job.hash.digest('hex'), length });
      job.hash = createHash('sha256');
      job.hashed = 0;
      job.target = 0;
    } else {
      send({
        kind: 'error',
        id,
        code: 'ESHORT',
        message: `${job.path} ends at byte ${job.hashed}, expected ${length}`,
      });
    }
    return false;
  }
  return job.hashed < job.target && job.hashed === until;
}

function pump(): void {
  scheduled = false;
  let more = false;
  for (const [id, job] of jobs) {
    if (job.hashed >= job.target && job.digestAt === null) continue;
    try {
      if (turn(id, job)) more = true;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      job.digestAt = null;
      send({ kind: 'error', id, code: e.code ?? 'UNKNOWN', message: e.message });
    }
  }
  // Between turns, messages get in (new files, further advances).
  if (more) schedule();
}

function schedule(): void {
  if (scheduled) return;
  scheduled = true;
  setImmediate(pump);
}

function close(job: Job): void {
  if (job.fd !== null) closeSync(job.fd);
  job.fd = null;
}

port.on('message', (request: HashWorkerRequest) => {
  const job = jobs.get(request.id);
  switch (request.kind) {
    case 'open':
      if (job) close(job);
      jobs.set(request.id, {
        path: request.path,
        fd: null,
        hash: createHash('sha256'),
        hashed: 0,
        target: 0,
        digestAt: null,
      });
      return;
    case 'advance':
      if (!job) return;
      job.target = Math.max(job.target, request.upTo);
      schedule();
      return;
    case 'reset':
      if (!job) return;
      job.hash = createHash('sha256');
      job.hashed = 0;
      job.target = 0;
      return;
    case 'digest':
      if (!job) return;
      job.target = Math.max(job.target, request.length);
      job.digestAt = request.length;
      schedule();
      return;
    case 'close':
      if (!job) return;
      close(job);
      jobs.delete(request.id);
      return;
  }
});
