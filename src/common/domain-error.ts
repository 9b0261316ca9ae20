/**
 * Base of every module's error. `reason` is the module's own code (an enum of that module);
 * the GraphQL layer maps it to a public `extensions.code` in one place (src/graphql/error-mapper.ts).
 */
export abstract class DomainError<R extends string = string> extends Error {
  protected constructor(
    readonly reason: R,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** The codes clients see in `extensions.code` (DESIGN.md, Contract). */
export enum PublicErrorCode {
  BAD_USER_INPUT = 'BAD_USER_INPUT',
  NOT_FOUND = 'NOT_FOUND',
  CONFLICT = 'CONFLICT',
  UPSTREAM_UNAVAILABLE = 'UPSTREAM_UNAVAILABLE',
  UNAUTHENTICATED = 'UNAUTHENTICATED',
  FORBIDDEN = 'FORBIDDEN',
  INTERNAL_SERVER_ERROR = 'INTERNAL_SERVER_ERROR',
}
