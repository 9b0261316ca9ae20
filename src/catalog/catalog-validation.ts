import { z } from 'zod';

import { ModelCapability, ModelFormat, Platform, type SupportedModelDef } from './supported-model.js';

/**
 * One broken rule of supported_models.json. `index` is the entry's 0-based position in the array
 * (as jq's `.[3]`), `id` its id when it has a string one, `field` the JSON key (snake_case) at fault.
 * A problem with the file as a whole has `index: null`.
 */
export interface CatalogViolation {
  index: number | null;
  id: string | null;
  field: string | null;
  message: string;
}

export type CatalogValidationResult =
  { ok: true; models: SupportedModelDef[] } | { ok: false; violations: CatalogViolation[] };

// Seed 000's spelling in the file, keyed by the contract's enum value so that a new enum member does not compile until it has one.
const CAPABILITY_JSON: Record<ModelCapability, string> = {
  [ModelCapability.TEXT_GENERATION]: 'TextGeneration',
  [ModelCapability.IMAGE_UNDERSTANDING]: 'ImageUnderstanding',
  [ModelCapability.IMAGE_GENERATION]: 'ImageGeneration',
  [ModelCapability.SPEECH_TO_TEXT]: 'SpeechToText',
  [ModelCapability.TEXT_TO_SPEECH]: 'TextToSpeech',
};
const FORMAT_JSON: Record<ModelFormat, string> = {
  [ModelFormat.GGUF]: 'Gguf',
  [ModelFormat.SAFETENSORS]: 'Safetensors',
  [ModelFormat.PYTORCH]: 'PyTorch',
};
const PLATFORM_JSON: Record<Platform, string> = {
  [Platform.LINUX]: 'Linux',
  [Platform.WINDOWS]: 'Windows',
  [Platform.MACOS]: 'MacOS',
};

function fromJsonSpelling<E extends string>(spelling: Record<E, string>): ReadonlyMap<string, E> {
  return new Map((Object.entries(spelling) as [E, string][]).map(([value, json]) => [json, value]));
}

const CAPABILITIES = fromJsonSpelling(CAPABILITY_JSON);
const FORMATS = fromJsonSpelling(FORMAT_JSON);
const PLATFORMS = fromJsonSpelling(PLATFORM_JSON);

const GGUF_JSON = FORMAT_JSON[ModelFormat.GGUF];
const IMAGE_UNDERSTANDING_JSON = CAPABILITY_JSON[ModelCapability.IMAGE_UNDERSTANDING];

/** Every key an entry may have, in the order violations are reported. */
const FIELDS = [
  'id',
  'name',
  'description',
  'repo',
  'recommended_filename',
  'mmproj_filename',
  'size_bytes',
  'required_memory_bytes',
  'tags',
  'capabilities',
  'quantization',
  'parameter_count',
  'format',
  'engine',
  'platforms',
] as const;
type Field = (typeof FIELDS)[number];
const FIELD_SET: ReadonlySet<string> = new Set(FIELDS);
const OPTIONAL_FIELDS: ReadonlySet<Field> = new Set<Field>(['mmproj_filename']);

// Seed 000's rule says letters, digits and hyphens, but its own example ids ("llama-3.2-1b") have dots: the examples
// are the contract, so dots are allowed between letters and digits (never "..", never first or last).
const ID_PATTERN = /^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/;
const REPO_PART_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const REPO_PART_MAX = 96;
const SPLIT_PART_PATTERN = /-(\d{5})-of-(\d{5})\.gguf$/i;
const GGUF_SUFFIX = /\.gguf$/i;

/** A short, unambiguous rendering of a JSON value for messages. */
function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (typeof value === 'object') return 'an object';
  return typeof value === 'number' || typeof value === 'boolean' ? `${typeof value} ${value}` : typeof value;
}

const expected =
  (what: string) =>
  (issue: { input?: unknown }): string =>
    `must be ${what} (got ${describe(issue.input)})`;

const nonEmptyText = z.string({ error: expected('a string') }).superRefine((value, ctx) => {
  if (value.trim() === '') ctx.addIssue({ code: 'custom', message: 'must not be empty' });
});

const idSchema = z.string({ error: expected('a string') }).superRefine((value, ctx) => {
  if (value === '') ctx.addIssue({ code: 'custom', message: 'must not be empty' });
  else if (!ID_PATTERN.test(value) || value.includes('..'))
    ctx.addIssue({
      code: 'custom',
      message: `must contain only letters, digits, hyphens and dots, and start and end with a letter or digit (got ${JSON.stringify(value)})`,
    });
});

