import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DownloadError, DownloadErrorCode } from '../../src/agent/download/download.errors.js';
import { checkGgufFile, verifyGgufOrThrow } from '../../src/agent/gguf/gguf-check.js';
import { probeModelLoad } from '../../src/agent/model-probe/model-probe.js';
import { ModelLoadError } from '../../src/shared/model-load-error.js';
import { brokenGguf, tinyGgufBuffer } from '../support/tiny-gguf.js';

let dir: string;
const good = tinyGgufBuffer();
const files: Record<string, Buffer> = {
  'good.gguf': good,
  'empty.gguf': brokenGguf.empty(),
  'bad-magic.gguf': brokenGguf.badMagic(),
  'truncated-header.gguf': brokenGguf.truncatedHeader(),
  'truncated-data.gguf': brokenGguf.truncatedData(),
  'missing-ff.gguf': brokenGguf.missingRequiredKey('llama.feed_forward_length'),
  'missing-heads.gguf': brokenGguf.missingRequiredKey('llama.attention.head_count'),
  'missing-ctx.gguf': brokenGguf.missingRequiredKey('llama.context_length'),
  'missing-tokenizer.gguf': brokenGguf.missingRequiredKey('tokenizer.ggml.model'),
  'missing-arch.gguf': brokenGguf.missingRequiredKey('general.architecture'),
  'flipped.gguf': brokenGguf.flippedBytes(),
  'model.bin': good,
  'mmproj.gguf': headerOnlyGguf({
    'general.architecture': 'clip',
    'general.type': 'mmproj',
    'clip.has_vision_encoder': true,
  }),
  'shard-2-of-2.gguf': headerOnlyGguf({ 'general.architecture': 'llama', 'split.no': 1, 'split.count': 2 }),
  'shard-1-of-2.gguf': headerOnlyGguf({ 'general.architecture': 'llama', 'split.no': 0, 'split.count': 2 }),
  'mamba.gguf': headerOnlyGguf({
    'general.architecture': 'mamba',
    'mamba.context_length': 1024,
    'mamba.embedding_length': 64,
    'mamba.block_count': 2,
    'tokenizer.ggml.model': 'gpt2',
  }),
};
const path = (name: string): string => join(dir, name);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gguf-check-'));
  for (const [name, content] of Object.entries(files)) await writeFile(path(name), content);
  await writeFile(path('download.gguf.partial'), good);
  await writeFile(path('mmproj-cut.gguf'), files['mmproj.gguf']!.subarray(0, 40));
  await mkdir(path('directory.gguf'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A GGUF v3 file with these metadata values and no tensors (projectors and shards carry no hyperparameters). */
function headerOnlyGguf(metadata: Record<string, string | number | boolean>): Buffer {
  const parts: Buffer[] = [];
  const u32 = (v: number): void => void parts.push(Buffer.from(new Uint32Array([v]).buffer));
  const u64 = (v: number): void => void parts.push(Buffer.from(new BigUint64Array([BigInt(v)]).buffer));
  const str = (s: string): void => {
    u64(Buffer.byteLength(s));
    parts.push(Buffer.from(s));
  };
  parts.push(Buffer.from('GGUF'));
  u32(3);
  u64(0);
  u64(Object.keys(metadata).length);
  for (const [key, value] of Object.entries(metadata)) {
    str(key);
    if (typeof value === 'string') {
      u32(8);
      str(value);
    } else if (typeof value === 'boolean') {
      u32(7);
      parts.push(Buffer.from([value ? 1 : 0]));
    } else {
      u32(4);
      u32(value);
    }
  }
  const body = Buffer.concat(parts);
  return Buffer.concat([body, Buffer.alloc((32 - (body.length % 32)) % 32)]);
}

describe('checkGgufFile (no model load)', () => {
  it.each([
    ['nothing.gguf', ModelLoadError.FILE_NOT_FOUND, /^file not found: .*nothing\.gguf$/],
    ['directory.gguf', ModelLoadError.FILE_NOT_FOUND, /^not a regular file/],
    ['model.bin', ModelLoadError.INVALID_FORMAT, /^not a \.gguf file: .*model\.bin$/],
    ['empty.gguf', ModelLoadError.INVALID_FORMAT, /^empty file$/],
    ['bad-magic.gguf', ModelLoadError.INVALID_FORMAT, /^not a GGUF file \(magic "GGUX"\)$/],
    ['truncated-header.gguf', ModelLoadError.CORRUPTED, /^truncated: header ends at \d+, file has \d+ bytes$/],
    [
      'truncated-data.gguf',
      ModelLoadError.CORRUPTED,
      new RegExp(`^truncated: data ends at ${good.length}, file has ${files['truncated-data.gguf']!.length} bytes$`),
    ],
    ['missing-ff.gguf', ModelLoadError.CORRUPTED, /^missing required key llama\.feed_forward_length$/],
    ['missing-heads.gguf', ModelLoadError.CORRUPTED, /^missing required key llama\.attention\.head_count$/],
    ['missing-ctx.gguf', ModelLoadError.CORRUPTED, /^missing required key llama\.context_length$/],
    ['missing-tokenizer.gguf', ModelLoadError.CORRUPTED, /^missing required key tokenizer\.ggml\.model$/],
    ['missing-arch.gguf', ModelLoadError.CORRUPTED, /^missing required key general\.architecture$/],
    ['shard-1-of-2.gguf', ModelLoadError.CORRUPTED, /^missing required key llama\.context_length$/],
    ['mmproj-cut.gguf', ModelLoadError.CORRUPTED, /^truncated: header ends at \d+, file has 40 bytes$/],
  ])('%s → %s', async (name, code, reason) => {
    const result = await checkGgufFile(path(name));
    expect(result).toEqual({ ok: false, code, reason: expect.stringMatching(reason) });
  });

  it('accepts a complete model and summarises it', async () => {
    await expect(checkGgufFile(path('good.gguf'), good.length)).resolves.toEqual({
      ok: true,
      info: { architecture: 'llama', tensorCount: 21, dataEnd: good.length },
    });
  });

  it('accepts flipped bytes in tensor data: only the sha256 check catches those', async () => {
    await expect(checkGgufFile(path('flipped.gguf'))).resolves.toMatchObject({ ok: true });
  });

  it('refuses a file whose size differs from the manifest', async () => {
    await expect(checkGgufFile(path('good.gguf'), good.length + 100)).resolves.toEqual({
      ok: false,
      code: ModelLoadError.CORRUPTED,
      reason: `truncated: expected ${good.length + 100} bytes, file has ${good.length} bytes`,
    });
  });

  it('checks only header and length of projectors, later split shards and recurrent models', async () => {
    for (const name of ['mmproj.gguf', 'shard-2-of-2.gguf', 'mamba.gguf']) {
      expect([name, await checkGgufFile(path(name))]).toEqual([name, expect.objectContaining({ ok: true })]);
    }
  });

  it('verifyGgufOrThrow accepts a good .partial and throws INVALID_GGUF with the reason otherwise', async () => {
    await expect(verifyGgufOrThrow(path('download.gguf.partial'))).resolves.toBeUndefined();
    const err = await verifyGgufOrThrow(path('truncated-data.gguf')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err).toMatchObject({ code: DownloadErrorCode.INVALID_GGUF, retryable: false });
    expect((err as DownloadError).message).toMatch(/truncated: data ends at/);
  });
});

describe('probeModelLoad (child process)', () => {
  it('loads a good model and creates a context', async () => {
    const result = await probeModelLoad({ modelPath: path('good.gguf') });
    expect(result).toEqual({ ok: true, loadMs: expect.any(Number) });
  });

  it('loads a model with flipped bytes in its tensor data: that is the sha256 check’s job, not the probe’s', async () => {
    await expect(probeModelLoad({ modelPath: path('flipped.gguf') })).resolves.toMatchObject({ ok: true });
  });

  it('never loads a file the quick checks refuse (the messages are the quick checks’, not llama.cpp’s)', async () => {
    await expect(probeModelLoad({ modelPath: path('nothing.gguf') })).resolves.toEqual({
      ok: false,
      code: ModelLoadError.FILE_NOT_FOUND,
      message: expect.stringMatching(/^file not found/),
      nativeLog: [],
    });
    await expect(probeModelLoad({ modelPath: path('bad-magic.gguf') })).resolves.toMatchObject({
      ok: false,
      code: ModelLoadError.INVALID_FORMAT,
      message: expect.stringMatching(/^not a GGUF file/),
    });
    await expect(probeModelLoad({ modelPath: path('truncated-data.gguf') })).resolves.toMatchObject({
      ok: false,
      code: ModelLoadError.CORRUPTED,
      message: expect.stringMatching(/^truncated: data ends at/),
    });
    await expect(probeModelLoad({ modelPath: path('missing-ff.gguf') })).resolves.toMatchObject({
      ok: false,
      code: ModelLoadError.CORRUPTED,
      message: 'missing required key llama.feed_forward_length',
    });
    await expect(
      probeModelLoad({ modelPath: path('good.gguf'), projectorPath: path('nothing-mmproj.gguf') }),
    ).resolves.toMatchObject({
      ok: false,
      code: ModelLoadError.FILE_NOT_FOUND,
      message: expect.stringMatching(/^projector: file not found/),
    });
  });

  describe('what llama.cpp itself says, quick checks skipped', () => {
    const skip = { skipQuickChecks: true };

    it('truncated data → CORRUPTED with the native reason', async () => {
      const result = await probeModelLoad({ modelPath: path('truncated-data.gguf') }, skip);
      expect(result).toMatchObject({ ok: false, code: ModelLoadError.CORRUPTED });
      if (result.ok) return;
      expect(result.message).toMatch(/data is not within the file bounds/);
      expect(result.nativeLog.join('\n')).toMatch(/model is corrupted or incomplete/);
    });

    it('truncated header → CORRUPTED', async () => {
      const result = await probeModelLoad({ modelPath: path('truncated-header.gguf') }, skip);
      expect(result).toMatchObject({
        ok: false,
        code: ModelLoadError.CORRUPTED,
        message: expect.stringMatching(/failed to read/),
      });
    });

    it('a missing key that aborts llama.cpp kills the child, not this process → CORRUPTED', async () => {
      const result = await probeModelLoad({ modelPath: path('missing-ff.gguf') }, skip);
      expect(result).toMatchObject({
        ok: false,
        code: ModelLoadError.CORRUPTED,
        message: expect.stringMatching(/^llama\.cpp aborted while loading: .*GGML_ASSERT/),
      });
      expect(process.exitCode ?? 0).toBe(0);
    });

    it('bad magic → INVALID_FORMAT', async () => {
      await expect(probeModelLoad({ modelPath: path('bad-magic.gguf') }, skip)).resolves.toMatchObject({
        ok: false,
        code: ModelLoadError.INVALID_FORMAT,
        message: 'Invalid GGUF magic. Expected "GGUF" but got "GGUX".',
      });
    });

    it('a missing file → FILE_NOT_FOUND', async () => {
      await expect(probeModelLoad({ modelPath: path('nothing.gguf') }, skip)).resolves.toMatchObject({
        ok: false,
        code: ModelLoadError.FILE_NOT_FOUND,
        message: expect.stringMatching(/ENOENT/),
      });
    });
  });

  it('gives up on a load that outlives its timeout', async () => {
    await expect(probeModelLoad({ modelPath: path('good.gguf'), timeoutMs: 50 })).resolves.toMatchObject({
      ok: false,
      code: ModelLoadError.UNKNOWN,
      message: 'load timed out after 50 ms',
    });
  });
});
