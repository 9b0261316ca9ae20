import { ArgsType, Field, Int } from '@nestjs/graphql';
import { DomainError } from './domain-error.js';

/** The most items one page may ask for (`first`): a larger answer is a whole-fleet dump, asked without `first`. */
export const MAX_PAGE_SIZE = 1000;

export enum PaginationErrorReason {
  FIRST_OUT_OF_RANGE = 'FIRST_OUT_OF_RANGE',
  UNKNOWN_CURSOR = 'UNKNOWN_CURSOR',
}

export class PaginationError extends DomainError<PaginationErrorReason> {
  constructor(reason: PaginationErrorReason, message: string, details: Record<string, unknown> = {}) {
    super(reason, message, details);
  }
}

/** Keyset paging arguments shared by list queries: `after` is the id of the last item of the previous page. */
@ArgsType()
export class PageArgs {
  @Field(() => Int, {
    nullable: true,
    description: `At most this many items (1..${MAX_PAGE_SIZE}); without it, every item.`,
  })
  first?: number | null;

  @Field(() => String, {
    nullable: true,
    description:
      'The id of the last item of the previous page: the page starts after it. Unknown ids are refused (BAD_USER_INPUT).',
  })
  after?: string | null;
}

export interface Page {
  first?: number | null;
  after?: string | null;
}

/** Whether these arguments ask for a page (else: the whole list, in its historical order). */
export function isPaged(page: Page): boolean {
  return (page.first !== undefined && page.first !== null) || (page.after !== undefined && page.after !== null);
}

/** `first` as a limit (null: no limit); refused outside 1..MAX_PAGE_SIZE, naming the value. */
export function pageLimit(first: number | null | undefined): number | null {
  if (first === undefined || first === null) return null;
  if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE_SIZE) {
    throw new PaginationError(
      PaginationErrorReason.FIRST_OUT_OF_RANGE,
      `first must be between 1 and ${MAX_PAGE_SIZE} (got ${first}); page with first/after, or omit first for every item`,
      { field: 'first', value: first, max: MAX_PAGE_SIZE },
    );
  }
  return first;
}

export function unknownCursor(after: string, what: string): PaginationError {
  return new PaginationError(
    PaginationErrorReason.UNKNOWN_CURSOR,
    `after must be the id of the last ${what} of the previous page; no ${what} has id "${after}"`,
    { field: 'after', value: after },
  );
}

/** Code-unit order, the same on every replica and in every locale (ids are compared as they are). */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
