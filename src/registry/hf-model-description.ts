import { ModelCapability, ModelFormat, Platform, type SupportedModelDef } from '../catalog/supported-model.js';
import type { GgufSelection } from './gguf-file-selection.js';

export interface HubFacts {
  repo: string;
  tags: string[];
  pipelineTag: string | null;
  parameterTotal: number | null;
}

const NOISE_TAG =
  /^(gguf|region:|license:|base_model:|endpoints_compatible|autotrain_compatible|conversational|text-generation-inference|imatrix|deploy:|arxiv:|dataset:|en$)/i;

/** Same headroom the catalog uses for its figures: weights + KV cache for a 4k context + runtime overhead. */
export function estimateRequiredMemory(sizeBytes: number): number {
  return Math.ceil(sizeBytes * 1.15 + 512 * 1024 * 1024);
}

/** Describes a model registered from a Hub URL in the catalog's terms, from what the Hub says about it. */
export function describeHubModel(id: string, hub: HubFacts, selection: GgufSelection): SupportedModelDef {
  const repoName = hub.repo.slice(hub.repo.indexOf('/') + 1);
  const sizeBytes = [...selection.modelFiles, ...(selection.projector ? [selection.projector] : [])].reduce(
    (sum, f) => sum + f.size,
    0,
  );
  const vision = selection.projector !== null || hub.pipelineTag === 'image-text-to-text';
  return {
    id,
    name: `${repoName.replace(/[-_]gguf$/i, '')}${selection.quantization ? ` ${selection.quantization}` : ''}`,
    description: `GGUF model ${selection.modelFiles[0]!.path} from ${hub.repo} on Hugging Face`,
    repo: hub.repo,
    recommendedFilename: selection.modelFiles[0]!.path,
    projectorFilename: selection.projector?.path ?? null,
    sizeBytes,
    requiredMemoryBytes: estimateRequiredMemory(sizeBytes),
    tags: hub.tags.filter((t) => !NOISE_TAG.test(t)).slice(0, 10),
    capabilities: vision
      ? [ModelCapability.TEXT_GENERATION, ModelCapability.IMAGE_UNDERSTANDING]
      : [ModelCapability.TEXT_GENERATION],
    quantization: selection.quantization ?? 'unknown',
    parameterCount: formatParameterCount(hub.parameterTotal) ?? parameterCountFromName(repoName) ?? 'unknown',
    format: ModelFormat.GGUF,
    engine: 'llama.cpp',
    platforms: [Platform.LINUX, Platform.WINDOWS, Platform.MACOS],
  };
}

export function formatParameterCount(total: number | null): string | null {
  if (total === null || !Number.isFinite(total) || total <= 0) return null;
  if (total >= 1e9) return `${trim(total / 1e9)}B`;
  return `${trim(total / 1e6)}M`;
}

function trim(value: number): string {
  return value >= 10 ? String(Math.round(value)) : String(Math.round(value * 10) / 10);
}

function parameterCountFromName(name: string): string | null {
  const match = /(?:^|[-_.])(\d+(?:\.\d+)?)([BM])(?=[-_.]|$)/i.exec(name);
  return match ? `${match[1]}${match[2]!.toUpperCase()}` : null;
}