function repoProblems(repo: string): string[] {
  const parts = repo.split('/');
  if (parts.length !== 2)
    return [`must be a Hugging Face repository id in "org/repo" form (got ${JSON.stringify(repo)})`];
  const problems: string[] = [];
  for (const [label, part] of [
    ['organisation', parts[0] ?? ''],
    ['repository name', parts[1] ?? ''],
  ] as const) {
    if (part === '') {
      problems.push(`${label} must not be empty in "org/repo" (got ${JSON.stringify(repo)})`);
      continue;
    }
    const quoted = JSON.stringify(part);
    if (!REPO_PART_PATTERN.test(part))
      problems.push(
        `${label} ${quoted} must start with a letter or digit and contain only letters, digits, ".", "_" and "-"`,
      );
    // The Hub refuses these too (huggingface_hub's validate_repo_id).
    if (part.includes('..') || part.includes('--')) problems.push(`${label} ${quoted} must not contain ".." or "--"`);
    if (/[.-]$/.test(part)) problems.push(`${label} ${quoted} must not end with "." or "-"`);
    if (part.length > REPO_PART_MAX)
      problems.push(`${label} must be at most ${REPO_PART_MAX} characters (got ${part.length})`);
  }
  return problems;
}

/** A file inside a Hub repository: relative, "/"-separated, nothing that could climb out of the model's folder on a node. */
function repoPathProblems(path: string): string[] {
  if (path.trim() === '') return ['must not be empty'];
  const problems: string[] = [];
  if (path !== path.trim()) problems.push('must not start or end with whitespace');
  const absolute = path.startsWith('/') || /^[A-Za-z]:[\\/]/.test(path) || path.startsWith('\\');
  if (absolute) problems.push(`must be a path relative to the repository root (got ${JSON.stringify(path)})`);
  if (path.includes('\\')) problems.push('must use "/" as the folder separator, not "\\"');
  const segments = path.split(/[\\/]/);
  if (segments.includes('..')) problems.push('must not contain a ".." segment');
  else if (!absolute && segments.some((s) => s === '' || s === '.'))
    problems.push('must not contain empty or "." segments');
  const split = SPLIT_PART_PATTERN.exec(path);
  if (split) {
    const [, part, total] = split;
    if (Number(part) !== 1)
      problems.push(`names part ${part} of a split GGUF; name the first part (-00001-of-${total}.gguf)`);
  }
  return problems;
}

const repoSchema = z.string({ error: expected('a string') }).superRefine((value, ctx) => {
  for (const message of repoProblems(value)) ctx.addIssue({ code: 'custom', message });
});

const filenameSchema = z.string({ error: expected('a string') }).superRefine((value, ctx) => {
  for (const message of repoPathProblems(value)) ctx.addIssue({ code: 'custom', message });
});

const projectorSchema = z
  .string({ error: expected('a string') })
  .nullable()
  .superRefine((value, ctx) => {
    if (value === null) return;
    for (const message of repoPathProblems(value)) ctx.addIssue({ code: 'custom', message });
    if (value.trim() !== '' && !GGUF_SUFFIX.test(value))
      ctx.addIssue({ code: 'custom', message: 'must end in ".gguf" (a multimodal projector is a GGUF file)' });
  });

const byteCount = z.number({ error: expected('a number') }).superRefine((value, ctx) => {
  if (!Number.isInteger(value))
    ctx.addIssue({ code: 'custom', message: `must be a whole number of bytes (got ${value})` });
  else if (value <= 0) ctx.addIssue({ code: 'custom', message: `must be greater than 0 (got ${value})` });
  else if (!Number.isSafeInteger(value))
    ctx.addIssue({
      code: 'custom',
      message: `must not exceed Number.MAX_SAFE_INTEGER (${Number.MAX_SAFE_INTEGER}); got ${value}`,
    });
});

const tagsSchema = z.array(
  z.string({ error: expected('a string') }).superRefine((value, ctx) => {
    if (value.trim() === '') ctx.addIssue({ code: 'custom', message: 'must not be empty' });
  }),
  { error: expected('an array of strings') },
);

function knownValue<E extends string>(kind: string, known: ReadonlyMap<string, E>) {
  const expectedList = [...known.keys()].join(', ');
  return (value: string): string | null => {
    if (known.has(value)) return null;
    const sameLetters = [...known.keys()].find((k) => k.toLowerCase() === value.toLowerCase());
    const hint = sameLetters ? ` (did you mean ${JSON.stringify(sameLetters)}?)` : '';
    return `unknown ${kind} ${JSON.stringify(value)}${hint}; expected one of ${expectedList}`;
  };
}

