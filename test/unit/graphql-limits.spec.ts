import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { buildSchema, type GraphQLError } from 'graphql';
import { GRAPHQL_LIMITS, parseLimited, validateLimited } from '../../src/graphql/limits.js';
import { aliases, BOMBS, deepQuery, modelsPage } from '../support/graphql-bombs.js';

const schema = buildSchema(readFileSync(new URL('../../schema.gql', import.meta.url), 'utf8'));

function check(source: string): readonly GraphQLError[] {
  const parsed = parseLimited(source);
  return Array.isArray(parsed) ? parsed : validateLimited(schema, parsed as Exclude<typeof parsed, readonly unknown[]>);
}

/** The dashboard's documents as codegen reads them: every graphql(`…`) in web/src/ops/operations.ts. */
function dashboardDocuments(): string[] {
  const source = readFileSync(new URL('../../web/src/ops/operations.ts', import.meta.url), 'utf8');
  return [...source.matchAll(/graphql\(`([^`]*)`\)/g)].map((m) => m[1]!);
}

describe('GraphQL limits', () => {
  it('lets every dashboard operation through (with its fragments)', () => {
    const documents = dashboardDocuments();
    expect(documents.length).toBeGreaterThan(15);
    const fragments = documents.filter((d) => /^\s*fragment /.test(d)).join('\n');
    const operations = documents.filter((d) => !/^\s*fragment /.test(d));
    for (const operation of operations) {
      const used = fragments
        .split(/(?=\bfragment )/)
        .filter((f) => {
          const name = /fragment (\w+)/.exec(f)?.[1];
          return name && new RegExp(`\\.\\.\\.${name}\\b`).test(operation + fragments);
        })
        .join('\n');
      const errors = check(`${operation}\n${used}`).filter((e) => !/Unknown fragment|never used/.test(e.message));
      expect({ operation: operation.trim().split('\n')[0], errors: errors.map((e) => e.message) }).toEqual({
        operation: operation.trim().split('\n')[0],
        errors: [],
      });
    }
  });

  it('refuses a deep query, an alias flood, a directive flood, a costly query and an oversized document', () => {
    for (const [name, query, code, limit] of BOMBS) {
      const errors = check(query);
      const refusal = errors.find((e) => e.extensions.code === code && (!limit || e.extensions.limit === limit));
      expect({ name, message: refusal?.message }).toEqual({ name, message: expect.stringMatching(/limit|tokens/) });
      expect(refusal!.message).not.toMatch(/^Syntax Error: Query/);
    }
  });

  it('lets a query at the limits through', () => {
    expect(check(deepQuery(GRAPHQL_LIMITS.depth, 'name'))).toEqual([]);
    expect(check(`{ ${aliases(GRAPHQL_LIMITS.aliases)} }`)).toEqual([]);
    // A page of 1,000 models (paging multiplies armor's cost), the dashboard's full card included.
    expect(check(`{ ${modelsPage(1000)} }`)).toEqual([]);
    const card = dashboardDocuments().filter((d) => /^\s*fragment (ModelCardFields|NodeStateFields)\b/.test(d));
    expect(card).toHaveLength(2);
    expect(check(`{ models(first: 1000) { ...ModelCardFields } }\n${card.join('\n')}`)).toEqual([]);
  });
});
