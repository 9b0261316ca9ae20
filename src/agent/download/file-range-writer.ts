import { write, writev } from 'node:fs';
import type { BlockPool } from './block-pool.js';
import { DownloadError, DownloadErrorCode } from './download.errors.js';
import type { HttpResponse } from './http-get.client.js';
import { BodyOverLimit, type BodySink } from './http-wire.js';

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
 * Moves a response body into an open file at explicit offsets. The socket reads straight into the blocks of the pool
 * (no buffer allocated, no byte copied per chunk: the response's `BodySink`), one write is in flight while the next
 * blocks fill, and whatever filled meanwhile goes down in one writev; with no free block the socket is paused.
 * Nothing is hashed here: the socket-reading thread only moves bytes to the disk. `position` advances when a write
 * completed; whatever arrived before a failure is written all the same, so a resume asks only for the rest.
 */
export class FileRangeWriter implements BodySink {
  /** Bytes of the file known to be written. */
  position: number;
  /** A failed write. */
  failure: DownloadError | null = null;
  private received: number;
  private current: Filled | null = null;
  private readonly full: Filled[] = [];
  /** The response being read, stopped when a write fails. */
  private reading: HttpResponse | null = null;
  private writing: Promise<void> | null = null;
  /** The tail of `current` is handed to the socket (space() without filled() yet). */
  private reserved = false;

  constructor(private readonly options: FileRangeWriterOptions) {
    this.position = options.position;
    this.received = options.position;
  }

  /**
   * Resolves once the body ended and every byte of it is on disk; rejects (after the writes settled) on a failure.
   * The socket reads straight into this writer's blocks (`BodySink`); with no free block, reading pauses.
   */
  async consume(res: HttpResponse): Promise<void> {
    this.reading = res;
    let failure: Error | null = null;
    try {
      await res.readInto(this);
    } catch (err) {
      failure =
        err instanceof BodyOverLimit
          ? new DownloadError(
              DownloadErrorCode.SIZE_MISMATCH,
              `the server sent bytes past offset ${this.options.limit}`,
              {
                details: { expected: this.options.limit, atLeast: this.received + Math.max(1, err.received) },
              },
            )
          : (err as Error);
    } finally {
      this.reading = null;
    }
    await this.idle();
    const error = this.failure ?? failure;
    if (error) throw error;
  }

  /** @internal BodySink: the free tail of the block being filled (never past `limit`), or null with no free block. */
  space(): Buffer | null {
    if (this.failure) return null;
    if (this.current === null) {
      const block = this.options.pool.take();
      if (block === null) return null;
      this.current = { block, length: 0 };
    }
    const room = Math.min(this.current.block.length - this.current.length, this.options.limit - this.received);
    // The socket may read into this tail any time now: the block stays out of writes until filled() says how much.
    this.reserved = true;
    return this.current.block.subarray(this.current.length, this.current.length + room);
  }

  /** @internal BodySink: `bytes` landed at the start of the last space(). */
  filled(bytes: number): void {
    this.reserved = false;
    const current = this.current;
    if (current === null) return;
    current.length += bytes;
    this.received += bytes;
    if (current.length === current.block.length) {
      this.full.push(current);
      this.current = null;
    }
    this.flush();
  }

  /** @internal BodySink: resolves when a block may be free again. */
  room(): Promise<void> {
    return this.options.pool.available();
  }

  /** Resolves once every byte copied is written (or the disk failed); never rejects. */
  async idle(): Promise<void> {
    // Called once the body is over: no read is pending into the block being filled.
    this.reserved = false;
    this.flush();
    while (this.writing) {
      await this.writing;
      this.flush();
    }
    // Blocks that will not be written (empty, or held after a failed write) go back for the next body.
    for (const f of [...this.full.splice(0), ...(this.current ? [this.current] : [])]) this.options.pool.give(f.block);
    this.current = null;
  }

  /** Starts a write of everything filled (and the block being filled) unless one is in flight. */
  private flush(): void {
    if (this.writing || this.failure) return;
    if (this.current !== null && this.current.length > 0 && !this.reserved) {
      this.full.push(this.current);
      this.current = null;
    }
    if (this.full.length === 0) return;
    const batch = this.full.splice(0);
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
        this.reading?.destroy(this.failure);
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
