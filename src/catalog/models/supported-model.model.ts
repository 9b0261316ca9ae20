import { Field, ID, ObjectType, registerEnumType } from '@nestjs/graphql';
import { GraphQLSafeInt } from 'graphql-scalars';

import { ModelCapability, ModelFormat, Platform, type SupportedModelDef } from '../supported-model.js';

registerEnumType(ModelCapability, {
  name: 'ModelCapability',
  description: 'What a model can do.',
  valuesMap: {
    TEXT_GENERATION: { description: 'Generates text (chat, completion, code).' },
    IMAGE_UNDERSTANDING: { description: 'Reads images given with the prompt (needs a multimodal projector).' },
    IMAGE_GENERATION: { description: 'Generates images.' },
    SPEECH_TO_TEXT: { description: 'Transcribes speech.' },
    TEXT_TO_SPEECH: { description: 'Speaks text.' },
  },
});

registerEnumType(ModelFormat, {
  name: 'ModelFormat',
  description: "The format of a model's weight files.",
  valuesMap: {
    GGUF: { description: 'GGUF, as llama.cpp loads it.' },
    SAFETENSORS: { description: 'Hugging Face safetensors.' },
    PYTORCH: { description: 'PyTorch checkpoint.' },
  },
});

registerEnumType(Platform, {
  name: 'Platform',
  description: 'An operating system a node can run.',
  valuesMap: {
    LINUX: { description: 'Linux.' },
    WINDOWS: { description: 'Windows.' },
    MACOS: { description: 'macOS.' },
  },
});

@ObjectType('SupportedModel', {
  description: 'A model of the curated catalog (supported_models.json), or one described from the Hub.',
})
export class SupportedModel {
  @Field(() => ID, {
    description: 'Unique model id: letters, digits, hyphens and dots (as in seed 000: llama-3.2-1b).',
  })
  id!: string;

  @Field(() => String, { description: 'Display name.' })
  name!: string;

  @Field(() => String, { description: 'What the model is good for.' })
  description!: string;

  @Field(() => String, { description: 'Hugging Face repository, "org/repo".' })
  repo!: string;

  @Field(() => String, {
    description: 'The weights file in the repository; for a split GGUF, its first part (-00001-of-0000N.gguf).',
  })
  recommendedFilename!: string;

  @Field(() => String, {
    nullable: true,
    description:
      'Vision models: the multimodal projector (mmproj) GGUF in the same repository, as the catalog names it or as registration found it; null for other models and for an unregistered vision model whose catalog entry names none.',
  })
  projectorFilename!: string | null;

  @Field(() => GraphQLSafeInt, { description: 'Size of the weights in bytes (all parts of a split GGUF).' })
  sizeBytes!: number;

  @Field(() => GraphQLSafeInt, {
    description:
      'GPU memory needed to serve it in bytes: weights, projector, KV cache for a 4k context, runtime overhead.',
  })
  requiredMemoryBytes!: number;

  @Field(() => [String], { description: 'Free-form tags for search and filtering.' })
  tags!: string[];

  @Field(() => [ModelCapability], { description: 'What the model can do.' })
  capabilities!: ModelCapability[];

  @Field(() => String, { description: 'Quantization of the weights, e.g. "Q4_K_M".' })
  quantization!: string;

  @Field(() => String, { description: 'Parameter count as usually written, e.g. "7B".' })
  parameterCount!: string;

  @Field(() => ModelFormat, { description: 'Format of the weight files.' })
  format!: ModelFormat;

  @Field(() => String, { description: 'Inference engine that serves it, e.g. "llama.cpp".' })
  engine!: string;

  @Field(() => [Platform], { description: 'Operating systems it runs on.' })
  platforms!: Platform[];

  static from(def: SupportedModelDef): SupportedModel {
    // Copies the arrays so a resolver's caller cannot mutate the catalog held in memory.
    return Object.assign(new SupportedModel(), {
      id: def.id,
      name: def.name,
      description: def.description,
      repo: def.repo,
      recommendedFilename: def.recommendedFilename,
      projectorFilename: def.projectorFilename,
      sizeBytes: def.sizeBytes,
      requiredMemoryBytes: def.requiredMemoryBytes,
      tags: [...def.tags],
      capabilities: [...def.capabilities],
      quantization: def.quantization,
      parameterCount: def.parameterCount,
      format: def.format,
      engine: def.engine,
      platforms: [...def.platforms],
    } satisfies SupportedModelDef);
  }
}
