import { lexicographicSortSchema, printSchema, type GraphQLSchema } from 'graphql';

/** The contract as committed in schema.gql: sorted, so that only real changes show in a diff. */
export function printContractSchema(schema: GraphQLSchema): string {
  return `# The llmfleet GraphQL contract, emitted from the code-first schema by \`npm run schema\`. Do not edit by hand.\n\n${printSchema(lexicographicSortSchema(schema))}\n`;
}
