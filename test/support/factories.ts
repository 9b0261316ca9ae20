import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FakeHub, FakeRepoHandle } from './fake-hub.js';

/** A raw supported_models.json entry (seed 000's format) with sensible defaults. */
export function catalogEntry(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const id = (overrides.id as string | undefined) ?? 'test-model';
  return {
    id,
    name: `Test ${id}`,
    description: 'A model for tests',
    repo: `test-org/${id}-GGUF`,
    recommended_filename: `${id}-Q4_K_M.gguf`,
    size_bytes: 4096,
    required_memory_bytes: 8192,
    tags: ['chat', 'test'],
    capabilities: ['TextGeneration'],
    quantization: 'Q4_K_M',
    parameter_count: '1B',
    format: 'Gguf',
    engine: 'llama.cpp',
    platforms: ['Linux', 'Windows', 'MacOS'],
    ...overrides,
  };
}

/** Writes a catalog file to a fresh temp dir and returns its path (for SUPPORTED_MODELS_PATH). */
export async function writeCatalog(entries: Array<Record<string, unknown>>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'llmfleet-catalog-'));
  const path = join(dir, 'supported_models.json');
  await writeFile(path, JSON.stringify(entries, null, 2));
  return path;
}

/**
 * The example supported_models.json of seed 000 (the catalog format's contract), copied verbatim: llama-3.2-1b and
 * llava-1.6-7b, a vision model that names no projector.
 */
export const SEED_000_CATALOG_JSON = `[
  {
    "id": "llama-3.2-1b",
    "name": "LLaMA 3.2 1B",
    "description": "Lightweight model for quick inference",
    "repo": "bartowski/Llama-3.2-1B-Instruct-GGUF",
    "recommended_filename": "Llama-3.2-1B-Instruct-Q4_K_M.gguf",
    "size_bytes": 800000000,
    "required_memory_bytes": 1600000000,
    "tags": ["chat", "instruct", "lightweight"],
    "capabilities": ["TextGeneration"],
    "quantization": "Q4_K_M",
    "parameter_count": "1B",
    "format": "Gguf",
    "engine": "llama.cpp",
    "platforms": ["Linux", "Windows", "MacOS"]
  },
  {
    "id": "llava-1.6-7b",
    "name": "LLaVA 1.6 7B",
    "description": "Vision-language model for image understanding",
    "repo": "cjpais/llava-1.6-mistral-7b-gguf",
    "recommended_filename": "llava-v1.6-mistral-7b.Q4_K_M.gguf",
    "size_bytes": 4500000000,
    "required_memory_bytes": 8000000000,
    "tags": ["vision", "multimodal", "chat"],
    "capabilities": ["TextGeneration", "ImageUnderstanding"],
    "quantization": "Q4_K_M",
    "parameter_count": "7B",
    "format": "Gguf",
    "engine": "llama.cpp",
    "platforms": ["Linux", "Windows", "MacOS"]
  }
]
`;

/** Seed 000's example catalog written to a file (for SUPPORTED_MODELS_PATH), byte for byte. */
export async function writeSeedCatalog(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'llmfleet-catalog-'));
  const path = join(dir, 'supported_models.json');
  await writeFile(path, SEED_000_CATALOG_JSON);
  return path;
}

/** Bytes that stand for a GGUF file in registration tests (registration never reads them). */
export function fakeGgufBytes(label: string, size = 4096): Buffer {
  const buf = Buffer.alloc(size, label);
  buf.write('GGUF', 0);
  return buf;
}

/** Puts a repo with the given GGUF file names on the fake Hub, plus a README. */
export function addGgufRepo(
  hub: FakeHub,
  id: string,
  files: string[],
  extra: { downloads?: number; likes?: number; gated?: false | 'auto' | 'manual'; private?: boolean } = {},
): FakeRepoHandle {
  return hub.addRepo({
    id,
    files: [
      { path: 'README.md', content: Buffer.from(`# ${id}\n`) },
      ...files.map((path) => ({ path, content: fakeGgufBytes(path) })),
    ],
    downloads: extra.downloads ?? 1000,
    likes: extra.likes ?? 10,
    gated: extra.gated,
    private: extra.private,
  });
}
