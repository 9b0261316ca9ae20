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
 * `position` only advances when the disk write completed; `idle()` waits for the write in flight after a destroy.
 */
export class HashingFileWriter extends Writable {
  position: number;
  private inFlight: Promise<void> = Promise.resolve();
  private readonly fd: number;
  private readonly hash: Hash;
  private readonly limit: number;
  private readonly onWritten: (bytes: number) => void;

  constructor(options: HashingFileWriterOptions) {
    // A few MiB of queue lets writev batch socket chunks while the disk is busy, and bounds memory either way.
    super({ highWaterMark: 4 * 1024 * 1024 });
    this.fd = options.fd;
    this.position = options.position;
    this.hash = options.hash;
    this.limit = options.limit;
    this.onWritten = options.onWritten;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.writeAll([chunk], callback);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    this.writeAll(
      chunks.map((c) => c.chunk),
      callback,
    );
  }

  /** Resolves once no write is in flight (a destroyed writer may still have one). */
  idle(): Promise<void> {
    return this.inFlight;
  }

  private writeAll(buffers: Buffer[], callback: (error?: Error | null) => void): void {
    const length = buffers.reduce((sum, b) => sum + b.length, 0);
    if (this.position + length > this.limit) {
      callback(
        new DownloadError(
          DownloadErrorCode.SIZE_MISMATCH,
          `the server sent more than the expected ${this.limit} bytes`,
          { details: { expected: this.limit, atLeast: this.position + length } },
        ),
      );
      return;
    }
    // Hashing before the write is issued keeps the hash on the main thread while the thread pool writes the last batch.
    for (const b of buffers) this.hash.update(b);
    this.inFlight = this.writeFully(buffers, this.position).then(
      () => {
        this.position += length;
        this.onWritten(length);
        callback();
      },
      (err: NodeJS.ErrnoException) => callback(diskError(err)),
    );
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
