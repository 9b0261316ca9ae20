import { GRAPHQL_LIMITS } from '../../src/graphql/limits.js';

/** `{ __type(name: "Query") { fields { type { ofType { … <leaf> } } } } }`: valid, and `depth` levels deep (≥ 4). */
export function deepQuery(depth: number, leaf: string): string {
  const path = ['fields', 'type', ...Array.from({ length: depth - 4 }, () => 'ofType')];
  return `{ __type(name: "Query") { ${path.join(' { ')} { ${leaf} }${' }'.repeat(path.length)} }`;
}
/** `n` aliased root fields (armor does not count aliases of __typename). */
export const aliases = (n: number) => Array.from({ length: n }, (_, i) => `a${i}: me { role }`).join(' ');

/** A page of models with their card's fields and every node's state (~38,750 by armor's cost at 1,000). */
export const modelsPage = (first: number) =>
  `models(first: ${first}) { id status downloadProgress availableNodes model { name repo sizeBytes quantization } ` +
  `nodes { nodeId modelId lifecycleStatus progress bytesDone bytesTotal updatedAt } }`;

/** Documents every limit refuses: [what, query, code, limit]. */
export const BOMBS: Array<[string, string, string, string]> = [
  ['depth', deepQuery(GRAPHQL_LIMITS.depth + 1, 'name'), 'GRAPHQL_VALIDATION_FAILED', 'depth'],
  ['aliases', `{ ${aliases(GRAPHQL_LIMITS.aliases + 1)} }`, 'GRAPHQL_VALIDATION_FAILED', 'aliases'],
  [
    'directives',
    `{ ${Array.from({ length: GRAPHQL_LIMITS.directives + 1 }, () => '__typename @include(if: true)').join(' ')} }`,
    'GRAPHQL_VALIDATION_FAILED',
    'directives',
  ],
  [
    'cost',
    `{ ${['a', 'b', 'c'].map((alias) => `${alias}: ${modelsPage(1000)}`).join(' ')} }`,
    'GRAPHQL_VALIDATION_FAILED',
    'cost',
  ],
  ['tokens', `{ ${'__typename '.repeat(GRAPHQL_LIMITS.tokens)} }`, 'GRAPHQL_PARSE_FAILED', ''],
];
