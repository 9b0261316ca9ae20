import { readFileSync } from 'node:fs';

import { describe, expect, it } from '@jest/globals';

import { type CatalogViolation, formatViolations, validateCatalog } from '../../src/catalog/catalog-validation.js';
import { ModelCapability, ModelFormat, Platform } from '../../src/catalog/supported-model.js';
import { catalogEntry, SEED_000_CATALOG_JSON } from '../support/factories.js';

type RawEntry = Record<string, unknown>;

/** A valid text-generation entry in supported_models.json's own format. */
function entry(overrides: RawEntry = {}): RawEntry {
  return catalogEntry({
    id: 'test-model-1b',
    name: 'Test Model 1B',
    repo: 'test-org/Test-Model-1B-GGUF',
    recommended_filename: 'Test-Model-1B-Q4_K_M.gguf',
    size_bytes: 800_000_000,
    required_memory_bytes: 1_500_000_000,
    tags: ['chat', 'instruct'],
    ...overrides,
  });
}

/** A valid vision entry: ImageUnderstanding with its projector. */
function visionEntry(overrides: RawEntry = {}): RawEntry {
  return entry({
    id: 'test-vision-4b',
    repo: 'test-org/Test-Vision-4B-GGUF',
    recommended_filename: 'Test-Vision-4B-Q4_K_M.gguf',
    mmproj_filename: 'mmproj-model-f16.gguf',
    capabilities: ['TextGeneration', 'ImageUnderstanding'],
    tags: ['vision'],
    ...overrides,
  });
}

function without(raw: RawEntry, key: string): RawEntry {
  const copy = { ...raw };
  delete copy[key];
  return copy;
}

function violationsOf(raw: unknown): CatalogViolation[] {
  const result = validateCatalog(raw);
  if (result.ok) throw new Error(`expected violations, the catalog validated: ${JSON.stringify(raw)}`);
  return result.violations;
}

const shippedCatalog: unknown = JSON.parse(
  readFileSync(new URL('../../supported_models.json', import.meta.url), 'utf8'),
);

describe('the shipped supported_models.json', () => {
  const result = validateCatalog(shippedCatalog);

  it('breaks no rule', () => {
    expect(result.ok ? [] : formatViolations(result.violations).split('\n')).toEqual([]);
  });

  const models = result.ok ? result.models : [];

  it('holds at least 12 models with unique ids', () => {
    expect(models.length).toBeGreaterThanOrEqual(12);
    expect(new Set(models.map((m) => m.id)).size).toBe(models.length);
  });

  it('has a vision model with its projector', () => {
    const vision = models.filter((m) => m.capabilities.includes(ModelCapability.IMAGE_UNDERSTANDING));
    expect(vision.length).toBeGreaterThanOrEqual(1);
    for (const m of vision) expect(m.projectorFilename).toMatch(/\.gguf$/);
  });

  it('names split models by their first part', () => {
    const split = models.filter((m) => /-\d{5}-of-\d{5}\.gguf$/.test(m.recommendedFilename));
    expect(split.length).toBeGreaterThanOrEqual(1);
    for (const m of split) expect(m.recommendedFilename).toMatch(/-00001-of-\d{5}\.gguf$/);
  });

  it('has a code model', () => {
    expect(models.some((m) => m.tags.includes('code'))).toBe(true);
  });

  it('asks for more memory than the weights take on disk', () => {
    for (const m of models) expect(m.requiredMemoryBytes).toBeGreaterThan(m.sizeBytes);
  });
});

