import { DomainError } from '../common/domain-error.js';

export enum CatalogErrorReason {
  /** supported_models.json was read but is not valid JSON or breaks a rule of seed 000. */
  INVALID_CATALOG = 'INVALID_CATALOG',
  /** supported_models.json could not be read at all (missing, a directory, no permission). */
  CATALOG_UNREADABLE = 'CATALOG_UNREADABLE',
  /** A model id that the catalog does not hold. */
  MODEL_NOT_IN_CATALOG = 'MODEL_NOT_IN_CATALOG',
  /** A query argument out of range (e.g. hfCatalog's limit). */
  INVALID_ARGUMENT = 'INVALID_ARGUMENT',
}

export class CatalogError extends DomainError<CatalogErrorReason> {
  constructor(reason: CatalogErrorReason, message: string, details: Record<string, unknown> = {}) {
    super(reason, message, details);
  }
}
