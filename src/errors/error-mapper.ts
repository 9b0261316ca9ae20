import { AuthError, AuthErrorReason } from '../auth/auth.errors.js';
import { CatalogError, CatalogErrorReason } from '../catalog/catalog.errors.js';
import { DomainError, PublicErrorCode } from '../common/domain-error.js';
import { PaginationError } from '../common/pagination.js';
import { DownloadsError, DownloadsErrorReason } from '../downloads/downloads.errors.js';
import { NodesError, NodesErrorReason } from '../nodes/nodes.errors.js';
import { DependencyError } from '../health/dependency.errors.js';
import { HfError, HfErrorReason } from '../hf-stats/hf.errors.js';
import { RegistryError, RegistryErrorReason } from '../registry/registry.errors.js';
import { RepairError, RepairErrorReason } from '../repair/repair.errors.js';

/** The one place where a module's error reason becomes the public `extensions.code`. */
export function publicCodeOf(err: DomainError): PublicErrorCode {
  if (err instanceof RegistryError) return registryCode(err.reason);
  if (err instanceof HfError) return hfCode(err.reason);
  if (err instanceof CatalogError) return catalogCode(err.reason);
  if (err instanceof NodesError) return nodesCode(err.reason);
  if (err instanceof DownloadsError) return downloadsCode(err.reason);
  if (err instanceof RepairError) return repairCode(err.reason);
  if (err instanceof DependencyError) return PublicErrorCode.UPSTREAM_UNAVAILABLE;
  if (err instanceof AuthError) return authCode(err.reason);
  if (err instanceof PaginationError) return PublicErrorCode.BAD_USER_INPUT;
  return PublicErrorCode.INTERNAL_SERVER_ERROR;
}

function registryCode(reason: RegistryErrorReason): PublicErrorCode {
  switch (reason) {
    case RegistryErrorReason.INVALID_REFERENCE:
    case RegistryErrorReason.UNSUPPORTED_HOST:
    case RegistryErrorReason.PATH_ESCAPES_REPO:
    case RegistryErrorReason.NOT_GGUF:
    case RegistryErrorReason.MISSING_CHECKSUM:
      return PublicErrorCode.BAD_USER_INPUT;
    case RegistryErrorReason.FILE_NOT_FOUND:
    case RegistryErrorReason.MODEL_NOT_FOUND:
    case RegistryErrorReason.NOT_REGISTERED:
      return PublicErrorCode.NOT_FOUND;
    case RegistryErrorReason.ALREADY_REGISTERED:
      return PublicErrorCode.CONFLICT;
  }
}

function hfCode(reason: HfErrorReason): PublicErrorCode {
  switch (reason) {
    case HfErrorReason.INVALID_ARGUMENT:
      return PublicErrorCode.BAD_USER_INPUT;
    case HfErrorReason.REPO_NOT_FOUND:
    case HfErrorReason.REVISION_NOT_FOUND:
    case HfErrorReason.ENTRY_NOT_FOUND:
      return PublicErrorCode.NOT_FOUND;
    case HfErrorReason.GATED:
    case HfErrorReason.ACCESS_DENIED:
      return PublicErrorCode.FORBIDDEN;
    // The control plane's own Hub credentials are wrong: not the caller's (UNAUTHENTICATED would log a client out).
    case HfErrorReason.TOKEN_REJECTED:
    case HfErrorReason.RATE_LIMITED:
    case HfErrorReason.UPSTREAM_ERROR:
    case HfErrorReason.TIMEOUT:
    case HfErrorReason.BAD_RESPONSE:
      return PublicErrorCode.UPSTREAM_UNAVAILABLE;
  }
}

function catalogCode(reason: CatalogErrorReason): PublicErrorCode {
  switch (reason) {
    case CatalogErrorReason.MODEL_NOT_IN_CATALOG:
      return PublicErrorCode.NOT_FOUND;
    case CatalogErrorReason.INVALID_ARGUMENT:
      return PublicErrorCode.BAD_USER_INPUT;
    case CatalogErrorReason.INVALID_CATALOG:
    case CatalogErrorReason.CATALOG_UNREADABLE:
      return PublicErrorCode.INTERNAL_SERVER_ERROR;
  }
}

