/**
 * Pure helpers over node-llama-cpp's `readGgufFileInfo` result: byte sizes of tensors and where the tensor data
 * should end, to tell a truncated download from a complete file without loading it.
 */
import type { GgufFileInfo, GgufTensorInfo } from 'node-llama-cpp';

export interface GgmlTypeSize {
  name: string;
  /** Elements per block (1 for plain types). */
  blockSize: number;
  /** Bytes per block. */
  typeSize: number;
}

/**
 * ggml type id → block layout, as llama.cpp in node-llama-cpp 3.22 reports it (`ggml_blck_size`/`ggml_type_size`).
 * Ids 4, 5 (Q4_2, Q4_3), 31-33 (Q4_0_4_4 …) and 36-38 (IQ4_NL_4_4 …) were removed from ggml and are absent.
 */
export const GGML_TYPE_SIZES: Readonly<Record<number, GgmlTypeSize>> = Object.freeze(
  Object.fromEntries(
    (
      [
        [0, 'F32', 1, 4],
        [1, 'F16', 1, 2],
        [2, 'Q4_0', 32, 18],
        [3, 'Q4_1', 32, 20],
        [6, 'Q5_0', 32, 22],
        [7, 'Q5_1', 32, 24],
        [8, 'Q8_0', 32, 34],
        [9, 'Q8_1', 32, 36],
        [10, 'Q2_K', 256, 84],
        [11, 'Q3_K', 256, 110],
        [12, 'Q4_K', 256, 144],
        [13, 'Q5_K', 256, 176],
        [14, 'Q6_K', 256, 210],
        [15, 'Q8_K', 256, 292],
        [16, 'IQ2_XXS', 256, 66],
        [17, 'IQ2_XS', 256, 74],
        [18, 'IQ3_XXS', 256, 98],
        [19, 'IQ1_S', 256, 50],
        [20, 'IQ4_NL', 32, 18],
        [21, 'IQ3_S', 256, 110],
        [22, 'IQ2_S', 256, 82],
        [23, 'IQ4_XS', 256, 136],
        [24, 'I8', 1, 1],
        [25, 'I16', 1, 2],
        [26, 'I32', 1, 4],
        [27, 'I64', 1, 8],
        [28, 'F64', 1, 8],
        [29, 'IQ1_M', 256, 56],
        [30, 'BF16', 1, 2],
        [34, 'TQ1_0', 256, 54],
        [35, 'TQ2_0', 256, 66],
        [39, 'MXFP4', 32, 17],
        [40, 'NVFP4', 64, 36],
        [41, 'Q1_0', 128, 18],
        [42, 'Q2_0', 64, 18],
      ] as const
    ).map(([id, name, blockSize, typeSize]) => [id, { name, blockSize, typeSize }]),
  ),
);

export function ggmlTypeSize(type: number): GgmlTypeSize | undefined {
  return GGML_TYPE_SIZES[type];
}

type TensorShape = Pick<GgufTensorInfo, 'name' | 'dimensions' | 'ggmlType'>;

/** Bytes of one tensor's data (without alignment padding). Throws on an unknown type or a row not made of whole blocks. */
export function ggufTensorByteSize(tensor: TensorShape): number {
  const t = ggmlTypeSize(tensor.ggmlType);
  if (t === undefined) throw new Error(`tensor '${tensor.name}': unknown ggml type ${tensor.ggmlType}`);
  const dims = tensor.dimensions.map((d) => BigInt(d));
  const ne0 = dims[0] ?? 1n;
  if (ne0 % BigInt(t.blockSize) !== 0n) {
    throw new Error(`tensor '${tensor.name}': ne0 ${ne0} is not a multiple of the ${t.name} block size ${t.blockSize}`);
  }
  const elements = dims.reduce((a, b) => a * b, 1n);
  return Number((elements / BigInt(t.blockSize)) * BigInt(t.typeSize));
}

type InfoForDataEnd = Pick<GgufFileInfo, 'infoEndOffset' | 'tensorInfo'>;

/**
 * Offset at which this file's tensor data ends: max over its tensors of `fileOffset` + byte size (the last tensor, in
 * files written by the usual tools). A complete file is at least this long. With no tensors, `infoEndOffset`.
 * Uses `tensorInfo` (this file's part only, not `fullTensorInfo` of spliced split files). Throws without tensor info.
 */
export function ggufDataEnd(info: InfoForDataEnd): number {
  if (info.tensorInfo === undefined || info.infoEndOffset === undefined) {
    throw new Error('GGUF info has no tensor info (read it with readTensorInfo: true)');
  }
  let end = info.infoEndOffset;
  for (const t of info.tensorInfo) end = Math.max(end, Number(t.fileOffset) + ggufTensorByteSize(t));
  return end;
}

export type GgufSizeCheck =
  | { ok: true; dataEnd: number; fileSize: number }
  | { ok: false; reason: 'truncated-header' | 'truncated-data'; expectedAtLeast: number; fileSize: number };

/**
 * Compares a file's size with what its header promises. `readGgufFileInfo` succeeds on truncated files (it reads past
 * the end as zeros), so a header cut short shows as `infoEndOffset` > size, and cut tensor data as data end > size.
 */
export function ggufSizeCheck(info: InfoForDataEnd, fileSize: number): GgufSizeCheck {
  if (info.infoEndOffset !== undefined && fileSize < info.infoEndOffset) {
    return { ok: false, reason: 'truncated-header', expectedAtLeast: info.infoEndOffset, fileSize };
  }
  const dataEnd = ggufDataEnd(info);
  if (fileSize < dataEnd) return { ok: false, reason: 'truncated-data', expectedAtLeast: dataEnd, fileSize };
  return { ok: true, dataEnd, fileSize };
}