function enumList<E extends string>(kind: string, known: ReadonlyMap<string, E>) {
  const check = knownValue(kind, known);
  return z
    .array(z.string({ error: expected('a string') }), { error: expected(`an array of ${kind} names`) })
    .superRefine((values, ctx) => {
      if (values.length === 0) ctx.addIssue({ code: 'custom', message: `must list at least one ${kind}` });
      const seen = new Set<string>();
      for (const value of values) {
        const unknown = check(value);
        if (unknown) ctx.addIssue({ code: 'custom', message: unknown });
        else if (seen.has(value))
          ctx.addIssue({ code: 'custom', message: `duplicate ${kind} ${JSON.stringify(value)}` });
        seen.add(value);
      }
    })
    .transform((values) =>
      values.flatMap((value) => {
        const mapped = known.get(value);
        return mapped === undefined ? [] : [mapped];
      }),
    );
}

function enumValue<E extends string>(kind: string, known: ReadonlyMap<string, E>) {
  const check = knownValue(kind, known);
  return z
    .string({ error: expected('a string') })
    .superRefine((value, ctx) => {
      const unknown = check(value);
      if (unknown) ctx.addIssue({ code: 'custom', message: unknown });
    })
    .transform((value, ctx) => {
      const mapped = known.get(value);
      if (mapped === undefined) {
        ctx.addIssue({ code: 'custom', message: `unknown ${kind}` });
        return z.NEVER;
      }
      return mapped;
    });
}

const FIELD_SCHEMAS = {
  id: idSchema,
  name: nonEmptyText,
  description: nonEmptyText,
  repo: repoSchema,
  recommended_filename: filenameSchema,
  mmproj_filename: projectorSchema,
  size_bytes: byteCount,
  required_memory_bytes: byteCount,
  tags: tagsSchema,
  capabilities: enumList('capability', CAPABILITIES),
  quantization: nonEmptyText,
  parameter_count: nonEmptyText,
  format: enumValue('format', FORMATS),
  engine: nonEmptyText,
  platforms: enumList('platform', PLATFORMS),
} satisfies Record<Field, z.ZodType>;

