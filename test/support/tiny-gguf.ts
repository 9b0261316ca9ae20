/**
 * Dependency-free generator of a tiny but real GGUF v3 llama model that node-llama-cpp (llama.cpp) loads and generates
 * from. Weights come from a seeded PRNG, so the same options always give byte-identical files.
 * Defaults: f32, n_embd 64, 2 layers, 4 heads, 2 kv heads, ff 2*n_embd (128), SPM vocab of 320 tokens → ~470 KB.
 */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';

export interface TinyGgufOptions {
  /** PRNG seed for the weights (default 1). */
  seed?: number;
  /** `general.name` (default "tiny-llama"). */
  name?: string;
  /** `llama.block_count` (default 2). */
  layers?: number;
  /** `llama.embedding_length`, a multiple of 8 (default 64). 4 heads, 2 kv heads, ff = 2 * embd. */
  embd?: number;
  /** `llama.context_length` (default 512). */
  contextLength?: number;
  /** Store the 2-D weights as f16 instead of f32 (norms stay f32). */
  f16?: boolean;
  /** Grow the file to at least this many bytes with a large `general.padding` string (cheap fixed pattern). */
  padToBytes?: number;
  /** Metadata keys to leave out, for broken-file tests. */
  omitKeys?: string[];
}

export interface TinyGgufLayout {
  buffer: Buffer;
  /** Start of the first key/value pair (after magic, version, tensor count, kv count). */
  kvStart: number;
  /** End of the key/value section, start of the tensor infos. */
  kvEnd: number;
  /** Start of the (aligned) tensor data section. */
  dataStart: number;
  tensors: { name: string; dims: number[]; type: number; offset: number; bytes: number }[];
}

export const TINY_GGUF_ALIGNMENT = 32;
const GGML_F32 = 0;
const GGML_F16 = 1;
const enum V {
  U32 = 4,
  I32 = 5,
  F32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
}
type Kv = [key: string, write: (w: Writer) => void];

class Writer {
  readonly chunks: Buffer[] = [];
  length = 0;
  raw(b: Buffer): void {
    this.chunks.push(b);
    this.length += b.length;
  }
  private num(size: number, put: (b: Buffer) => void): void {
    const b = Buffer.allocUnsafe(size);
    put(b);
    this.raw(b);
  }
  u32(v: number): void {
    this.num(4, (b) => b.writeUInt32LE(v));
  }
  i32(v: number): void {
    this.num(4, (b) => b.writeInt32LE(v));
  }
  u64(v: number): void {
    this.num(8, (b) => b.writeBigUInt64LE(BigInt(v)));
  }
  f32(v: number): void {
    this.num(4, (b) => b.writeFloatLE(v));
  }
  str(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.raw(b);
  }
}

const u32 = (v: number) => (w: Writer) => (w.u32(V.U32), w.u32(v));
const f32 = (v: number) => (w: Writer) => (w.u32(V.F32), w.f32(v));
const bool = (v: boolean) => (w: Writer) => (w.u32(V.BOOL), w.raw(Buffer.from([v ? 1 : 0])));
const str = (v: string) => (w: Writer) => (w.u32(V.STRING), w.str(v));
function arr<T>(type: V, items: T[], put: (w: Writer, v: T) => void) {
  return (w: Writer) => {
    w.u32(V.ARRAY);
    w.u32(type);
    w.u64(items.length);
    for (const it of items) put(w, it);
  };
}

