import type { Hash } from 'node:crypto';
import { write, writev } from 'node:fs';
import { Writable } from 'node:stream';
import { DownloadError, DownloadErrorCode } from './download.errors.js';

export interface HashingFileWriterOptions {
  fd: number;
  /** File offset of the first byte this writer receives (the bytes before it are already on disk and hashed). */
  position: number;
  /** The sha256 of every byte before `position`; this writer keeps feeding it. */
  hash: Hash;
  /** The file must never grow past this (a server sending more than announced is cut off, not trusted). */
  limit: number;
  /** After each completed write, with its byte count. */
  onWritten: (bytes: number) => void;
}

/**
 * Writes a body into an open file at explicit offsets and feeds the same chunks to the hash, so the file is read once.
 * One write is in flight while the next batch is hashed (the disk and the hash overlap); `position` only advances
 * when a write completed, and `idle()` waits for the write in flight after a destroy.
 */
export class HashingFileWriter extends Writable {
  /** Bytes of the file known to be written. */
  position: number;
  /** A failed write, reported to the next write or to the end of the stream. */
  failure: DownloadError | null = null;
  private queued: number;
  /** Every queued write, in order; never rejects. */
  private tail: Promise<void> = Promise.resolve();
  private readonly fd: number;
  private readonly hash: Hash;
  private readonly limit: number;
  private readonly onWritten: (bytes: number) => void;

  constructor(options: HashingFileWriterOptions) {
    // A few MiB of queue lets writev batch socket chunks while the disk is busy, and bounds memory either way.
    super({ highWaterMark: 4 * 1024 * 1024 });
    this.fd = options.fd;
    this.position = options.position;
    this.queued = options.position;
    this.hash = options.hash;
    this.limit = options.limit;
    this.onWritten = options.onWritten;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.enqueue([chunk], callback);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    this.enqueue(
      chunks.map((c) => c.chunk),
      callback,
    );
  }

  override _final(callback: (error?: Error | null) => void): void {
    void this.tail.then(() => callback(this.failure));
  }

  /** Resolves once every queued write has landed (a destroyed writer may still have some); never rejects. */
  idle(): Promise<void> {
    return this.tail;
  }

  private enqueue(buffers: Buffer[], callback: (error?: Error | null) => void): void {
    const length = buffers.reduce((sum, b) => sum + b.length, 0);
    if (this.failure) return callback(this.failure);
    if (this.queued + length > this.limit) {
      return callback(
        new DownloadError(
          DownloadErrorCode.SIZE_MISMATCH,
          `the server sent more than the expected ${this.limit} bytes`,
          { details: { expected: this.limit, atLeast: this.queued + length } },
        ),
      );
    }
    // Hashed now, on the main thread, while the thread pool still writes the previous batch.
    for (const b of buffers) this.hash.update(b);
    const at = this.queued;
    this.queued += length;
    const previous = this.tail;
    this.tail = previous.then(async () => {
      if (this.failure) return;
      try {
        await this.writeFully(buffers, at);
        this.position += length;
        this.onWritten(length);
      } catch (err) {
        this.failure = diskError(err as NodeJS.ErrnoException);
      }
    });
    // Ask for the next batch as soon as this one is on its way to the disk, not when it has landed.
    void previous.then(() => callback(this.failure));
  }

  /** pwrite/pwritev may write less than asked (a full disk, a signal): loop until all of it is down. */
  private async writeFully(buffers: Buffer[], position: number): Promise<void> {
    let pending = buffers;
    let at = position;
    while (pending.length > 0) {
      const written = await new Promise<number>((resolve, reject) => {
        const done = (err: NodeJS.ErrnoException | null, n: number): void => (err ? reject(err) : resolve(n));
        if (pending.length === 1) {
          const only = pending[0] as Buffer;
          write(this.fd, only, 0, only.length, at, done);
        } else writev(this.fd, pending, at, done);
      });
      at += written;
      pending = dropBytes(pending, written);
    }
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
