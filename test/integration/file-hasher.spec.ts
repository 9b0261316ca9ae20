import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { appendFile, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DownloadErrorCode } from '../../src/agent/download/download.errors.js';
import { FileHasher, sha256OfFile } from '../../src/agent/download/file-hasher.js';

const MiB = 1024 * 1024;
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'file-hasher-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('FileHasher (the hashing thread)', () => {
  it('hashes a file in order as it grows, and starts over after a reset', async () => {
    const path = join(dir, 'growing.bin');
    const parts = [randomBytes(3 * MiB), randomBytes(5 * MiB + 17), randomBytes(1234)];
    await writeFile(path, '');
    const hasher = new FileHasher(path);
    try {
      let length = 0;
      for (const part of parts) {
        await appendFile(path, part);
        length += part.length;
        hasher.advance(length, true);
      }
      expect(await hasher.digest(length)).toBe(sha256(Buffer.concat(parts)));

      await truncate(path, 0);
      hasher.reset();
      const fresh = randomBytes(MiB);
      await writeFile(path, fresh);
      expect(await hasher.digest(fresh.length)).toBe(sha256(fresh));
    } finally {
      hasher.close();
    }
  });

  it('serves several files at once, and fails one that is shorter than asked with IO_ERROR', async () => {
    const a = randomBytes(9 * MiB);
    const b = randomBytes(2 * MiB);
    await writeFile(join(dir, 'a'), a);
    await writeFile(join(dir, 'b'), b);
    const [ha, hb] = await Promise.all([sha256OfFile(join(dir, 'a')), sha256OfFile(join(dir, 'b'), b.length)]);
    expect([ha, hb]).toEqual([sha256(a), sha256(b)]);
    await expect(sha256OfFile(join(dir, 'b'), b.length + 1)).rejects.toMatchObject({
      code: DownloadErrorCode.IO_ERROR,
      message: expect.stringMatching(/ends at byte 2097152, expected 2097153/),
    });
  });

  it('stops waiting for a digest when its signal aborts', async () => {
    await writeFile(join(dir, 'c'), randomBytes(MiB));
    const abort = new AbortController();
    abort.abort();
    await expect(sha256OfFile(join(dir, 'c'), MiB, abort.signal)).rejects.toMatchObject({
      code: DownloadErrorCode.ABORTED,
    });
  });
});
