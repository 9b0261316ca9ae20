import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

import { afterAll, describe, expect, it } from '@jest/globals';
import { Test } from '@nestjs/testing';

import { CatalogError, CatalogErrorReason } from '../../src/catalog/catalog.errors.js';
import { CatalogModule } from '../../src/catalog/catalog.module.js';
import { CatalogResolver } from '../../src/catalog/catalog.resolver.js';
import { CatalogService } from '../../src/catalog/catalog.service.js';
import { SupportedModel } from '../../src/catalog/models/supported-model.model.js';
import { parseAppConfig } from '../../src/config/app-config.js';
import { ConfigModule } from '../../src/config/config.module.js';

type RawEntry = Record<string, unknown>;

// The shipped catalog is the source of valid entries here; its own rules are tested in catalog-validation.spec.ts.
const shipped = JSON.parse(readFileSync(new URL('../../supported_models.json', import.meta.url), 'utf8')) as RawEntry[];

/** A valid raw entry: a copy of a shipped one with a test id. */
function entry(overrides: RawEntry = {}, from = 0): RawEntry {
  const base = shipped[from];
  if (!base) throw new Error(`supported_models.json has no entry #${from}`);
  return { ...structuredClone(base), id: `test-${from}`, ...overrides };
}

const dir = mkdtempSync(join(tmpdir(), 'llmfleet-catalog-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
function writeCatalog(content: string): string {
  const path = join(dir, `catalog-${++files}.json`);
  writeFileSync(path, content);
  return path;
}

function serviceFor(path: string): CatalogService {
  return new CatalogService(parseAppConfig({ SUPPORTED_MODELS_PATH: path }));
}

/** The CatalogError a call throws (fails the test when it throws nothing or something else). */
function catalogErrorOf(load: () => unknown): CatalogError {
  try {
    load();
  } catch (err) {
    if (err instanceof CatalogError) return err;
    throw err;
  }
  throw new Error('expected a CatalogError, nothing was thrown');
}

describe('CatalogService with a valid catalog', () => {
  const first = entry({}, 0);
  const second = entry({ repo: 'Some-Org/Some-Repo-GGUF' }, 1);
  const path = writeCatalog(JSON.stringify([first, second], null, 2));
  const service = serviceFor(path);

  it('lists the models in file order', () => {
    expect(service.list().map((m) => m.id)).toEqual(['test-0', 'test-1']);
    expect(service.list()[1]?.recommendedFilename).toBe(second.recommended_filename);
  });

  it('gets and requires a model by id', () => {
    expect(service.get('test-1')?.repo).toBe('Some-Org/Some-Repo-GGUF');
    expect(service.get('missing')).toBeUndefined();
    expect(service.require('test-0').id).toBe('test-0');
  });

  it('refuses to require an id that is not in the catalog, naming it', () => {
    const err = catalogErrorOf(() => service.require('nope-7b'));
    expect(err.reason).toBe(CatalogErrorReason.MODEL_NOT_IN_CATALOG);
    expect(err.message).toContain('"nope-7b"');
  });

  it('finds models by repository, case-insensitively', () => {
    expect(service.findByRepo('some-org/some-repo-gguf').map((m) => m.id)).toEqual(['test-1']);
    expect(service.findByRepo('other/repo')).toEqual([]);
  });

  it('keeps the loaded catalog read-only', () => {
    const model = service.list()[0];
    expect(Object.isFrozen(service.list())).toBe(true);
    expect(model && Object.isFrozen(model) && Object.isFrozen(model.tags)).toBe(true);
  });

  it('resolves a relative path against the working directory', () => {
    const again = serviceFor(relative(process.cwd(), path));
    expect(again.list()).toEqual(service.list());
  });

  it('reads a file that starts with a byte-order mark', () => {
    const bom = writeCatalog(`\uFEFF${JSON.stringify([first])}`);
    expect(CatalogService.loadFromFile(bom).map((m) => m.id)).toEqual(['test-0']);
  });
});

describe('CatalogService refusing a catalog', () => {
  it('lists every violation of an invalid catalog in one error', () => {
    const path = writeCatalog(
      JSON.stringify([entry({ size_bytes: 0 }, 0), entry({ id: 'bad/id', capabilities: ['Foo'] }, 1), entry({}, 0)]),
    );
    const err = catalogErrorOf(() => serviceFor(path));
    expect(err.reason).toBe(CatalogErrorReason.INVALID_CATALOG);
    expect(err.message).toContain(path);
    expect(err.message).toContain('breaks 5 rules');
    for (const line of [
      'entry #0 (id "test-0") field "size_bytes": must be greater than 0 (got 0)',
      'entry #0 (id "test-0") field "id": duplicate id "test-0" (also at entry #2)',
      'entry #1 (id "bad/id") field "id": must contain only letters, digits, hyphens and dots, and start and end with a letter or digit (got "bad/id")',
      'entry #1 (id "bad/id") field "capabilities": unknown capability "Foo"',
      'entry #2 (id "test-0") field "id": duplicate id "test-0" (also at entry #0)',
    ])
      expect(err.message).toContain(`  - ${line}`);
    expect(err.details.violations).toHaveLength(5);
  });

  it('names the path and the position of a JSON syntax error', () => {
    const path = writeCatalog('[\n  {\n    "id": "a",\n  }\n]\n');
    const err = catalogErrorOf(() => serviceFor(path));
    expect(err.reason).toBe(CatalogErrorReason.INVALID_CATALOG);
    expect(err.message).toContain(`${path} is not valid JSON at line 4, column 3`);
  });

  it('says so when the file is empty', () => {
    const err = catalogErrorOf(() => serviceFor(writeCatalog('')));
    expect(err.reason).toBe(CatalogErrorReason.INVALID_CATALOG);
    expect(err.message).toMatch(/is not valid JSON \(it ends too early\)/);
  });

  it('refuses a top level that is not an array', () => {
    const err = catalogErrorOf(() => serviceFor(writeCatalog(JSON.stringify({ models: [entry()] }))));
    expect(err.message).toContain('catalog: must be a JSON array of models (got an object)');
  });

  it('reports a missing file as unreadable, naming it', () => {
    const path = join(dir, 'does-not-exist.json');
    const err = catalogErrorOf(() => serviceFor(path));
    expect(err.reason).toBe(CatalogErrorReason.CATALOG_UNREADABLE);
    expect(err.message).toContain(`${path}: no such file`);
  });

  it('reports a directory as unreadable', () => {
    const path = join(dir, 'a-directory.json');
    mkdirSync(path);
    const err = catalogErrorOf(() => serviceFor(path));
    expect(err.reason).toBe(CatalogErrorReason.CATALOG_UNREADABLE);
    expect(err.message).toContain('it is a directory');
  });
});

describe('CatalogModule', () => {
  async function compile(path: string) {
    return Test.createTestingModule({
      imports: [ConfigModule.forRoot(parseAppConfig({ SUPPORTED_MODELS_PATH: path })), CatalogModule],
    }).compile();
  }

  it('serves the catalog through the supportedModels query', async () => {
    const moduleRef = await compile(writeCatalog(JSON.stringify([entry()])));
    const models = moduleRef.get(CatalogResolver).supportedModels();
    expect(models).toHaveLength(1);
    expect(models[0]).toBeInstanceOf(SupportedModel);
    expect(models[0]?.id).toBe('test-0');
    await moduleRef.close();
  });

  it('does not start with an invalid catalog', async () => {
    await expect(compile(writeCatalog(JSON.stringify([entry({ platforms: [] })])))).rejects.toThrow(
      /field "platforms": must list at least one platform/,
    );
  });

  it('loads the shipped supported_models.json', () => {
    const models = CatalogService.loadFromFile(new URL('../../supported_models.json', import.meta.url).pathname);
    expect(models.length).toBe(shipped.length);
  });
});
