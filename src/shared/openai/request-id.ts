import { randomUUID } from 'node:crypto';

export const REQUEST_ID_HEADER = 'x-request-id';

/** What a client may choose as its request id: echoed in a response header and logged, so nothing exotic. */
const ACCEPTABLE_ID = /^[A-Za-z0-9._:+/=@-]{1,200}$/;

/** The request's own id when it sent an acceptable one, else a new one. */
export function requestIdOf(header: string | string[] | undefined): string {
  const given = Array.isArray(header) ? header[0] : header;
  return given !== undefined && ACCEPTABLE_ID.test(given) ? given : `req_${randomUUID().replaceAll('-', '')}`;
}
