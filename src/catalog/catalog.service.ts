import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

import { Inject, Injectable } from '@nestjs/common';

import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { CatalogError, CatalogErrorReason } from './catalog.errors.js';
import { formatViolations, validateCatalog } from './catalog-validation.js';
import type { SupportedModelDef } from './supported-model.js';

/**
 * The curated catalog (supported_models.json). Loaded and validated synchronously while Nest builds the
 * module graph, so the app never starts with a catalog that breaks a rule; read-only afterwards.
 */
@Injectable()
export class CatalogService {
  private readonly models: readonly SupportedModelDef[];
  private readonly byId: ReadonlyMap<string, SupportedModelDef>;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.models = Object.freeze(CatalogService.loadFromFile(config.SUPPORTED_MODELS_PATH).map(freezeModel));
    this.byId = new Map(this.models.map((m) => [m.id, m]));
  }

  /**
   * Reads, parses and validates a catalog file (relative paths resolve against the working directory).
   * Throws CatalogError: CATALOG_UNREADABLE when the file cannot be read, INVALID_CATALOG naming the JSON
   * syntax error's position or listing every violation.
   */
  static loadFromFile(path: string): SupportedModelDef[] {
    const absolute = resolve(process.cwd(), path);
    let text: string;
    try {
      text = readFileSync(absolute, 'utf8');
    } catch (err) {
      throw new CatalogError(
        CatalogErrorReason.CATALOG_UNREADABLE,
        `Cannot read the supported models catalog ${absolute}: ${readFailure(err)} (SUPPORTED_MODELS_PATH sets where it is)`,
        { path: absolute },
      );
    }

    let raw: unknown;
    try {
      // Editors on Windows like to prepend a byte-order mark that JSON.parse refuses.
      raw = JSON.parse(text.replace(/^\uFEFF/, ''));
    } catch (err) {
      const syntax = errorText(err);
      throw new CatalogError(
        CatalogErrorReason.INVALID_CATALOG,
        `The supported models catalog ${absolute} is not valid JSON${whereInText(text, syntax)}: ${syntax}`,
        { path: absolute },
      );
    }

    const result = validateCatalog(raw);
    if (!result.ok) {
      const count = result.violations.length;
      const lines = formatViolations(result.violations)
        .split('\n')
        .map((line) => `  - ${line}`)
        .join('\n');
      throw new CatalogError(
        CatalogErrorReason.INVALID_CATALOG,
        `The supported models catalog ${absolute} breaks ${count} rule${count === 1 ? '' : 's'}:\n${lines}`,
        { path: absolute, violations: result.violations },
      );
    }
    return result.models;
  }

  /** Every catalog model, in file order. */
  list(): readonly SupportedModelDef[] {
    return this.models;
  }

  get(id: string): SupportedModelDef | undefined {
    return this.byId.get(id);
  }

  require(id: string): SupportedModelDef {
    const model = this.byId.get(id);
    if (!model)
      throw new CatalogError(
        CatalogErrorReason.MODEL_NOT_IN_CATALOG,
        `Model id ${JSON.stringify(id)} is not in the catalog (see supportedModels)`,
        { modelId: id },
      );
    return model;
  }

  /** Catalog models that live in a Hub repository; Hub ids are case-insensitive. */
  findByRepo(repo: string): SupportedModelDef[] {
    const wanted = repo.toLowerCase();
    return this.models.filter((m) => m.repo.toLowerCase() === wanted);
  }
}

function freezeModel(model: SupportedModelDef): SupportedModelDef {
  Object.freeze(model.tags);
  Object.freeze(model.capabilities);
  Object.freeze(model.platforms);
  return Object.freeze(model);
}

// Node's fs errors may come from another realm (jest's VM), so no `instanceof Error` here.
function readFailure(err: unknown): string {
  const code = typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EISDIR':
      return 'it is a directory, not a file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    default:
      return errorText(err);
  }
}

function errorText(err: unknown): string {
  return typeof err === 'object' && err !== null && 'message' in err && typeof err.message === 'string'
    ? err.message
    : String(err);
}

/** " at line L, column C" for a JSON.parse error, whose message only carries a character offset (if any). */
function whereInText(text: string, syntaxMessage: string): string {
  const bom = text.startsWith('\uFEFF') ? 1 : 0;
  const match = /at position (\d+)/.exec(syntaxMessage);
  if (!match) return /end of JSON input/i.test(syntaxMessage) ? ' (it ends too early)' : '';
  const offset = Number(match[1]) + bom;
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  return ` at line ${line}, column ${column}`;
}
