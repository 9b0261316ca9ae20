import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Context } from 'graphql-ws';
import type { Extra } from 'graphql-ws/use/ws';
import type { WebSocket } from 'ws';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { publicCodeOf } from '../errors/error-mapper.js';
import { PublicErrorCode } from '../common/domain-error.js';
import { ApiKeyRole } from './api-key-role.js';
import { AuthBus } from './auth-bus.js';
import { AuthError, AuthErrorReason } from './auth.errors.js';
import { AuthService, requireRole } from './auth.service.js';
import { bearerSecret, credentialOf, refuseKeyInQuery } from './credentials.js';
import { sha256Hex } from './key-material.js';
import { attachPrincipal, attachedPrincipal, type Principal } from './principal.js';

/** graphql-ws close codes (the protocol's own): who are you / you may not. */
const CLOSE_UNAUTHORIZED = 4401;
const CLOSE_FORBIDDEN = 4403;
/** setTimeout's limit; a longer wait is taken in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** As Nest's typings hand it over; `extra` is graphql-ws/use/ws's Extra (the socket and the upgrade request). */
type WsContext = Context<Record<string, unknown> | undefined, unknown>;

/**
 * Authentication of graphql-ws connections: the browser's Origin when the upgrade arrives, then the key in
 * connection_init (`connectionParams.authorization = "Bearer <key>"`) or the session cookie of the upgrade request.
 * Every open socket is tracked by key (and by dashboard session when it came with the cookie), so a revocation or a
 * sign-out (from any replica, through AuthBus) or the key's expiry closes it.
 */
@Injectable()
export class WsAuth {
  private readonly logger = new Logger(WsAuth.name);
  /** Open sockets by `key:<id>` and by `session:<sha256 of the session token>`. */
  private readonly sockets = new Map<string, Set<WebSocket>>();

  constructor(
    private readonly auth: AuthService,
    bus: AuthBus,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    bus.onMessage((message) => {
      if (message.type === 'key-revoked') this.closeAll(`key:${message.keyId}`, 'API key revoked');
      if (message.type === 'session-ended') this.closeAll(`session:${message.tokenHash}`, 'Signed out');
    });
  }

  /** Refuses WebSocket upgrades from browser pages of other origins (cross-site WebSocket hijacking) with a 403. */
  protectUpgrades(server: Server): void {
    server.prependListener('upgrade', (req: IncomingMessage, socket: Duplex) => {
      if (this.originAllowed(req)) return;
      // Later 'upgrade' listeners (graphql-ws) still run; ws gives up on a destroyed socket without answering.
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      socket.destroy();
    });
  }

  /** The graphql-ws server options that authenticate (spread into GraphQLModule's `graphql-ws` options). */
  graphqlWsOptions() {
    return {
      onConnect: (ctx: WsContext) => this.onConnect(ctx),
      context: (ctx: WsContext) => ({ req: (ctx.extra as Extra).request }),
    };
  }

  /** Same origin, no Origin header (not a browser), or one of CORS_ORIGINS. */
  originAllowed(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    if (!origin) return true;
    if (this.config.CORS_ORIGINS.includes(origin)) return true;
    const forwarded = this.config.TRUST_PROXY ? req.headers['x-forwarded-host'] : undefined;
    const host = (typeof forwarded === 'string' ? forwarded.split(',')[0]!.trim() : undefined) ?? req.headers.host;
    try {
      return new URL(origin).host === host;
    } catch {
      return false;
    }
  }

  private async onConnect(ctx: WsContext): Promise<boolean> {
    const { socket, request } = ctx.extra as Extra;
    try {
      if (!this.originAllowed(request)) {
        throw new AuthError(AuthErrorReason.ORIGIN_NOT_ALLOWED, 'This origin may not open WebSockets here');
      }
      // A key in the URL is refused here too: URLs end up in proxies' and servers' logs.
      refuseKeyInQuery(request.url ?? '');
      const { principal, session } = await this.principalOf(ctx.connectionParams, request);
      requireRole(principal, ApiKeyRole.VIEWER);
      attachPrincipal(request, principal);
      this.track(principal, session, socket);
      return true;
    } catch (err) {
      if (!(err instanceof AuthError)) throw err;
      const code = publicCodeOf(err) === PublicErrorCode.UNAUTHENTICATED ? CLOSE_UNAUTHORIZED : CLOSE_FORBIDDEN;
      socket.close(code, closeReason(err.message));
      return false;
    }
  }

  /** Who the socket is, and the sha256 of its session token when the upgrade's cookie said so. */
  private async principalOf(
    params: Record<string, unknown> | undefined,
    request: IncomingMessage,
  ): Promise<{ principal: Principal; session: string | null }> {
    const given = params?.authorization ?? params?.Authorization;
    if (given !== undefined) {
      if (typeof given !== 'string') {
        throw new AuthError(AuthErrorReason.KEY_MALFORMED, 'connectionParams.authorization must be "Bearer <api key>"');
      }
      return { principal: await this.auth.verify({ kind: 'key', secret: bearerSecret(given) }), session: null };
    }
    const credential = credentialOf(request);
    const session = credential?.kind === 'session' ? sha256Hex(credential.token) : null;
    return { principal: attachedPrincipal(request) ?? (await this.auth.verify(credential)), session };
  }

  private track(principal: Principal, session: string | null, socket: WebSocket): void {
    const groups = [principal.keyId && `key:${principal.keyId}`, session && `session:${session}`].filter(
      (g): g is string => Boolean(g),
    );
    let timer: NodeJS.Timeout | null = null;
    if (principal.expiresAt) {
      const expiresAt = principal.expiresAt.getTime();
      const arm = () => {
        const left = expiresAt - Date.now();
        if (left <= 0) return socket.close(CLOSE_UNAUTHORIZED, 'API key expired');
        timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
        timer.unref();
      };
      arm();
    }
    for (const group of groups) {
      let sockets = this.sockets.get(group);
      if (!sockets) this.sockets.set(group, (sockets = new Set()));
      sockets.add(socket);
    }
    socket.once('close', () => {
      if (timer) clearTimeout(timer);
      for (const group of groups) {
        const sockets = this.sockets.get(group);
        sockets?.delete(socket);
        if (sockets?.size === 0) this.sockets.delete(group);
      }
    });
  }

  private closeAll(group: string, reason: string): void {
    const sockets = this.sockets.get(group);
    if (!sockets) return;
    // Never the session token's hash in a log line: only that it was a session.
    const whose = group.startsWith('key:') ? `key ${group.slice(4)}` : 'a dashboard session';
    this.logger.log(`Closing ${sockets.size} WebSocket(s) of ${whose}: ${reason}`);
    for (const socket of sockets) socket.close(CLOSE_UNAUTHORIZED, reason);
  }
}

/** A close reason must fit in 123 bytes. */
function closeReason(message: string): string {
  const buf = Buffer.from(message);
  return buf.length <= 123
    ? message
    : `${buf
        .subarray(0, 120)
        .toString('utf8')
        .replace(/\uFFFD$/, '')}...`;
}
