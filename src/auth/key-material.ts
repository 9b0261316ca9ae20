import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** API keys: `lf_` + 256 random bits (base64url), recognisable in a leaked log or a secret scanner. */
export const API_KEY_PREFIX = 'lf_';
/** Dashboard session tokens (the cookie's value), never accepted as API keys. */
export const SESSION_PREFIX = 'lfs_';
export const SESSION_COOKIE = 'llmfleet_session';

const KEY_BODY = /^[A-Za-z0-9_-]{43}$/;

export function newApiKey(): string {
  return API_KEY_PREFIX + randomBytes(32).toString('base64url');
}

export function newSessionToken(): string {
  return SESSION_PREFIX + randomBytes(32).toString('base64url');
}

export function isApiKeyShaped(value: string): boolean {
  return value.startsWith(API_KEY_PREFIX) && KEY_BODY.test(value.slice(API_KEY_PREFIX.length));
}

export function isSessionTokenShaped(value: string): boolean {
  return value.startsWith(SESSION_PREFIX) && KEY_BODY.test(value.slice(SESSION_PREFIX.length));
}

/** What is stored of a key: its sha256 (the key has 256 random bits, so no salt or slow hash is needed). */
export function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** Constant-time comparison of two hex digests. */
export function digestsEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/** The part of a key shown in listings, enough to tell keys apart, far too little to use. */
export function displayPrefix(key: string): string {
  return key.slice(0, API_KEY_PREFIX.length + 6);
}