describe('validateCatalog on valid input', () => {
  it('maps an entry to the camelCase definition with the contract enums', () => {
    const result = validateCatalog([entry()]);
    expect(result).toEqual({
      ok: true,
      models: [
        {
          id: 'test-model-1b',
          name: 'Test Model 1B',
          description: 'A model for tests',
          repo: 'test-org/Test-Model-1B-GGUF',
          recommendedFilename: 'Test-Model-1B-Q4_K_M.gguf',
          projectorFilename: null,
          sizeBytes: 800_000_000,
          requiredMemoryBytes: 1_500_000_000,
          tags: ['chat', 'instruct'],
          capabilities: [ModelCapability.TEXT_GENERATION],
          quantization: 'Q4_K_M',
          parameterCount: '1B',
          format: ModelFormat.GGUF,
          engine: 'llama.cpp',
          platforms: [Platform.LINUX, Platform.WINDOWS, Platform.MACOS],
        },
      ],
    });
  });

  it('maps every capability, format and platform spelling of seed 000', () => {
    const result = validateCatalog([
      visionEntry({
        capabilities: ['TextGeneration', 'ImageUnderstanding', 'ImageGeneration', 'SpeechToText', 'TextToSpeech'],
      }),
      entry({ id: 'st', format: 'Safetensors', recommended_filename: 'model.safetensors', platforms: ['Linux'] }),
      entry({ id: 'pt', format: 'PyTorch', recommended_filename: 'pytorch_model.bin', platforms: ['MacOS'] }),
    ]);
    if (!result.ok) throw new Error(formatViolations(result.violations));
    expect(result.models[0]?.capabilities).toEqual(Object.values(ModelCapability));
    expect(result.models[0]?.projectorFilename).toBe('mmproj-model-f16.gguf');
    expect(result.models.map((m) => m.format)).toEqual([
      ModelFormat.GGUF,
      ModelFormat.SAFETENSORS,
      ModelFormat.PYTORCH,
    ]);
  });

  it('accepts an empty catalog, a null projector on a text model, folders and split first parts', () => {
    expect(validateCatalog([])).toEqual({ ok: true, models: [] });
    const result = validateCatalog([
      entry({ mmproj_filename: null }),
      entry({ id: 'big', recommended_filename: 'Q4_K_M/Big-Q4_K_M-00001-of-00002.gguf' }),
    ]);
    expect(result.ok).toBe(true);
  });

  it('does not require a projector for non-GGUF vision models', () => {
    const safetensors = visionEntry({ format: 'Safetensors', recommended_filename: 'model.safetensors' });
    expect(validateCatalog([without(safetensors, 'mmproj_filename')]).ok).toBe(true);
  });
});

describe("seed 000's own example catalog", () => {
  it('loads as written, llava-1.6-7b included (a vision model that names no projector)', () => {
    const result = validateCatalog(JSON.parse(SEED_000_CATALOG_JSON));
    expect(result.ok ? [] : formatViolations(result.violations).split('\n')).toEqual([]);
    const models = result.ok ? result.models : [];
    expect(models.map((m) => m.id)).toEqual(['llama-3.2-1b', 'llava-1.6-7b']);
    expect(models[1]).toMatchObject({
      repo: 'cjpais/llava-1.6-mistral-7b-gguf',
      recommendedFilename: 'llava-v1.6-mistral-7b.Q4_K_M.gguf',
      projectorFilename: null,
      capabilities: [ModelCapability.TEXT_GENERATION, ModelCapability.IMAGE_UNDERSTANDING],
      format: ModelFormat.GGUF,
    });
  });

  it('keeps mmproj_filename as an optional override on a vision entry', () => {
    const result = validateCatalog([visionEntry()]);
    expect(result.ok && result.models[0]?.projectorFilename).toBe('mmproj-model-f16.gguf');
  });
});