type ParsedEntry = { [K in Field]: z.output<(typeof FIELD_SCHEMAS)[K]> };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The known field a mistyped key most likely meant: same letters ignoring case and separators, or one or two edits away. */
function closestField(key: string): Field | null {
  const squash = (s: string) => s.toLowerCase().replace(/[_\-\s]/g, '');
  const exact = FIELDS.find((f) => squash(f) === squash(key));
  if (exact) return exact;
  let best: { field: Field; distance: number } | null = null;
  for (const field of FIELDS) {
    const distance = editDistance(key.toLowerCase(), field);
    if (distance <= 2 && (best === null || distance < best.distance)) best = { field, distance };
  }
  return best?.field ?? null;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

function issuePrefix(path: readonly PropertyKey[]): string {
  // Element issues of array fields (tags) keep the field and name the element.
  return path.length > 0 ? `item #${String(path[0])}: ` : '';
}

function validateEntry(raw: unknown, index: number, out: CatalogViolation[]): SupportedModelDef | null {
  if (!isRecord(raw)) {
    out.push({ index, id: null, field: null, message: `must be a JSON object (got ${describe(raw)})` });
    return null;
  }
  const id = typeof raw.id === 'string' ? raw.id : null;
  const before = out.length;
  const report = (field: string | null, message: string) => out.push({ index, id, field, message });

  const parsed: Partial<ParsedEntry> = {};
  const parseField = <K extends Field>(field: K): void => {
    if (!Object.hasOwn(raw, field) || (OPTIONAL_FIELDS.has(field) && raw[field] === null)) {
      if (!OPTIONAL_FIELDS.has(field)) report(field, 'is required');
      return;
    }
    const result = FIELD_SCHEMAS[field].safeParse(raw[field]);
    if (result.success) parsed[field] = result.data as ParsedEntry[K];
    else for (const issue of result.error.issues) report(field, issuePrefix(issue.path) + issue.message);
  };
  for (const field of FIELDS) parseField(field);

  const { size_bytes: size, required_memory_bytes: memory } = parsed;
  const recommended = parsed.recommended_filename;
  const projector = parsed.mmproj_filename ?? null;
  // Cross-field rules read the raw values, so that a bad sibling (an unknown capability) does not hide them.
  const gguf = raw.format === GGUF_JSON;
  const vision = Array.isArray(raw.capabilities) ? raw.capabilities.includes(IMAGE_UNDERSTANDING_JSON) : undefined;
  const projectorGiven = Object.hasOwn(raw, 'mmproj_filename') && raw.mmproj_filename !== null;

  if (size !== undefined && memory !== undefined && memory < size)
    report('required_memory_bytes', `must be at least size_bytes (${memory} < ${size})`);
  if (gguf && recommended !== undefined && recommended.trim() !== '' && !GGUF_SUFFIX.test(recommended))
    report('recommended_filename', `must end in ".gguf" when format is "${GGUF_JSON}"`);
  // A vision model may leave the projector out (seed 000's own llava entry does): registration finds it in the repository.
  if (vision === false && projectorGiven)
    report('mmproj_filename', `is set but capabilities do not include "${IMAGE_UNDERSTANDING_JSON}"`);
  if (projector !== null && recommended !== undefined && projector === recommended)
    report('mmproj_filename', 'must not be the same file as recommended_filename');

  for (const key of Object.keys(raw)) {
    if (FIELD_SET.has(key)) continue;
    const guess = closestField(key);
    report(key, `unknown field${guess ? ` (did you mean "${guess}"?)` : ''}; an entry has only ${FIELDS.join(', ')}`);
  }

  if (out.length > before) return null;
  return toDefinition(parsed);
}

function toDefinition(p: Partial<ParsedEntry>): SupportedModelDef | null {
  const { id, name, description, repo, recommended_filename, size_bytes, required_memory_bytes } = p;
  const { tags, capabilities, quantization, parameter_count, format, engine, platforms } = p;
  if (
    id === undefined ||
    name === undefined ||
    description === undefined ||
    repo === undefined ||
    recommended_filename === undefined ||
    size_bytes === undefined ||
    required_memory_bytes === undefined ||
    tags === undefined ||
    capabilities === undefined ||
    quantization === undefined ||
    parameter_count === undefined ||
    format === undefined ||
    engine === undefined ||
    platforms === undefined
  )
    return null;
  return {
    id,
    name,
    description,
    repo,
    recommendedFilename: recommended_filename,
    projectorFilename: p.mmproj_filename ?? null,
    sizeBytes: size_bytes,
    requiredMemoryBytes: required_memory_bytes,
    tags,
    capabilities,
    quantization,
    parameterCount: parameter_count,
    format,
    engine,
    platforms,
  };
}

function duplicateIdViolations(raw: readonly unknown[]): CatalogViolation[] {
  // Case-insensitive: "Llama-3" beside "llama-3" would only confuse people and URLs.
  const byKey = new Map<string, { index: number; id: string }[]>();
  raw.forEach((entry, index) => {
    if (!isRecord(entry) || typeof entry.id !== 'string' || entry.id === '') return;
    const key = entry.id.toLowerCase();
    byKey.set(key, [...(byKey.get(key) ?? []), { index, id: entry.id }]);
  });
  const violations: CatalogViolation[] = [];
  for (const holders of byKey.values()) {
    if (holders.length < 2) continue;
    for (const holder of holders) {
      const others = holders
        .filter((h) => h.index !== holder.index)
        .map((h) => `#${h.index}${h.id === holder.id ? '' : ` as ${JSON.stringify(h.id)}`}`);
      violations.push({
        index: holder.index,
        id: holder.id,
        field: 'id',
        message: `duplicate id ${JSON.stringify(holder.id)} (also at entry ${others.join(', ')})`,
      });
    }
  }
  return violations;
}

/**
 * Checks a parsed supported_models.json against every rule of seed 000 and reports every violation of
 * every entry; only a catalog without any is mapped to SupportedModelDef[].
 */
export function validateCatalog(raw: unknown): CatalogValidationResult {
  if (!Array.isArray(raw))
    return {
      ok: false,
      violations: [
        { index: null, id: null, field: null, message: `must be a JSON array of models (got ${describe(raw)})` },
      ],
    };
  const violations: CatalogViolation[] = [];
  const models: SupportedModelDef[] = [];
  raw.forEach((entry: unknown, index) => {
    const model = validateEntry(entry, index, violations);
    if (model) models.push(model);
  });
  violations.push(...duplicateIdViolations(raw));
  if (violations.length > 0) {
    // Stable sort keeps each entry's violations together, duplicates after its own field checks.
    violations.sort((a, b) => (a.index ?? -1) - (b.index ?? -1));
    return { ok: false, violations };
  }
  return { ok: true, models };
}

/** One line per violation, e.g. `entry #3 (id "foo") field "size_bytes": must be greater than 0 (got 0)`. */
export function formatViolations(violations: readonly CatalogViolation[]): string {
  return violations
    .map((v) => {
      const where = v.index === null ? 'catalog' : `entry #${v.index}`;
      const id = v.id === null ? '' : ` (id ${JSON.stringify(v.id)})`;
      const field = v.field === null ? '' : ` field ${JSON.stringify(v.field)}`;
      return `${where}${id}${field}: ${v.message}`;
    })
    .join('\n');
}