function nodesCode(reason: NodesErrorReason): PublicErrorCode {
  switch (reason) {
    case NodesErrorReason.INVALID_REGISTRATION:
    case NodesErrorReason.INVALID_HEARTBEAT:
    case NodesErrorReason.AGENT_URL_REFUSED:
      return PublicErrorCode.BAD_USER_INPUT;
    case NodesErrorReason.JOIN_TOKEN_CONFIGURED:
    case NodesErrorReason.NODE_NAME_TAKEN:
    case NodesErrorReason.SECRET_UNREADABLE:
      return PublicErrorCode.CONFLICT;
    case NodesErrorReason.JOIN_TOKEN_REQUIRED:
    case NodesErrorReason.NODE_TOKEN_MISSING:
      return PublicErrorCode.UNAUTHENTICATED;
    case NodesErrorReason.JOIN_TOKEN_INVALID:
    case NodesErrorReason.NODE_TOKEN_INVALID:
      return PublicErrorCode.FORBIDDEN;
    case NodesErrorReason.NODE_NOT_FOUND:
      return PublicErrorCode.NOT_FOUND;
    case NodesErrorReason.AGENT_UNREACHABLE:
    case NodesErrorReason.AGENT_REJECTED:
      return PublicErrorCode.UPSTREAM_UNAVAILABLE;
  }
}

function downloadsCode(reason: DownloadsErrorReason): PublicErrorCode {
  switch (reason) {
    case DownloadsErrorReason.NO_NODES:
    case DownloadsErrorReason.EMPTY_NODE_LIST:
    case DownloadsErrorReason.INVALID_PEER_REQUEST:
      return PublicErrorCode.BAD_USER_INPUT;
    case DownloadsErrorReason.TRANSFER_NOT_FOUND:
      return PublicErrorCode.NOT_FOUND;
    case DownloadsErrorReason.NODES_UNREACHABLE:
      return PublicErrorCode.UPSTREAM_UNAVAILABLE;
  }
}

function repairCode(reason: RepairErrorReason): PublicErrorCode {
  switch (reason) {
    case RepairErrorReason.INVALID_REPORT:
      return PublicErrorCode.BAD_USER_INPUT;
    case RepairErrorReason.MODEL_NOT_ON_NODE:
      return PublicErrorCode.NOT_FOUND;
    case RepairErrorReason.NODE_OFFLINE:
      return PublicErrorCode.UPSTREAM_UNAVAILABLE;
  }
}

function authCode(reason: AuthErrorReason): PublicErrorCode {
  switch (reason) {
    case AuthErrorReason.KEY_MISSING:
    case AuthErrorReason.KEY_MALFORMED:
    case AuthErrorReason.KEY_UNKNOWN:
    case AuthErrorReason.KEY_EXPIRED:
    case AuthErrorReason.KEY_REVOKED:
    case AuthErrorReason.KEY_IN_QUERY_STRING:
    case AuthErrorReason.SESSION_INVALID:
      return PublicErrorCode.UNAUTHENTICATED;
    case AuthErrorReason.ROLE_TOO_LOW:
    case AuthErrorReason.NO_POLICY:
    case AuthErrorReason.ORIGIN_NOT_ALLOWED:
      return PublicErrorCode.FORBIDDEN;
    case AuthErrorReason.INVALID_ARGUMENT:
      return PublicErrorCode.BAD_USER_INPUT;
    case AuthErrorReason.API_KEY_NOT_FOUND:
      return PublicErrorCode.NOT_FOUND;
  }
}

/** HTTP status for REST answers of the same error. */
export function httpStatusOf(code: PublicErrorCode): number {
  switch (code) {
    case PublicErrorCode.BAD_USER_INPUT:
      return 400;
    case PublicErrorCode.UNAUTHENTICATED:
      return 401;
    case PublicErrorCode.FORBIDDEN:
      return 403;
    case PublicErrorCode.NOT_FOUND:
      return 404;
    case PublicErrorCode.CONFLICT:
      return 409;
    case PublicErrorCode.UPSTREAM_UNAVAILABLE:
      return 502;
    case PublicErrorCode.INTERNAL_SERVER_ERROR:
      return 500;
  }
}
