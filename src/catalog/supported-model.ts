/** A model of the curated catalog, as the rest of the control plane sees it (camelCase, enums as in the contract). */
export enum ModelCapability {
  TEXT_GENERATION = 'TEXT_GENERATION',
  IMAGE_UNDERSTANDING = 'IMAGE_UNDERSTANDING',
  IMAGE_GENERATION = 'IMAGE_GENERATION',
  SPEECH_TO_TEXT = 'SPEECH_TO_TEXT',
  TEXT_TO_SPEECH = 'TEXT_TO_SPEECH',
}

export enum ModelFormat {
  GGUF = 'GGUF',
  SAFETENSORS = 'SAFETENSORS',
  PYTORCH = 'PYTORCH',
}

export enum Platform {
  LINUX = 'LINUX',
  WINDOWS = 'WINDOWS',
  MACOS = 'MACOS',
}

export interface SupportedModelDef {
  id: string;
  name: string;
  description: string;
  repo: string;
  recommendedFilename: string;
  /**
   * Vision models: the multimodal projector (mmproj) GGUF that must sit beside the weights, when the catalog names
   * one (`mmproj_filename`, an optional override); otherwise registration finds it in the repository's file list.
   */
  projectorFilename: string | null;
  sizeBytes: number;
  requiredMemoryBytes: number;
  tags: string[];
  capabilities: ModelCapability[];
  quantization: string;
  parameterCount: string;
  format: ModelFormat;
  engine: string;
  platforms: Platform[];
}
