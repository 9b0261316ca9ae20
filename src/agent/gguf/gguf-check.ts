import type { Stats } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { readGgufFileInfo, type GgufFileInfo } from 'node-llama-cpp';
import { ModelLoadError } from '../../shared/model-load-error.js';
import { DownloadError, DownloadErrorCode } from '../download/download.errors.js';
import { ggufTensorByteSize } from './ggml-type-sizes.js';

export interface GgufSummary {
  architecture: string | null;
  tensorCount: number;
  /** Where this file's tensor data ends (≤ file size for a complete file). */
  dataEnd: number;
}

export type GgufCheckResult =
  | { ok: true; info: GgufSummary }
  | { ok: false; code: Exclude<ModelLoadError, ModelLoadError.CONTEXT_FAILED>; reason: string };

export interface GgufCheckOptions {
  /** Refuse names that do not end in `.gguf` (seed 004's INVALID_FORMAT). Off for a `.partial` being verified. */
  requireGgufExtension?: boolean;
}

/** Recurrent architectures have no attention heads or feed-forward width; llama.cpp reads both as optional. */
const RECURRENT_ARCHITECTURES = new Set(['mamba', 'mamba2', 'rwkv6', 'rwkv6qwen2', 'rwkv7', 'arwkv7']);
const GGUF_MAGIC = 'GGUF';
const HEADER_READ_TIMEOUT_MS = 10_000;

/**
 * Quick checks of a GGUF file without loading it (~ms, header only): exists, is GGUF, is as long as its header says,
 * and carries the metadata llama.cpp needs (a missing `feed_forward_length` or `head_count` aborts the whole process).
 */
