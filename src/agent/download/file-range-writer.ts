import { write, writev } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { BlockPool } from './block-pool.js';
import { DownloadError, DownloadErrorCode } from './download.errors.js';

export interface FileRangeWriterOptions {
  fd: number;
  /** File offset of the first body byte. */
  position: number;
  /** Offset the body must never go past (a server sending more than announced is cut off, not trusted). */
  limit: number;
  /** After each completed write, with its file offset and byte count. */
  onWritten: (at: number, bytes: number) => void;
  /** The blocks bytes are copied into on their way to the disk (reused by a connection's successive bodies). */
  pool: BlockPool;
}

interface Filled {
  block: Buffer;
  length: number;
}

/**
 * Moves a response body into an open file at explicit offsets. Each socket chunk is copied into a block of the pool
 * and dropped at once (it dies young, instead of waiting in a queue and burdening the GC), one write is in flight while
 * the next blocks fill, and whatever filled meanwhile goes down in one writev; with no free block the socket is paused.
 * Nothing is hashed here: the socket-reading thread only moves bytes to the disk. `position` advances when a write
 * completed; whatever arrived before a failure is written all the same, so a resume asks only for the rest.
 */
export class FileRangeWriter {
  /** Bytes of the file known to be written. */
  position: number;
  /** A failed write. */
  failure: DownloadError | null = null;
  private received: number;
  private current: Filled | null = null;
  private readonly filled: Filled[] = [];
  private writing: Promise<void> | null = null;

  constructor(private readonly options: FileRangeWriterOptions) {
    this.position = options.position;
    this.received = options.position;
  }

  /** Resolves once the body ended and every byte of it is on disk; rejects (after the writes settled) on a failure. */
  consume(res: IncomingMessage): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      let ended = false;
      /** Chunks that found no free block, in order; the socket is paused while any wait. */
      const waiting: Buffer[] = [];
      let draining: Promise<void> | null = null;
      const finish = (err: Error | null): void => {
        if (settled) return;
        settled = true;
        res.off('data', onData);
        res.off('end', onEnd);
        res.off('error', finish);
        res.off('close', onClose);
        if (err) res.destroy();
        void this.idle().then(() => {
          const failure = this.failure ?? err;
          if (failure) reject(failure);
          else resolve();
        });
      };
      const drain = async (): Promise<void> => {
        while (waiting.length > 0 && !settled && !this.failure) {
          await this.options.pool.available();
          if (settled) return;
          const rest = this.copyIn(waiting[0] as Buffer);
          if (rest === null) waiting.shift();
          else waiting[0] = rest;
        }
        draining = null;
        if (settled) return;
        if (this.failure) finish(this.failure);
        else if (ended) finish(null);
        else res.resume();
      };
      const onData = (chunk: Buffer): void => {
        if (this.received + chunk.length > this.options.limit) {
          finish(
            new DownloadError(
              DownloadErrorCode.SIZE_MISMATCH,
              `the server sent bytes past offset ${this.options.limit}`,
              {
                details: { expected: this.options.limit, atLeast: this.received + chunk.length },
              },
            ),
          );
          return;
        }
        this.received += chunk.length;
        const rest = waiting.length > 0 ? chunk : this.copyIn(chunk);
        if (this.failure) return finish(this.failure);
        if (rest === null) return;
        // No free block: hold the chunk and stop reading until a write gives blocks back.
        waiting.push(rest);
        res.pause();
        draining ??= drain();
      };
      const onEnd = (): void => {
        ended = true;
        if (draining === null) finish(null);
      };
      const onClose = (): void => {
        if (!res.complete) finish(new Error('the connection closed before the end of the body'));
      };
      res.on('data', onData);
      res.on('end', onEnd);
      res.on('error', finish);
      res.on('close', onClose);
    });
  }

  /** Resolves once every byte copied is written (or the disk failed); never rejects. */
  async idle(): Promise<void> {
    this.flush();
    while (this.writing) {
      await this.writing;
      this.flush();
    }
    // Blocks that will not be written (empty, or held after a failed write) go back for the next body.
    for (const f of [...this.filled.splice(0), ...(this.current ? [this.current] : [])])
      this.options.pool.give(f.block);
    this.current = null;
  }

  /** Copies as much of `chunk` as free blocks hold and starts a write; returns what did not fit (null: all did). */
  private copyIn(chunk: Buffer): Buffer | null {
    let at = 0;
    while (at < chunk.length) {
      if (this.current === null) {
        const block = this.options.pool.take();
        if (block === null) break;
        this.current = { block, length: 0 };
      }
      const n = chunk.copy(this.current.block, this.current.length, at);
      this.current.length += n;
      at += n;
      if (this.current.length === this.current.block.length) {
        this.filled.push(this.current);
        this.current = null;
      }
    }
    this.flush();
    return at < chunk.length ? chunk.subarray(at) : null;
  }

  /** Starts a write of everything filled (and the block being filled) unless one is in flight. */
  private flush(): void {
    if (this.writing || this.failure) return;
    if (this.current !== null && this.current.length > 0) {
      this.filled.push(this.current);
      this.current = null;
    }
    if (this.filled.length === 0) return;
    const batch = this.filled.splice(0);
    const at = this.position;
    const length = batch.reduce((sum, f) => sum + f.length, 0);
    const run = (async () => {
      try {
        await writeFully(
          this.options.fd,
          batch.map((f) => f.block.subarray(0, f.length)),
          at,
        );
        this.position += length;
        this.options.onWritten(at, length);
      } catch (err) {
        this.failure = diskError(err as NodeJS.ErrnoException);
      } finally {
        for (const f of batch) this.options.pool.give(f.block);
      }
    })();
    this.writing = run;
    void run.then(() => {
      this.writing = null;
      this.flush();
    });
  }
}

/** pwrite/pwritev may write less than asked (a full disk, a signal): loop until all of it is down. */
async function writeFully(fd: number, buffers: Buffer[], position: number): Promise<void> {
  let pending = buffers;
  let at = position;
  while (pending.length > 0) {
    const written = await new Promise<number>((resolve, reject) => {
      const done = (err: NodeJS.ErrnoException | null, n: number): void => (err ? reject(err) : resolve(n));
      if (pending.length === 1) {
        const only = pending[0] as Buffer;
        write(fd, only, 0, only.length, at, done);
      } else writev(fd, pending, at, done);
    });
    at += written;
    pending = dropBytes(pending, written);
  }
}

function dropBytes(buffers: Buffer[], count: number): Buffer[] {
  let left = count;
  const rest: Buffer[] = [];
  for (const b of buffers) {
    if (left >= b.length) left -= b.length;
    else {
      rest.push(left > 0 ? b.subarray(left) : b);
      left = 0;
    }
  }
  return rest;
}

export function diskError(err: NodeJS.ErrnoException): DownloadError {
  const full = err.code === 'ENOSPC' || err.code === 'EDQUOT';
  return new DownloadError(
    full ? DownloadErrorCode.INSUFFICIENT_DISK : DownloadErrorCode.IO_ERROR,
    full ? `the disk filled up while writing: ${err.message}` : `writing the file failed: ${err.message}`,
    { details: { errno: err.code }, cause: err },
  );
}
