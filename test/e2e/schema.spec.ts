import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { GraphQLSchemaHost } from '@nestjs/graphql';
import { buildSchema, type GraphQLObjectType } from 'graphql';
import { printContractSchema } from '../../src/graphql/print-schema.js';
import { AppHarness } from '../support/app-harness.js';

describe('schema.gql', () => {
  let app: AppHarness;
  beforeAll(async () => {
    app = await AppHarness.start();
  });
  afterAll(async () => {
    await app?.stop();
  });

  it('is the schema the code serves (run `npm run schema` after changing the contract)', async () => {
    const committed = await readFile(new URL('../../schema.gql', import.meta.url), 'utf8');
    expect(printContractSchema(app.app.get(GraphQLSchemaHost).schema)).toBe(committed);
  });

  it('keeps the contract names of DESIGN.md', async () => {
    const schema = buildSchema(await readFile(new URL('../../schema.gql', import.meta.url), 'utf8'));
    const signature = (type: 'Query' | 'Mutation' | 'Subscription', field: string): string => {
      const f = (schema.getType(type) as GraphQLObjectType).getFields()[field];
      if (!f) return `${type}.${field} missing`;
      return `${field}(${f.args.map((a) => `${a.name}: ${a.type.toString()}`).join(', ')}): ${f.type.toString()}`;
    };
    expect(signature('Query', 'supportedModels')).toBe('supportedModels(): [SupportedModel!]!');
    // Paging (first/after) was added to the contract's arguments; without them the answer is as before.
    expect(signature('Query', 'models')).toBe(
      'models(after: String, first: Int, search: String, status: ModelStatus): [ModelWithStatus!]!',
    );
    expect(signature('Query', 'nodes')).toBe('nodes(after: String, first: Int, status: NodeStatus): [Node!]!');
    expect(signature('Query', 'model')).toBe('model(id: ID!): ModelWithStatus');
    expect(signature('Query', 'hfCatalog')).toBe(
      'hfCatalog(cursor: String, limit: Int, search: String, sort: HfSort): HfCatalogPage!',
    );
    expect(signature('Mutation', 'registerModel')).toBe('registerModel(modelId: ID!): ModelWithStatus!');
    expect(signature('Mutation', 'registerHfModel')).toBe('registerHfModel(url: String!): ModelWithStatus!');
    expect(signature('Mutation', 'unregisterModel')).toBe('unregisterModel(modelId: ID!): ModelWithStatus!');
    expect(signature('Mutation', 'deleteModel')).toBe('deleteModel(modelId: ID!): ModelWithStatus!');
    expect(signature('Subscription', 'modelStatusChanged')).toBe('modelStatusChanged(modelId: ID): ModelStatusEvent!');
    for (const name of [
      'ModelStatus',
      'LifecycleStatus',
      'ModelCapability',
      'ModelFormat',
      'Platform',
      'SafeInt',
      'HfStats',
    ]) {
      expect(schema.getType(name)).toBeDefined();
    }
    const withStatus = (schema.getType('ModelWithStatus') as GraphQLObjectType).getFields();
    for (const field of [
      'id',
      'model',
      'source',
      'status',
      'errorMessage',
      'hfStats',
      'downloadProgress',
      'availableNodes',
    ]) {
      expect(withStatus[field]).toBeDefined();
    }
  });
});