export async function checkGgufFile(
  path: string,
  expectedSize?: number,
  options: GgufCheckOptions = {},
): Promise<GgufCheckResult> {
  let st: Stats;
  try {
    st = await stat(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return e.code === 'ENOENT' || e.code === 'ENOTDIR'
      ? { ok: false, code: ModelLoadError.FILE_NOT_FOUND, reason: `file not found: ${path}` }
      : { ok: false, code: ModelLoadError.UNKNOWN, reason: `cannot read ${path}: ${e.message}` };
  }
  if (!st.isFile()) return { ok: false, code: ModelLoadError.FILE_NOT_FOUND, reason: `not a regular file: ${path}` };
  if ((options.requireGgufExtension ?? true) && !path.toLowerCase().endsWith('.gguf')) {
    return { ok: false, code: ModelLoadError.INVALID_FORMAT, reason: `not a .gguf file: ${path}` };
  }
  const size = st.size;
  if (size === 0) return { ok: false, code: ModelLoadError.INVALID_FORMAT, reason: 'empty file' };
  const magic = await readMagic(path);
  if (magic !== GGUF_MAGIC) {
    return {
      ok: false,
      code: ModelLoadError.INVALID_FORMAT,
      reason: `not a GGUF file (magic ${JSON.stringify(magic)})`,
    };
  }
  if (expectedSize !== undefined && size !== expectedSize) {
    const what = size < expectedSize ? 'truncated' : 'too long';
    return {
      ok: false,
      code: ModelLoadError.CORRUPTED,
      reason: `${what}: expected ${expectedSize} bytes, file has ${size} bytes`,
    };
  }

  let info: GgufFileInfo;
  try {
    info = await readGgufFileInfo(path, {
      logWarnings: false,
      spliceSplitFiles: false,
      sourceType: 'filesystem',
      // A corrupted array length makes the parser read zeros past the end for a very long time.
      signal: AbortSignal.timeout(HEADER_READ_TIMEOUT_MS),
    });
  } catch (err) {
    const e = err as Error;
    if (e.name === 'TimeoutError') {
      return {
        ok: false,
        code: ModelLoadError.CORRUPTED,
        reason: `unreadable GGUF header: not parsed within ${HEADER_READ_TIMEOUT_MS} ms (corrupted lengths?)`,
      };
    }
    const code =
      e.constructor.name === 'InvalidGgufMagicError' ? ModelLoadError.INVALID_FORMAT : ModelLoadError.CORRUPTED;
    return { ok: false, code, reason: `unreadable GGUF header: ${e.message}` };
  }

  const headerEnd = info.infoEndOffset ?? 0;
  if (headerEnd > size) {
    return {
      ok: false,
      code: ModelLoadError.CORRUPTED,
      reason: `truncated: header ends at ${headerEnd}, file has ${size} bytes`,
    };
  }
  let dataEnd = headerEnd;
  for (const tensor of info.tensorInfo ?? []) {
    try {
      dataEnd = Math.max(dataEnd, Number(tensor.fileOffset) + ggufTensorByteSize(tensor));
    } catch (err) {
      return { ok: false, code: ModelLoadError.INVALID_FORMAT, reason: (err as Error).message };
    }
  }
  if (dataEnd > size) {
    return {
      ok: false,
      code: ModelLoadError.CORRUPTED,
      reason: `truncated: data ends at ${dataEnd}, file has ${size} bytes`,
    };
  }

  const missing = missingRequiredKey(info.metadata);
  if (missing !== null) {
    return { ok: false, code: ModelLoadError.CORRUPTED, reason: `missing required key ${missing}` };
  }
  const architecture = metadataValue(info.metadata, 'general.architecture');
  return {
    ok: true,
    info: {
      architecture: typeof architecture === 'string' ? architecture : null,
      tensorCount: Number(info.tensorCount),
      dataEnd,
    },
  };
}

/** FileDownloader's `verify` hook: the finished `.partial` must be a complete, loadable-looking GGUF. */
export async function verifyGgufOrThrow(path: string): Promise<void> {
  const result = await checkGgufFile(path, undefined, { requireGgufExtension: false });
  if (!result.ok) {
    throw new DownloadError(DownloadErrorCode.INVALID_GGUF, `not a valid GGUF file: ${result.reason}`, {
      details: { loadError: result.code, reason: result.reason },
    });
  }
}

/**
 * The first key llama.cpp needs that the header lacks, or null. Projectors (mmproj / clip) and split shards after the
 * first carry no model hyperparameters: only their header and length are checked.
 */
function missingRequiredKey(metadata: unknown): string | null {
  const has = (key: string): boolean => metadataValue(metadata, key) !== undefined;
  const architecture = metadataValue(metadata, 'general.architecture');
  const type = metadataValue(metadata, 'general.type');
  if (type === 'mmproj' || architecture === 'clip' || metadataValue(metadata, 'clip') !== undefined) return null;
  const splitCount = Number(metadataValue(metadata, 'split.count') ?? 1);
  const splitIndex = Number(metadataValue(metadata, 'split.no') ?? 0);
  if (splitCount > 1 && splitIndex > 0) return null;
  if (typeof architecture !== 'string' || architecture === '') return 'general.architecture';
  const required = [
    `${architecture}.context_length`,
    `${architecture}.embedding_length`,
    `${architecture}.block_count`,
    ...(RECURRENT_ARCHITECTURES.has(architecture)
      ? []
      : [`${architecture}.feed_forward_length`, `${architecture}.attention.head_count`]),
    'tokenizer.ggml.model',
  ];
  return required.find((key) => !has(key)) ?? null;
}

/**
 * A dotted key in node-llama-cpp's nested metadata. Keys nest on dots, but a key that collides with a value stays
 * flat ("a.b" beside "a.b.c"), so every split of the remaining path is tried.
 */
export function metadataValue(metadata: unknown, key: string): unknown {
  return lookup(metadata, key.split('.'));
}

function lookup(node: unknown, parts: string[]): unknown {
  if (parts.length === 0) return node;
  if (typeof node !== 'object' || node === null || Array.isArray(node)) return undefined;
  const record = node as Record<string, unknown>;
  for (let i = 1; i <= parts.length; i += 1) {
    const head = parts.slice(0, i).join('.');
    if (!Object.hasOwn(record, head)) continue;
    const found = lookup(record[head], parts.slice(i));
    if (found !== undefined) return found;
  }
  return undefined;
}

async function readMagic(path: string): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(4);
    const { bytesRead } = await handle.read(buffer, 0, 4, 0);
    return buffer.subarray(0, bytesRead).toString('latin1');
  } finally {
    await handle.close();
  }
}