describe('each rule on its own', () => {
  // The broken entry sits at index 1 behind a valid one, so the index is checked too.
  const cases: { rule: string; raw: RawEntry; field: string; message: RegExp }[] = [
    { rule: 'id empty', raw: entry({ id: '' }), field: 'id', message: /must not be empty/ },
    {
      rule: 'id with two dots in a row',
      raw: entry({ id: 'llama-3..2' }),
      field: 'id',
      message: /only letters, digits, hyphens and dots/,
    },
    {
      rule: 'id ending with a dot',
      raw: entry({ id: 'llama-3.' }),
      field: 'id',
      message: /start and end with a letter or digit/,
    },
    {
      rule: 'id with a space',
      raw: entry({ id: 'my model' }),
      field: 'id',
      message: /only letters, digits, hyphens and dots/,
    },
    { rule: 'id not a string', raw: entry({ id: 42 }), field: 'id', message: /must be a string \(got number 42\)/ },
    { rule: 'name blank', raw: entry({ name: '   ' }), field: 'name', message: /must not be empty/ },
    {
      rule: 'description not a string',
      raw: entry({ description: 5 }),
      field: 'description',
      message: /must be a string/,
    },
    {
      rule: 'quantization empty',
      raw: entry({ quantization: '' }),
      field: 'quantization',
      message: /must not be empty/,
    },
    {
      rule: 'parameter_count empty',
      raw: entry({ parameter_count: '' }),
      field: 'parameter_count',
      message: /must not be empty/,
    },
    { rule: 'engine empty', raw: entry({ engine: '' }), field: 'engine', message: /must not be empty/ },
    { rule: 'repo without org', raw: entry({ repo: 'Llama-GGUF' }), field: 'repo', message: /"org\/repo" form/ },
    { rule: 'repo with three parts', raw: entry({ repo: 'a/b/c' }), field: 'repo', message: /"org\/repo" form/ },
    {
      rule: 'repo with an empty org',
      raw: entry({ repo: '/repo' }),
      field: 'repo',
      message: /organisation must not be empty/,
    },
    {
      rule: 'repo with ".."',
      raw: entry({ repo: 'org/re..po' }),
      field: 'repo',
      message: /must not contain "\.\." or "--"/,
    },
    {
      rule: 'repo starting with "-"',
      raw: entry({ repo: 'org/-repo' }),
      field: 'repo',
      message: /must start with a letter or digit/,
    },
    {
      rule: 'repo with a space',
      raw: entry({ repo: 'my org/repo' }),
      field: 'repo',
      message: /must start with a letter or digit and contain only/,
    },
    {
      rule: 'repo name over 96 characters',
      raw: entry({ repo: `org/${'a'.repeat(97)}` }),
      field: 'repo',
      message: /at most 96 characters \(got 97\)/,
    },
    {
      rule: 'GGUF file without .gguf',
      raw: entry({ recommended_filename: 'model.bin' }),
      field: 'recommended_filename',
      message: /must end in "\.gguf" when format is "Gguf"/,
    },
    {
      rule: 'absolute file path',
      raw: entry({ recommended_filename: '/etc/model.gguf' }),
      field: 'recommended_filename',
      message: /relative to the repository root/,
    },
    {
      rule: 'file path climbing out',
      raw: entry({ recommended_filename: '../model.gguf' }),
      field: 'recommended_filename',
      message: /must not contain a "\.\." segment/,
    },
    {
      rule: 'file path with an inner ".."',
      raw: entry({ recommended_filename: 'a/../b.gguf' }),
      field: 'recommended_filename',
      message: /must not contain a "\.\." segment/,
    },
    {
      rule: 'file path with backslashes',
      raw: entry({ recommended_filename: 'dir\\model.gguf' }),
      field: 'recommended_filename',
      message: /"\/" as the folder separator/,
    },
    {
      rule: 'second part of a split file',
      raw: entry({ recommended_filename: 'm-00002-of-00003.gguf' }),
      field: 'recommended_filename',
      message: /name the first part \(-00001-of-00003\.gguf\)/,
    },
    { rule: 'size 0', raw: entry({ size_bytes: 0 }), field: 'size_bytes', message: /must be greater than 0/ },
    { rule: 'negative size', raw: entry({ size_bytes: -1 }), field: 'size_bytes', message: /must be greater than 0/ },
    { rule: 'fractional size', raw: entry({ size_bytes: 1.5 }), field: 'size_bytes', message: /whole number of bytes/ },
    {
      rule: 'size as a string',
      raw: entry({ size_bytes: '800000000' }),
      field: 'size_bytes',
      message: /must be a number \(got the string "800000000"\)/,
    },
    {
      rule: 'size beyond safe integers',
      raw: entry({ size_bytes: 2 ** 60 }),
      field: 'size_bytes',
      message: /MAX_SAFE_INTEGER/,
    },
    {
      rule: 'required memory 0',
      raw: entry({ required_memory_bytes: 0 }),
      field: 'required_memory_bytes',
      message: /must be greater than 0/,
    },
    {
      rule: 'required memory below size',
      raw: entry({ required_memory_bytes: 799_999_999 }),
      field: 'required_memory_bytes',
      message: /at least size_bytes \(799999999 < 800000000\)/,
    },
    { rule: 'tags not an array', raw: entry({ tags: 'chat' }), field: 'tags', message: /must be an array of strings/ },
    { rule: 'an empty tag', raw: entry({ tags: ['chat', ''] }), field: 'tags', message: /item #1: must not be empty/ },
    { rule: 'a tag not a string', raw: entry({ tags: [7] }), field: 'tags', message: /item #0: must be a string/ },
    {
      rule: 'no capability',
      raw: entry({ capabilities: [] }),
      field: 'capabilities',
      message: /at least one capability/,
    },
    {
      rule: 'capabilities not an array',
      raw: entry({ capabilities: 'TextGeneration' }),
      field: 'capabilities',
      message: /must be an array/,
    },
    {
      rule: 'unknown capability',
      raw: entry({ capabilities: ['TextGeneration', 'Foo'] }),
      field: 'capabilities',
      message:
        /unknown capability "Foo"; expected one of TextGeneration, ImageUnderstanding, ImageGeneration, SpeechToText, TextToSpeech/,
    },
    {
      rule: 'duplicate capability',
      raw: entry({ capabilities: ['TextGeneration', 'TextGeneration'] }),
      field: 'capabilities',
      message: /duplicate capability "TextGeneration"/,
    },
    {
      rule: 'capability in the contract spelling',
      raw: entry({ capabilities: ['TEXT_GENERATION'] }),
      field: 'capabilities',
      message: /unknown capability "TEXT_GENERATION"/,
    },
    { rule: 'no platform', raw: entry({ platforms: [] }), field: 'platforms', message: /at least one platform/ },
    {
      rule: 'unknown platform',
      raw: entry({ platforms: ['Linux', 'BeOS'] }),
      field: 'platforms',
      message: /unknown platform "BeOS"; expected one of Linux, Windows, MacOS/,
    },
    {
      rule: 'duplicate platform',
      raw: entry({ platforms: ['Linux', 'Linux'] }),
      field: 'platforms',
      message: /duplicate platform "Linux"/,
    },
    {
      rule: 'format in the wrong case',
      raw: entry({ format: 'GGUF' }),
      field: 'format',
      message: /unknown format "GGUF" \(did you mean "Gguf"\?\); expected one of Gguf, Safetensors, PyTorch/,
    },
    {
      rule: 'unknown format',
      raw: entry({ format: 'Onnx', recommended_filename: 'model.onnx' }),
      field: 'format',
      message: /unknown format "Onnx"/,
    },
    { rule: 'missing field', raw: without(entry(), 'engine'), field: 'engine', message: /^is required$/ },
    {
      rule: 'null in a required field',
      raw: entry({ tags: null }),
      field: 'tags',
      message: /must be an array of strings \(got null\)/,
    },
    {
      rule: 'extra field (a typo)',
      raw: entry({ sizeBytes: 1 }),
      field: 'sizeBytes',
      message: /unknown field \(did you mean "size_bytes"\?\)/,
    },
    {
      rule: 'extra field',
      raw: entry({ license: 'MIT' }),
      field: 'license',
      message: /^unknown field; an entry has only id, name/,
    },
    {
      rule: 'projector not a GGUF',
      raw: visionEntry({ mmproj_filename: 'mmproj.bin' }),
      field: 'mmproj_filename',
      message: /must end in "\.gguf"/,
    },
    {
      rule: 'projector climbing out',
      raw: visionEntry({ mmproj_filename: '../mmproj.gguf' }),
      field: 'mmproj_filename',
      message: /"\.\." segment/,
    },
    {
      rule: 'projector not a string',
      raw: visionEntry({ mmproj_filename: 1 }),
      field: 'mmproj_filename',
      message: /must be a string/,
    },
    {
      rule: 'projector same as the weights',
      raw: visionEntry({ mmproj_filename: 'Test-Vision-4B-Q4_K_M.gguf' }),
      field: 'mmproj_filename',
      message: /same file as recommended_filename/,
    },
    {
      rule: 'projector on a text model',
      raw: entry({ mmproj_filename: 'mmproj.gguf' }),
      field: 'mmproj_filename',
      message: /capabilities do not include "ImageUnderstanding"/,
    },
  ];

  it.each(cases)('$rule', ({ raw, field, message }) => {
    const violations = violationsOf([entry({ id: 'fine' }), raw]);
    expect(violations).toHaveLength(1);
    const [violation] = violations;
    expect(violation).toMatchObject({ index: 1, id: typeof raw.id === 'string' ? raw.id : null, field });
    expect(violation?.message).toMatch(message);
  });
});

describe('reporting', () => {
  it('reports every problem of every entry, in entry order', () => {
    const violations = violationsOf([
      entry({ id: 'ok' }),
      entry({ id: 'bad one', size_bytes: 0, capabilities: ['Chat'], format: 'gguf', colour: 'red' }),
      null,
      without(entry({ id: 'second', repo: 'nope', platforms: [] }), 'name'),
    ]);
    expect(violations.map((v) => [v.index, v.field])).toEqual([
      [1, 'id'],
      [1, 'size_bytes'],
      [1, 'capabilities'],
      [1, 'format'],
      [1, 'colour'],
      [2, null],
      [3, 'name'],
      [3, 'repo'],
      [3, 'platforms'],
    ]);
    expect(violations.filter((v) => v.index === 1).every((v) => v.id === 'bad one')).toBe(true);
    expect(violations[5]?.message).toBe('must be a JSON object (got null)');
  });

  it('still applies the projector rule when a sibling capability is unknown', () => {
    const violations = violationsOf([
      entry({ capabilities: ['TextGeneration', 'Foo'], mmproj_filename: 'mmproj.gguf' }),
    ]);
    expect(violations.map((v) => v.field)).toEqual(['capabilities', 'mmproj_filename']);
  });

  it('reports both holders of a duplicate id, case-insensitively', () => {
    const violations = violationsOf([
      entry({ id: 'same' }),
      entry({ id: 'other' }),
      entry({ id: 'same' }),
      entry({ id: 'Other' }),
    ]);
    expect(violations).toEqual([
      { index: 0, id: 'same', field: 'id', message: 'duplicate id "same" (also at entry #2)' },
      { index: 1, id: 'other', field: 'id', message: 'duplicate id "other" (also at entry #3 as "Other")' },
      { index: 2, id: 'same', field: 'id', message: 'duplicate id "same" (also at entry #0)' },
      { index: 3, id: 'Other', field: 'id', message: 'duplicate id "Other" (also at entry #1 as "other")' },
    ]);
  });

  it.each([
    [{ models: [] }, 'an object'],
    [null, 'null'],
    ['[]', 'the string "[]"'],
    [3, 'number 3'],
  ])('refuses a top level that is not an array: %p', (raw, got) => {
    expect(violationsOf(raw)).toEqual([
      { index: null, id: null, field: null, message: `must be a JSON array of models (got ${got})` },
    ]);
  });

  it('refuses entries that are not objects', () => {
    const violations = violationsOf([[], 'x', entry()]);
    expect(violations.map((v) => [v.index, v.id, v.field])).toEqual([
      [0, null, null],
      [1, null, null],
    ]);
  });

  it('formats one line per violation naming entry, id and field', () => {
    expect(
      formatViolations([
        { index: 3, id: 'foo', field: 'size_bytes', message: 'must be greater than 0 (got 0)' },
        { index: 4, id: null, field: null, message: 'must be a JSON object (got null)' },
        { index: null, id: null, field: null, message: 'must be a JSON array of models (got an object)' },
      ]),
    ).toBe(
      [
        'entry #3 (id "foo") field "size_bytes": must be greater than 0 (got 0)',
        'entry #4: must be a JSON object (got null)',
        'catalog: must be a JSON array of models (got an object)',
      ].join('\n'),
    );
  });
});
