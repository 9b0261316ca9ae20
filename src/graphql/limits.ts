import { ApolloArmor } from '@escape.tech/graphql-armor';
import {
  GraphQLError,
  parse,
  specifiedRules,
  validate,
  type DocumentNode,
  type GraphQLSchema,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';

/**
 * What one GraphQL document may ask for, on HTTP and graphql-ws alike: graphql-armor's defaults, with fragments
 * counted as what they contain rather than as an extra level, and a cost limit that lets a page of 1,000 through. The dashboard's largest operation (with its fragments)
 * is ~170 tokens, cost ~82, depth 3, no aliases (test/unit/graphql-limits.spec.ts checks every one of them; the CLI's
 * run in test/e2e/cli.spec.ts); a "bomb" — deep nesting, alias or fragment multiplication, a directive flood, a huge
 * document — is refused before anything runs.
 */
export const GRAPHQL_LIMITS = {
  /** Selection depth (introspection's `__schema` not counted); the schema's deepest real path is 5. */
  depth: 6,
  /** Aliases in one operation. */
  aliases: 15,
  /** Directives in one operation. */
  directives: 50,
  /** Lexical tokens in one document (checked while parsing, so an oversized one is never fully parsed). */
  tokens: 1000,
  /**
   * graphql-armor's cost: objects 2, scalars 1, ×1.5 per level, × a literal `first:` (introspection not counted).
   * Within the depth and token limits a document stays under ~8,000 unless it pages or repeats fragments, so this
   * bounds what those multiply: one page of 1,000 full model cards (~81,500) fits, three aliased ones do not, nor a
   * fragment spread hundreds of times. A `first` given as a variable is not multiplied (armor reads literals only);
   * the server caps every page at 1,000 anyway.
   */
  cost: 100_000,
} as const;

/** The public code of a refused document: the limits are validation rules (parse: GRAPHQL_PARSE_FAILED for tokens). */
export const LIMIT_ERROR_CODE = 'GRAPHQL_VALIDATION_FAILED';

type Limit = 'depth' | 'aliases' | 'directives' | 'cost';

/** armor reports "Syntax Error: …"; these are no syntax errors, so the message says what was over which limit. */
function reporter(limit: Limit) {
  return (context: ValidationContext | null, error: GraphQLError): void => {
    context?.reportError(
      new GraphQLError(`Query refused: ${error.message.replace(/^Syntax Error: /, '')}`, {
        extensions: { code: LIMIT_ERROR_CODE, limit, max: GRAPHQL_LIMITS[limit] },
      }),
    );
  };
}

const common = (limit: Limit) => ({ exposeLimits: true, propagateOnRejection: false, onReject: [reporter(limit)] });

/**
 * Validation rules to add to graphql-js's own (Apollo's `validationRules`, graphql-ws's `validate`). Only armor's rules
 * are taken: tokens are graphql-js's own parse option (below), and field suggestions stay for callers with a key —
 * a caller without one never reaches parsing (GraphqlHttpGate, WsAuth.onConnect).
 */
export const graphqlLimitRules: ValidationRule[] = new ApolloArmor({
  maxDepth: { n: GRAPHQL_LIMITS.depth, flattenFragments: true, ...common('depth') },
  maxAliases: { n: GRAPHQL_LIMITS.aliases, ...common('aliases') },
  maxDirectives: { n: GRAPHQL_LIMITS.directives, ...common('directives') },
  costLimit: { maxCost: GRAPHQL_LIMITS.cost, flattenFragments: true, ...common('cost') },
  maxTokens: { enabled: false },
  blockFieldSuggestion: { enabled: false },
}).protect().validationRules;

/** graphql-js's parse options: the token limit (Apollo's `parseOptions`, and parseLimited below). */
export const graphqlParseOptions = { maxTokens: GRAPHQL_LIMITS.tokens };

/** Parses under the token limit; a syntax error or an oversized document comes back as GraphQL errors, not a throw. */
export function parseLimited(source: string): DocumentNode | readonly GraphQLError[] {
  try {
    return parse(source, graphqlParseOptions);
  } catch (err) {
    if (err instanceof GraphQLError) {
      return [new GraphQLError(err.message, { extensions: { code: 'GRAPHQL_PARSE_FAILED' } })];
    }
    throw err;
  }
}

/** graphql-js's validate with the limits added (what graphql-ws runs; Apollo adds the same rules itself). */
export function validateLimited(schema: GraphQLSchema, document: DocumentNode): readonly GraphQLError[] {
  return validate(schema, document, [...specifiedRules, ...graphqlLimitRules]).map((error) =>
    error.extensions.code
      ? error
      : new GraphQLError(error.message, {
          nodes: error.nodes,
          extensions: { ...error.extensions, code: LIMIT_ERROR_CODE },
        }),
  );
}