/** SPM vocab: <unk>, <s>, </s>, 256 byte tokens, then word pieces ("▁" is the SentencePiece space). */
function vocab(): { tokens: string[]; scores: number[]; types: number[] } {
  const tokens = ['<unk>', '<s>', '</s>'];
  const types = [2, 3, 3];
  const scores = [0, 0, 0];
  for (let i = 0; i < 256; i++) {
    tokens.push(`<0x${i.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(6);
    scores.push(0);
  }
  const pieces = ['▁', ...'etaoinshrdlcumwfgypbvkjxqz'.split('')];
  pieces.push(...'▁t ▁a th he in er an re on ▁the ▁s ▁w ▁o ▁i en at or es is it ll ▁h ▁b ▁c ▁m'.split(' '));
  pieces.push(...'▁f ▁d nd ou ing ▁and ▁to ▁of ▁is ▁it . , ! ? ▁hello ▁world ▁fleet'.split(' '));
  pieces.forEach((p, i) => (tokens.push(p), types.push(1), scores.push(-1 - i)));
  return { tokens, scores, types };
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);
/** IEEE 754 binary32 → binary16 bits, round to nearest even (inputs here are small and finite). */
export function f32ToF16Bits(v: number): number {
  f32Scratch[0] = v;
  const x = u32Scratch[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = ((x >>> 23) & 0xff) - 127 + 15;
  let mant = x & 0x7fffff;
  if (exp >= 31) return sign | 0x7c00;
  const shift = exp <= 0 ? 14 - exp : 13;
  if (shift > 24) return sign;
  if (exp <= 0) mant |= 0x800000;
  let h = mant >>> shift;
  const rem = mant & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rem > half || (rem === half && (h & 1) === 1)) h++;
  return sign | ((exp <= 0 ? 0 : exp << 10) + h);
}

const align = (n: number, a = TINY_GGUF_ALIGNMENT) => Math.ceil(n / a) * a;

/** Builds the file and reports where its sections lie (used by the broken variants). */
export function buildTinyGguf(opts: TinyGgufOptions = {}): TinyGgufLayout {
  const { seed = 1, name = 'tiny-llama', layers = 2, embd = 64, contextLength = 512, f16 = false } = opts;
  if (!Number.isInteger(embd) || embd <= 0 || embd % 8 !== 0) throw new Error(`embd must be a multiple of 8: ${embd}`);
  if (!Number.isInteger(layers) || layers <= 0) throw new Error(`layers must be a positive integer: ${layers}`);
  const heads = 4;
  const kvHeads = 2;
  const headDim = embd / heads;
  const kvDim = headDim * kvHeads;
  const ff = 2 * embd;
  const { tokens, scores, types } = vocab();
  const nVocab = tokens.length;

  // Tensors, dims in GGUF order (ne0 first). Norms are f32; matrices f32 or f16.
  const wType = f16 ? GGML_F16 : GGML_F32;
  const specs: { name: string; dims: number[]; type: number; init: 'one' | number }[] = [
    { name: 'token_embd.weight', dims: [embd, nVocab], type: wType, init: 0.5 },
  ];
  for (let l = 0; l < layers; l++) {
    const b = `blk.${l}.`;
    specs.push(
      { name: `${b}attn_norm.weight`, dims: [embd], type: GGML_F32, init: 'one' },
      { name: `${b}attn_q.weight`, dims: [embd, embd], type: wType, init: 1 / Math.sqrt(embd) },
      { name: `${b}attn_k.weight`, dims: [embd, kvDim], type: wType, init: 1 / Math.sqrt(embd) },
      { name: `${b}attn_v.weight`, dims: [embd, kvDim], type: wType, init: 1 / Math.sqrt(embd) },
      { name: `${b}attn_output.weight`, dims: [embd, embd], type: wType, init: 1 / Math.sqrt(embd) },
      { name: `${b}ffn_norm.weight`, dims: [embd], type: GGML_F32, init: 'one' },
      { name: `${b}ffn_gate.weight`, dims: [embd, ff], type: wType, init: 1 / Math.sqrt(embd) },
      { name: `${b}ffn_up.weight`, dims: [embd, ff], type: wType, init: 1 / Math.sqrt(embd) },
      { name: `${b}ffn_down.weight`, dims: [ff, embd], type: wType, init: 1 / Math.sqrt(ff) },
    );
  }
  specs.push(
    { name: 'output_norm.weight', dims: [embd], type: GGML_F32, init: 'one' },
    { name: 'output.weight', dims: [embd, nVocab], type: wType, init: 1 / Math.sqrt(embd) },
  );
  let dataSize = 0;
  const tensors = specs.map((s) => {
    const bytes = s.dims.reduce((a, b) => a * b, 1) * (s.type === GGML_F16 ? 2 : 4);
    const t = { name: s.name, dims: s.dims, type: s.type, offset: dataSize, bytes };
    dataSize += align(bytes);
    return t;
  });

  const omit = new Set(opts.omitKeys ?? []);
  const kvs: Kv[] = (
    [
      ['general.architecture', str('llama')],
      ['general.name', str(name)],
      ['general.alignment', u32(TINY_GGUF_ALIGNMENT)],
      ['general.file_type', u32(f16 ? 1 : 0)],
      ['llama.context_length', u32(contextLength)],
      ['llama.embedding_length', u32(embd)],
      ['llama.block_count', u32(layers)],
      ['llama.feed_forward_length', u32(ff)],
      ['llama.attention.head_count', u32(heads)],
      ['llama.attention.head_count_kv', u32(kvHeads)],
      ['llama.attention.layer_norm_rms_epsilon', f32(1e-5)],
      ['llama.rope.dimension_count', u32(headDim)],
      ['llama.vocab_size', u32(nVocab)],
      ['tokenizer.ggml.model', str('llama')],
      ['tokenizer.ggml.tokens', arr(V.STRING, tokens, (w, t) => w.str(t))],
      ['tokenizer.ggml.scores', arr(V.F32, scores, (w, s) => w.f32(s))],
      ['tokenizer.ggml.token_type', arr(V.I32, types, (w, t) => w.i32(t))],
      ['tokenizer.ggml.unknown_token_id', u32(0)],
      ['tokenizer.ggml.bos_token_id', u32(1)],
      ['tokenizer.ggml.eos_token_id', u32(2)],
      ['tokenizer.ggml.add_bos_token', bool(true)],
      ['tokenizer.ggml.add_eos_token', bool(false)],
    ] satisfies Kv[]
  ).filter(([k]) => !omit.has(k));

  const head = new Writer();
  const writeHeader = (kvCount: number) => {
    head.raw(Buffer.from('GGUF', 'latin1'));
    head.u32(3);
    head.u64(tensors.length);
    head.u64(kvCount);
  };
  const tensorInfos = new Writer();
  for (const t of tensors) {
    tensorInfos.str(t.name);
    tensorInfos.u32(t.dims.length);
    for (const d of t.dims) tensorInfos.u64(d);
    tensorInfos.u32(t.type);
    tensorInfos.u64(t.offset);
  }
  const kvw = new Writer();
  for (const [k, put] of kvs) {
    kvw.str(k);
    put(kvw);
  }

  // Padding: one more string kv at the end of the kv section, sized so the whole file reaches padToBytes.
  const padKey = 'general.padding';
  let padLen = -1;
  if (opts.padToBytes !== undefined && !omit.has(padKey)) {
    const overhead = 8 + Buffer.byteLength(padKey) + 4 + 8;
    const base = 24 + kvw.length + tensorInfos.length + overhead + dataSize;
    padLen = Math.max(0, opts.padToBytes - base);
    kvw.str(padKey);
    kvw.u32(V.STRING);
    kvw.u64(padLen);
    kvw.raw(Buffer.alloc(padLen, 'llmfleet tiny gguf padding. '));
  }
  writeHeader(kvs.length + (padLen >= 0 ? 1 : 0));
  const kvStart = head.length;
  const kvEnd = kvStart + kvw.length;
  const infoEnd = kvEnd + tensorInfos.length;
  const dataStart = align(infoEnd);

  const out = Buffer.alloc(dataStart + dataSize);
  let pos = 0;
  for (const c of [...head.chunks, ...kvw.chunks, ...tensorInfos.chunks]) pos += c.copy(out, pos);
  const rand = mulberry32(seed);
  const view = new DataView(out.buffer, out.byteOffset, out.length);
  tensors.forEach((t, i) => {
    const init = specs[i]!.init;
    const size = t.type === GGML_F16 ? 2 : 4;
    const end = dataStart + t.offset + t.bytes;
    for (let p = dataStart + t.offset; p < end; p += size) {
      const v = init === 'one' ? 1 : (rand() * 2 - 1) * init;
      if (size === 2) view.setUint16(p, f32ToF16Bits(v), true);
      else view.setFloat32(p, v, true);
    }
  });
  return { buffer: out, kvStart, kvEnd, dataStart, tensors };
}

export function tinyGgufBuffer(opts?: TinyGgufOptions): Buffer {
  return buildTinyGguf(opts).buffer;
}

export async function writeTinyGguf(
  path: string,
  opts?: TinyGgufOptions,
): Promise<{ path: string; size: number; sha256: string }> {
  const buffer = tinyGgufBuffer(opts);
  await writeFile(path, buffer);
  return { path, size: buffer.length, sha256: createHash('sha256').update(buffer).digest('hex') };
}

/** Broken variants of the default tiny model, for load-failure classification. */
export const brokenGguf = {
  empty(): Buffer {
    return Buffer.alloc(0);
  },
  /** Valid file with the magic "GGUF" replaced by "GGUX". */
  badMagic(): Buffer {
    const b = tinyGgufBuffer();
    b.write('GGUX', 0, 'latin1');
    return b;
  },
  /** Cut in the middle of the key/value section. */
  truncatedHeader(): Buffer {
    const { buffer, kvStart, kvEnd } = buildTinyGguf();
    return Buffer.from(buffer.subarray(0, kvStart + Math.floor((kvEnd - kvStart) / 2)));
  },
  /** Header and tensor infos intact, tensor data cut at half. */
  truncatedData(): Buffer {
    const { buffer, dataStart } = buildTinyGguf();
    return Buffer.from(buffer.subarray(0, dataStart + Math.floor((buffer.length - dataStart) / 2)));
  },
  /** Otherwise valid file without `key` (llama.cpp may abort the whole process on it: load it out of process). */
  missingRequiredKey(key = 'llama.feed_forward_length'): Buffer {
    return tinyGgufBuffer({ omitKeys: [key] });
  },
  /** Same size; the low mantissa byte of 16 values of token_embd XOR 0xFF: still loads, only the sha256 differs. */
  flippedBytes(): Buffer {
    const { buffer, dataStart } = buildTinyGguf();
    for (let i = 0; i < 16; i++) buffer[dataStart + i * 64] = buffer[dataStart + i * 64]! ^ 0xff;
    return buffer;
  },
};
