import { z } from 'zod';

const UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** `16mb`, `512kb`, `1048576` → bytes (binary units); null when it is not one of those forms. */
export function parseByteSize(value: string): number | null {
  const match = /^(\d+)\s*(b|kb|mb|gb)?$/i.exec(value.trim());
  if (!match) return null;
  const bytes = Number(match[1]) * UNITS[(match[2] ?? 'b').toLowerCase()]!;
  return Number.isSafeInteger(bytes) ? bytes : null;
}

/** A size setting: bytes, or a number with kb/mb/gb, within [min, max] bytes. */
export function byteSize(min: number, max: number) {
  return z
    .string()
    .trim()
    .transform((value, ctx) => {
      const bytes = parseByteSize(value);
      if (bytes === null) {
        ctx.addIssue({ code: 'custom', message: 'must be a size in bytes, or a number with kb, mb or gb (e.g. 16mb)' });
        return z.NEVER;
      }
      if (bytes < min || bytes > max) {
        ctx.addIssue({ code: 'custom', message: `must be between ${formatBytes(min)} and ${formatBytes(max)}` });
        return z.NEVER;
      }
      return bytes;
    });
}

/** 16777216 → "16 MiB", 1500 → "1500 bytes": for messages that name a limit. */
export function formatBytes(bytes: number): string {
  for (const [unit, name] of [
    [1024 ** 3, 'GiB'],
    [1024 ** 2, 'MiB'],
    [1024, 'KiB'],
  ] as const) {
    if (bytes >= unit && bytes % unit === 0) return `${bytes / unit} ${name}`;
  }
  return `${bytes} bytes`;
}

/** Default largest request body on `/v1`: long conversations (a 128k-token context is ~0.5 MB of text) fit easily. */
export const DEFAULT_V1_BODY_LIMIT = 16 * 1024 * 1024;
