import { createClient, type Client } from 'graphql-ws/client';
import WebSocket from 'ws';
import type { Connection } from './config.js';
import { CliError, ExitCode } from './errors.js';

interface GqlError {
  message: string;
  extensions?: { code?: string; reason?: string };
}

const REQUEST_TIMEOUT_MS = 30_000;

/** Network failures that mean "nothing answers there", as opposed to a server that answered badly. */
function unreachable(url: string, err: unknown): CliError {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const why = cause?.code ?? cause?.message ?? (err as Error).message;
  return new CliError(
    `cannot reach the control plane at ${url} (${why}): is it running? set LLMFLEET_URL or run llmfleet login --url URL`,
    ExitCode.UNREACHABLE,
  );
}

/** Maps a GraphQL error to a one-line message and an exit code; the server's message is kept as it is. */
export function errorFromGraphql(error: GqlError): CliError {
  const code = error.extensions?.code;
  switch (code) {
    case 'UNAUTHENTICATED':
      return new CliError(`${error.message}: run llmfleet login`, ExitCode.AUTH);
    case 'FORBIDDEN':
      // A gated Hub repository is FORBIDDEN too, with its own reason: that is not about the CLI's key.
      if (error.extensions?.reason && error.extensions.reason !== 'ROLE_TOO_LOW')
        return new CliError(error.message, ExitCode.FAILED);
      // The auth layer's refusal names the role needed and the key's own; anything else gets the hint.
      if (error.extensions?.reason === 'ROLE_TOO_LOW') return new CliError(error.message, ExitCode.AUTH);
      return new CliError(`${error.message}: this needs a key with a higher role`, ExitCode.AUTH);
    case 'NOT_FOUND':
      return new CliError(error.message, ExitCode.NOT_FOUND);
    case 'BAD_USER_INPUT':
    case 'GRAPHQL_VALIDATION_FAILED':
      return new CliError(error.message, ExitCode.USAGE);
    case 'CONFLICT':
      return new CliError(error.message, ExitCode.FAILED);
    case undefined:
    default:
      return new CliError(`server error: ${error.message}`, ExitCode.SERVER);
  }
}

/** A GraphQL client of one control plane: HTTP for queries and mutations, graphql-ws for subscriptions. */
export class FleetClient {
  private ws: Client | null = null;
  private connectedOnce = false;

  constructor(readonly connection: Connection) {}

  private authHeaders(): Record<string, string> {
    return this.connection.apiKey ? { authorization: `Bearer ${this.connection.apiKey}` } : {};
  }

  /** Runs an operation; any error becomes a CliError (the first GraphQL error decides the exit code). */
  async request<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    const { data, errors } = await this.raw<T>(query, variables);
    if (errors?.length) throw errorFromGraphql(errors[0]!);
    if (data === undefined || data === null) throw new CliError('server error: empty answer', ExitCode.SERVER);
    return data;
  }

  /** The answer as sent: data and errors side by side (for callers that tolerate some errors). */
  async raw<T>(
    query: string,
    variables: Record<string, unknown> = {},
  ): Promise<{ data?: T | null; errors?: GqlError[] }> {
    const { url } = this.connection;
    let res: Response;
    try {
      res = await fetch(`${url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', ...this.authHeaders() },
        body: JSON.stringify({ query, variables }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      throw unreachable(url, err);
    }
    const text = await res.text().catch(() => '');
    let body: { data?: T | null; errors?: GqlError[] } | undefined;
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      body = undefined;
    }
    if (body?.errors?.length || body?.data) return body;
    if (res.status === 401)
      throw new CliError(`the control plane rejected the API key: run llmfleet login`, ExitCode.AUTH);
    if (res.status === 403) throw new CliError(`this key may not do that: use a key with a higher role`, ExitCode.AUTH);
    if (res.status === 404)
      throw new CliError(`no llmfleet GraphQL API at ${url}/graphql: check LLMFLEET_URL`, ExitCode.UNREACHABLE);
    throw new CliError(`server error: HTTP ${res.status} from ${url}/graphql`, ExitCode.SERVER);
  }

  /** The shared graphql-ws connection; it reconnects on its own while a long watch runs. */
  private socket(): Client {
    if (this.ws) return this.ws;
    const url = `${this.connection.url.replace(/^http/, 'ws')}/graphql`;
    this.ws = createClient({
      url,
      webSocketImpl: WebSocket,
      connectionParams: this.connection.apiKey ? { authorization: `Bearer ${this.connection.apiKey}` } : {},
      lazy: true,
      keepAlive: 10_000,
      retryAttempts: Infinity,
      // Once connected, a restart or a network blip is worth another try; a refused key, or a server never reached, is not.
      shouldRetry: (event) => this.connectedOnce && !isAuthClose(event),
      retryWait: async (retries) => new Promise((r) => setTimeout(r, Math.min(5_000, 250 * 2 ** retries))),
      on: { connected: () => (this.connectedOnce = true) },
    });
    return this.ws;
  }

  /** Subscribes; `onError` receives a CliError when the subscription cannot go on. Returns the unsubscribe. */
  subscribe<T>(
    query: string,
    variables: Record<string, unknown>,
    onData: (data: T) => void,
    onError: (err: CliError) => void,
  ): () => void {
    return this.socket().subscribe<T>(
      { query, variables },
      {
        next: (msg) => {
          if (msg.errors?.length) onError(errorFromGraphql(msg.errors[0] as GqlError));
          else if (msg.data) onData(msg.data);
        },
        error: (err) => onError(this.socketError(err)),
        complete: () => undefined,
      },
    );
  }

  /** Calls `listener` on every (re)connection, so a watcher can re-read what it may have missed. */
  onConnected(listener: () => void): () => void {
    return this.socket().on('connected', listener);
  }

  private socketError(err: unknown): CliError {
    if (Array.isArray(err) && err.length) return errorFromGraphql(err[0] as GqlError);
    if (isAuthClose(err))
      return new CliError(`the control plane refused the subscription's key: run llmfleet login`, ExitCode.AUTH);
    const code = (err as { code?: number } | null)?.code;
    if (err instanceof Error || code === 1006 || (err as { type?: string } | null)?.type === 'error')
      return unreachable(this.connection.url, err);
    const reason = (err as { reason?: string }).reason || `closed with code ${code}`;
    return new CliError(`subscription ended: ${reason}`, ExitCode.SERVER);
  }

  async close(): Promise<void> {
    await this.ws?.dispose();
    this.ws = null;
  }
}

function isAuthClose(event: unknown): boolean {
  const code = (event as { code?: number } | null)?.code;
  return code === 4401 || code === 4403;
}
